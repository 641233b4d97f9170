import { InvalidInputError } from '../ports/errors';

/** An hour in UTC written as `YYYY-MM-DDTHH`: the unit of arrival (raw) and event (curated) partitions. */
export type Hour = string;

const HOUR_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})$/;
const HOUR_MS = 3_600_000;

/** Milliseconds since the epoch at the start of `hour`; throws InvalidInputError on a malformed or impossible hour. */
export function hourStartMs(hour: string): number {
  const match = HOUR_PATTERN.exec(hour);
  if (!match) throw new InvalidInputError(`invalid hour "${hour}": expected YYYY-MM-DDTHH (UTC), e.g. 2021-07-12T05`);
  const [, y, mo, d, h] = match.map(Number) as [number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h);
  if (formatHour(ms) !== hour) throw new InvalidInputError(`invalid hour "${hour}": no such date or hour`);
  return ms;
}

/** The hour containing the instant `ms` (epoch milliseconds). */
export function formatHour(ms: number): Hour {
  return new Date(ms).toISOString().slice(0, 13);
}

export function addHours(hour: Hour, count: number): Hour {
  return formatHour(hourStartMs(hour) + count * HOUR_MS);
}

/** The hours from `from` (inclusive) to `to` (exclusive), in order. */
export function hoursBetween(from: Hour, to: Hour): Hour[] {
  const start = hourStartMs(from);
  const end = hourStartMs(to);
  if (start > end) throw new InvalidInputError(`--from ${from} is after --to ${to}`);
  const hours: Hour[] = [];
  for (let ms = start; ms < end; ms += HOUR_MS) hours.push(formatHour(ms));
  return hours;
}

/** The prefix under which Firehose delivers the objects that arrived in `hour`: `raw/YYYY/MM/DD/HH/`. */
export function rawPrefix(hour: Hour): string {
  hourStartMs(hour);
  return `raw/${hour.slice(0, 4)}/${hour.slice(5, 7)}/${hour.slice(8, 10)}/${hour.slice(11, 13)}/`;
}

/** The arrival hour of a raw object key (`raw/YYYY/MM/DD/HH/...`), or undefined for any other key. */
export function arrivalHourOfKey(key: string): Hour | undefined {
  const match = /^raw\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\//.exec(key);
  return match ? `${match[1]}-${match[2]}-${match[3]}T${match[4]}` : undefined;
}

export const HOUR_IN_MS = HOUR_MS;
