/**
 * A model of what a lake must hold after raw objects were merged, and the checks that compare a real
 * lake with it. Shared by the property tests and the concurrency tests.
 *
 * The model is deliberately simple: a valid copy of an event is identified by where it came from
 * (arrival hour, object key, record number). The copy that arrived first in that order is the one the
 * lake must hold, exactly once, in the partition of its event hour.
 */
import { promises as fs } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { EVENTS_TABLE, REJECTS_TABLE, type RejectLine } from '../../tasks/curated/layout';
import type { MergeResult } from '../../tasks/merge/run';
import { hourStartMs } from '../../tasks/shared/hours';
import type { createLake } from '../tasks/merge/lake-fixture';

export type Lake = ReturnType<typeof createLake>;

export const HOUR_US = 3_600_000_000;

/** A record as it is written into a raw object, before its key and record number are known. */
export type RawItem =
  | {
      readonly kind: 'valid';
      readonly clickId: string;
      /** What the curated row must show when this copy wins. */
      readonly eventMicros: number;
      readonly userId: string | null;
      readonly eventName: string;
      readonly pixelId: string | null;
      readonly text: string;
    }
  | {
      readonly kind: 'bad';
      readonly reason: string;
      readonly text: string;
      /** Truncated records and junk must be followed by a newline: a cut record is only isolated by one. */
      readonly needsNewline: boolean;
    };

/** Where an item goes: its arrival hour, one of a few objects of that hour, and an ordering slot within the object. */
export interface Placement {
  readonly hour: string;
  /** 0..9: objects of one hour are named by minute (object × 6), so their keys sort in this order. */
  readonly object: number;
  readonly slot: number;
  /** Whether the next record of the object follows with no separator (`}{`). */
  readonly glue: boolean;
}

export interface PlacedItem {
  readonly item: RawItem;
  readonly hour: string;
  readonly key: string;
  readonly recordNumber: number;
}

/** The records of every raw object, with their keys and record numbers, after delivery. */
export interface RawData {
  readonly placed: readonly PlacedItem[];
  readonly objects: number;
}

/**
 * Lays the items out into objects (ordered by slot, then by position in `items`), writes each object
 * into `lakes` (identical bytes in each), and returns each item with its key and record number.
 */
export async function deliverAll(lakes: readonly Lake[], items: readonly { item: RawItem; at: Placement }[]): Promise<RawData> {
  const groups = new Map<string, { hour: string; object: number; members: { item: RawItem; at: Placement; order: number }[] }>();
  items.forEach(({ item, at }, order) => {
    const id = `${at.hour}/${at.object}`;
    const group = groups.get(id) ?? { hour: at.hour, object: at.object, members: [] };
    group.members.push({ item, at, order });
    groups.set(id, group);
  });
  const placed: PlacedItem[] = [];
  for (const group of groups.values()) {
    group.members.sort((a, b) => a.at.slot - b.at.slot || a.order - b.order);
    let text = '';
    group.members.forEach(({ item, at }, index) => {
      text += item.text;
      if (index < group.members.length - 1) text += (item.kind === 'bad' && item.needsNewline) || !at.glue ? '\n' : '';
    });
    const name = `${String(group.object * 6).padStart(2, '0')}-00`;
    let key = '';
    for (const lake of lakes) key = await lake.deliver(group.hour, name, [text]);
    group.members.forEach(({ item }, index) => placed.push({ item, hour: group.hour, key, recordNumber: index + 1 }));
  }
  return { placed, objects: groups.size };
}

/** The copy of each click_id that arrived first (arrival hour, then object key, then record number). */
export function expectedWinners(raw: RawData): Map<string, PlacedItem> {
  const winners = new Map<string, PlacedItem>();
  for (const copy of raw.placed) {
    if (copy.item.kind !== 'valid') continue;
    const best = winners.get(copy.item.clickId);
    if (!best || compareArrival(copy, best) < 0) winners.set(copy.item.clickId, copy);
  }
  return winners;
}

function compareArrival(a: PlacedItem, b: PlacedItem): number {
  return hourStartMs(a.hour) - hourStartMs(b.hour) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || a.recordNumber - b.recordNumber;
}

/** Integer microseconds of a DuckDB timestamp printed as VARCHAR (`YYYY-MM-DD HH:MM:SS[.f]`). */
export function timestampMicros(text: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!match) throw new Error(`not a DuckDB timestamp: "${text}"`);
  const [, y, mo, d, h, mi, s, f] = match;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  return ms * 1000 + Number((f ?? '').padEnd(6, '0'));
}

/** The UTC hour ('YYYY-MM-DDTHH') of an instant in microseconds. */
export function hourOfMicros(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 13);
}

