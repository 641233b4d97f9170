import type { ClickRecord } from './click-record';
import type { Random } from './random';

/**
 * Each the expected fraction of records, in [0, 1]. Late, clock-ahead and extra-field faults are drawn per
 * session (one device, one clock, one app version), the others per record.
 */
export interface FaultRates {
  /** Sessions a client buffered offline and sent minutes to days later. */
  late: number;
  /** Records sent twice (same bytes, same click_id), sometimes into a later arrival hour. */
  duplicate: number;
  /** Records broken beyond use: truncated JSON, a wrong type, or a missing required field. */
  malformed: number;
  /** Records whose `additional_data` is a string holding the JSON object. */
  stringifiedAdditionalData: number;
  /** Records from a new client version with unknown fields; only from the middle of the range on. */
  extraFields: number;
  /** Sessions whose client clock runs minutes to hours ahead of the server. */
  clockAhead: number;
}

export const DEFAULT_FAULT_RATES: Readonly<FaultRates> = {
  late: 0.03,
  duplicate: 0.02,
  malformed: 0.005,
  stringifiedAdditionalData: 0.05,
  extraFields: 0.03,
  clockAhead: 0.005,
};

export const MALFORMATION_KINDS = ['truncated_json', 'wrong_type', 'missing_field'] as const;
export type MalformationKind = (typeof MALFORMATION_KINDS)[number];

const MINUTE_US = 60_000_000;
const HOUR_US = 60 * MINUTE_US;
const DAY_US = 24 * HOUR_US;

/** The most a late session's events precede their sending. */
export const MAX_LATENESS_US = 3 * DAY_US;

/**
 * How long before sending a late session ended: most offline spells are short, some last days.
 * Never under 2 minutes, so late records stand apart from on-time ones (sent within seconds).
 */
export function sampleLatenessUs(random: Random, maxUs: number): number {
  const upTo = (us: number) => Math.min(us, maxUs);
  const kind = random.float();
  if (kind < 0.5) return random.between(2 * MINUTE_US, upTo(HOUR_US));
  if (kind < 0.85) return random.between(upTo(HOUR_US), upTo(24 * HOUR_US));
  return random.between(upTo(DAY_US), maxUs);
}

/**
 * How far a client clock runs ahead: 70 % by 1 to 50 minutes, which the pipeline accepts, and 30 % by
 * 2.5 to 8 hours, beyond the 1-hour tolerance after the arrival hour ends, which it rejects.
 */
export function sampleClockSkewUs(random: Random): number {
  return random.chance(0.7) ? random.between(MINUTE_US, 50 * MINUTE_US) : random.between(2.5 * HOUR_US, 8 * HOUR_US);
}

/** When a client retries a send whose acknowledgement it lost: seconds later, or hours later on reconnect. */
export function sampleDuplicateDelayUs(random: Random): number {
  return random.chance(0.5) ? random.logUniform(1_000_000, 5 * MINUTE_US) : random.between(HOUR_US, 6 * HOUR_US);
}

/** The line of a record broken in the way `kind` says; none of them passes validation. */
export function malformedLine(random: Random, record: ClickRecord, kind: MalformationKind): string {
  switch (kind) {
    case 'truncated_json': {
      // A proper prefix of a JSON object never parses: the object is not closed.
      const line = JSON.stringify(record);
      return line.slice(0, random.int(1, line.length - 2));
    }
    case 'wrong_type':
      return JSON.stringify(withWrongType(random, record));
    case 'missing_field': {
      const broken: Record<string, unknown> = { ...record };
      delete broken[random.pick(['click_id', 'timestamp', 'event_name'])];
      return JSON.stringify(broken);
    }
  }
}

function withWrongType(random: Random, record: ClickRecord): Record<string, unknown> {
  const broken: Record<string, unknown> = { ...record };
  if (random.chance(0.5)) {
    // A client that sends epoch seconds, as Python's time.time() gives them.
    broken.timestamp = Date.parse(`${record.timestamp.replace(' ', 'T')}Z`) / 1000;
  } else {
    broken.click_id = parseInt(record.click_id.slice(0, 12), 16);
  }
  return broken;
}

const APP_VERSIONS = ['5.0.0', '5.0.1', '5.1.0'];
const REFERRERS = ['https://www.google.com/', 'https://www.instagram.com/', 'https://t.co/', 'android-app://com.google.android.gm/'];
const SCREENS = [
  { width: 390, height: 844 },
  { width: 412, height: 915 },
  { width: 1920, height: 1080 },
  { width: 1440, height: 900 },
];

/** Fields a newer client sends that the pipeline has never seen (schema drift). */
export function extraFields(random: Random): Record<string, unknown> {
  const fields: Record<string, unknown> = { app_version: random.pick(APP_VERSIONS) };
  if (random.chance(0.5)) fields.referrer = random.pick(REFERRERS);
  fields.screen = random.pick(SCREENS);
  return fields;
}