/** Formats an instant in the shapes the contract accepts. */
export function formatTimestamp(micros: number, format: 'space' | 'isoZ' | 'offset'): string {
  const offsetMinutes = format === 'offset' ? 150 : 0;
  const shifted = new Date(Math.floor(micros / 1000) + offsetMinutes * 60_000).toISOString();
  const fraction = micros % 1_000_000 === 0 ? '' : `.${String(micros % 1_000_000).padStart(6, '0')}`;
  const base = `${shifted.slice(0, 10)}${format === 'space' ? ' ' : 'T'}${shifted.slice(11, 19)}${fraction}`;
  return format === 'space' ? base : format === 'isoZ' ? `${base}Z` : `${base}+02:30`;
}

export type CuratedFiles = Awaited<ReturnType<Lake['curatedFiles']>>;

/**
 * Checks the curated files against the expected winners:
 * (a) every valid event exactly once, with the content of its earliest copy, and nothing else;
 * (b) every row in the partition (and under the prefix) of its event hour;
 * (c) rows of every file sorted by (event_time, user_id, click_id), nulls last as DuckDB sorts;
 * and that the catalog's record counts match the files.
 */
export async function checkCurated(lake: Lake, winners: ReadonlyMap<string, PlacedItem>): Promise<CuratedFiles> {
  const files = await lake.curatedFiles();
  // (a) exactly once, checked first: a duplicate or a lost event is the clearest message.
  const seen = new Map<string, number>();
  for (const file of files) for (const row of file.rows) seen.set(row.click_id as string, (seen.get(row.click_id as string) ?? 0) + 1);
  const wrongCounts = [...new Set([...winners.keys(), ...seen.keys()])]
    .sort()
    .filter((clickId) => seen.get(clickId) !== 1)
    .map((clickId) => `${clickId}: ${seen.get(clickId) ?? 0} rows`);
  expect(wrongCounts).toEqual([]);

  for (const file of files) {
    expect(file.key.startsWith(`curated/events/${file.partition}/`)).toBe(true);
    let previous: Record<string, unknown> | undefined;
    for (const row of file.rows) {
      const clickId = row.click_id as string;
      const micros = timestampMicros(row.event_time as string);
      const hour = hourOfMicros(micros);
      // (b) the partition of its event hour
      expect({ clickId, partition: file.partition, dt: row.dt, hr: row.hr }).toEqual({
        clickId,
        partition: `dt=${hour.slice(0, 10)}/hr=${hour.slice(11, 13)}`,
        dt: hour.slice(0, 10),
        hr: hour.slice(11, 13),
      });
      // (c) sorted within the file
      if (previous) {
        const order = compareSortKey(previous, row);
        if (order > 0) throw new Error(`file ${file.key} is not sorted: ${describeRow(previous)} comes before ${describeRow(row)}`);
      }
      previous = row;
      // (a) the earliest copy's content
      const winner = winners.get(clickId);
      if (!winner || winner.item.kind !== 'valid') throw new Error(`row ${describeRow(row)} in ${file.key} is no valid event of the input`);
      expect({
        clickId,
        source_key: row.source_key,
        record_number: row.record_number,
        arrival_hour: row.arrival_hour,
        event_micros: micros,
        user_id: row.user_id,
        event_name: row.event_name,
      }).toEqual({
        clickId,
        source_key: winner.key,
        record_number: winner.recordNumber,
        arrival_hour: `${winner.hour.slice(0, 10)} ${winner.hour.slice(11, 13)}:00:00`,
        event_micros: winner.item.eventMicros,
        user_id: winner.item.userId,
        event_name: winner.item.eventName,
      });
    }
  }
  // The catalog's counts describe the files (compaction relies on them).
  const snapshot = await lake.catalog.snapshot();
  const partitions = snapshot.tables[EVENTS_TABLE]?.partitions ?? {};
  const byKey = new Map(files.map((file) => [file.key, file.rows.length]));
  for (const [partition, state] of Object.entries(partitions)) {
    const rows = state.files.reduce((sum, file) => sum + (byKey.get(file.key) ?? 0), 0);
    expect({ partition, files: state.files.map((file) => [file.key, file.records]) }).toEqual({ partition, files: state.files.map((file) => [file.key, byKey.get(file.key)]) });
    expect({ partition, rows: state.properties.rows }).toEqual({ partition, rows });
  }
  return files;
}

/** DuckDB's ORDER BY event_time, user_id, click_id (ascending, nulls last). */
function compareSortKey(a: Record<string, unknown>, b: Record<string, unknown>): number {
  return (
    timestampMicros(a.event_time as string) - timestampMicros(b.event_time as string) ||
    compareNullable(a.user_id as string | null, b.user_id as string | null) ||
    compareNullable(a.click_id as string, b.click_id as string)
  );
}

function compareNullable(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function describeRow(row: Record<string, unknown>): string {
  return `(${String(row.event_time)}, ${String(row.user_id)}, ${String(row.click_id)})`;
}

/** Every line of every rejects file the catalog lists. */
export async function rejectLines(lake: Lake): Promise<RejectLine[]> {
  const snapshot = await lake.catalog.snapshot();
  const lines: RejectLine[] = [];
  for (const state of Object.values(snapshot.tables[REJECTS_TABLE]?.partitions ?? {})) {
    for (const file of state.files) {
      const body = (await lake.store.get(file.key)).toString('utf8');
      for (const line of body.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as RejectLine);
    }
  }
  return lines;
}

/** (d) The rejects files hold every bad record once, with its reason and source, and nothing else. */
export async function checkRejects(lake: Lake, raw: RawData): Promise<void> {
  const describe = (line: { source_key: string; record_number: number; reason: string; arrival_hour: string; record: string | null }) =>
    `${line.source_key}#${line.record_number} ${line.reason} @${line.arrival_hour}: ${line.record ?? ''}`;
  const expected = raw.placed
    .filter((placed) => placed.item.kind === 'bad')
    // The reader trims blanks at the end of a record (before the newline that ends it): a record cut after a space loses that space.
    .map((placed) => describe({ source_key: placed.key, record_number: placed.recordNumber, reason: (placed.item as { reason: string }).reason, arrival_hour: placed.hour, record: placed.item.text.replace(/[ \t\r]+$/, '') }))
    .sort();
  const actual = (await rejectLines(lake)).map(describe).sort();
  expect(actual).toEqual(expected);
}

/** (d) The counts of each merge add up, and their sums match the input and the lake. */
export function checkAccounting(results: readonly MergeResult[], raw: RawData, rowsInLake: number): void {
  for (const result of results) {
    expect({ hour: result.hour, sum: result.accepted + result.rejected + result.duplicates }).toEqual({ hour: result.hour, sum: result.recordsRead });
  }
  const sum = (pick: (result: MergeResult) => number) => results.reduce((total, result) => total + pick(result), 0);
  const reasons: Record<string, number> = {};
  for (const placed of raw.placed) if (placed.item.kind === 'bad') reasons[placed.item.reason] = (reasons[placed.item.reason] ?? 0) + 1;
  const merged: Record<string, number> = {};
  for (const result of results) for (const [reason, n] of Object.entries(result.rejectedByReason)) merged[reason] = (merged[reason] ?? 0) + n;
  expect({
    recordsRead: sum((result) => result.recordsRead),
    objects: sum((result) => result.objects),
    rejected: sum((result) => result.rejected),
    rejectedByReason: merged,
    acceptedMinusSuperseded: sum((result) => result.accepted - result.supersededRows),
  }).toEqual({
    recordsRead: raw.placed.length,
    objects: raw.objects,
    rejected: Object.values(reasons).reduce((total, n) => total + n, 0),
    rejectedByReason: reasons,
    acceptedMinusSuperseded: rowsInLake,
  });
}

/** (e) Every curated row, every column, as sorted JSON lines: the lake's content, whatever its file layout. */
export async function curatedContent(lake: Lake): Promise<string[]> {
  const snapshot = await lake.catalog.snapshot();
  const keys = Object.values(snapshot.tables[EVENTS_TABLE]?.partitions ?? {}).flatMap((state) => state.files.map((file) => file.key));
  if (keys.length === 0) return [];
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    const list = keys.map((key) => `'${lake.store.locate(key).replaceAll("'", "''")}'`).join(', ');
    const reader = await db.runAndReadAll(`SELECT * FROM read_parquet([${list}], hive_partitioning = false, union_by_name = true)`);
    return reader
      .getRowObjectsJson()
      .map((row) => JSON.stringify(row))
      .sort();
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** (a) The fields `curatedFiles` does not read (pixel_id) also come from the earliest copy. */
export function checkWinnerPixels(content: readonly string[], winners: ReadonlyMap<string, PlacedItem>): void {
  const actual = content.map((line) => JSON.parse(line) as { click_id: string; pixel_id: string | null }).map((row) => `${row.click_id}: ${row.pixel_id}`);
  const expected = [...winners.values()].map((winner) => (winner.item.kind === 'valid' ? `${winner.item.clickId}: ${winner.item.pixelId}` : ''));
  expect(actual.sort()).toEqual(expected.sort());
}

export async function removeLake(lake: Lake): Promise<void> {
  await fs.rm(lake.root, { recursive: true, force: true });
}
