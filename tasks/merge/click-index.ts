import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../shared/sql-text';
import type { CatalogChange, CatalogSnapshot, DataFile, PartitionState } from '../ports/catalog';
import type { ObjectStore } from '../ports/object-store';
import { CLICK_INDEX_PREFIX, CLICK_INDEX_TABLE, eventPartitionsOverlapping } from '../curated/layout';
import { addHours, HOUR_IN_MS, hourStartMs, type Hour } from '../shared/hours';
import type { ValidationRules } from './validate-record';

/**
 * The click index: for every click_id a merge kept, a 64-bit hash of it and the event partition it
 * went to, in one partition per arrival hour. A later copy of a click_id is usually in the same event
 * partition, where the merge finds it by reading that partition's click_id column; a copy a client
 * re-stamped into another event hour is found only through this index, which names the other
 * partitions worth reading. It is a hint: the partitions stay the truth, so a stale entry (a row later
 * superseded) or a hash collision costs a read, never a wrong answer.
 *
 * DuckDB's `hash()` is used (25x faster than md5 here) although DuckDB does not promise it stable
 * across versions: each file records the hash of a fixed text when it was written, and a file whose
 * record differs from today's engine is read whole (every partition it names is checked), so an
 * upgrade costs reads, not duplicates.
 *
 * The vacuum trims the partitions no normal run reads any more (`clickIndexTrims`), and marks them
 * trimmed. A merge whose window meets a trimmed partition (a rerun or backfill of an old hour) cannot
 * trust the index there, and reads every event partition the trimmed entries could have named: slow,
 * but it finds every copy.
 */

/** A copy is looked for among the click_ids that arrived up to this many hours before or after it. */
export const DEFAULT_DEDUP_HORIZON_HOURS = 24;

const HASH_PROBE = 'clickstream-lakehouse click index';

/** An index partition's property: when its last entries were written (ISO 8601). */
const INDEXED_AT = 'indexedAt';
/** An index partition's property: when the vacuum removed its entries (ISO 8601). */
const TRIMMED_AT = 'trimmedAt';

/** The default of the vacuum's `clickIndexRetentionHours`: reruns and backfills of the last 30 days find copies through the index. */
export const DEFAULT_CLICK_INDEX_RETENTION_HOURS = 30 * 24;

/** What a merge read of the index: to revalidate against at commit time. */
export interface ClickIndexRead {
  readonly hashCheck: string;
  /** The index partitions (arrival hours) in the window, as read; undefined where none existed yet. */
  readonly partitions: ReadonlyMap<Hour, PartitionState | undefined>;
}

/**
 * The event partitions that may hold an earlier merged copy of a candidate: those the index names
 * for the candidates' click_ids, over the arrival hours within `horizonHours` of the candidates' own.
 * The table `candidates` must exist (click_id, arrival_hour).
 */
export async function partitionsHoldingCopies(
  db: DuckDBConnection,
  store: ObjectStore,
  snapshot: CatalogSnapshot,
  horizonHours: number,
  rules: Pick<ValidationRules, 'lateLimitMs' | 'futureToleranceMs'>,
): Promise<{ partitions: string[]; read: ClickIndexRead; trimmed: Hour[] }> {
  const hashCheck = await currentHashCheck(db);
  const arrivals = await arrivalHoursOfCandidates(db);
  const window = new Map<Hour, PartitionState | undefined>();
  const index = snapshot.tables[CLICK_INDEX_TABLE]?.partitions ?? {};
  for (const arrival of arrivals) {
    for (let offset = -horizonHours; offset <= horizonHours; offset += 1) {
      const hour = addHours(arrival, offset);
      if (!window.has(hour)) window.set(hour, index[hour]);
    }
  }
  const files = [...window.values()].flatMap((partition) => (partition ? partition.files.map((file) => ({ file, partition })) : []));
  const partitions = await holdersIn(db, store, files, hashCheck);
  const trimmed = [...window].filter(([, partition]) => partition?.properties[TRIMMED_AT] !== undefined).map(([hour]) => hour).sort();
  if (trimmed.length > 0) partitions.push(...eventPartitionsAcceptedIn(snapshot, trimmed[0]!, trimmed.at(-1)!, rules));
  return { partitions: [...new Set(partitions)].sort(), read: { hashCheck, partitions: window }, trimmed };
}

/** The event partitions of `snapshot` that events arriving in [first, last] arrival hours can be in, as validation accepts them. */
function eventPartitionsAcceptedIn(snapshot: CatalogSnapshot, first: Hour, last: Hour, rules: Pick<ValidationRules, 'lateLimitMs' | 'futureToleranceMs'>): string[] {
  // The latest accepted event time is included: the end is one millisecond past it.
  const partitions = eventPartitionsOverlapping(snapshot, hourStartMs(first) - rules.lateLimitMs, hourStartMs(last) + HOUR_IN_MS + rules.futureToleranceMs + 1);
  return Object.keys(partitions).filter((key) => partitions[key]!.files.length > 0);
}

/**
 * Throws (through `invalidated`) when an index file committed since `read` names one of the
 * candidates: a concurrent merge kept a copy, so this merge's deduplication is stale.
 */
export async function checkNoCopiesIndexedSince(
  db: DuckDBConnection,
  store: ObjectStore,
  current: CatalogSnapshot,
  read: ClickIndexRead,
  invalidated: (message: string) => Error,
): Promise<void> {
  const index = current.tables[CLICK_INDEX_TABLE]?.partitions ?? {};
  const added: { file: DataFile; partition: PartitionState }[] = [];
  for (const [hour, before] of read.partitions) {
    const now = index[hour];
    if (!now || now.version === before?.version) continue;
    const seen = new Set((before?.files ?? []).map((file) => file.key));
    for (const file of now.files) if (!seen.has(file.key)) added.push({ file, partition: now });
  }
  if (added.length === 0) return;
  const holders = await holdersIn(db, store, added, read.hashCheck);
  if (holders.length > 0) throw invalidated(`copies of its events were committed to ${holders.join(', ')} by another run`);
}

/**
 * Writes the index entries of the kept candidates, one file per arrival hour among them, and returns
 * them by arrival hour; their catalog change comes from `clickIndexChanges`. Rows are not sorted:
 * lookups are joins, which row-group statistics of random hashes would not prune anyway.
 */
export async function writeClickIndex(db: DuckDBConnection, store: ObjectStore, executionName: string): Promise<Map<Hour, DataFile>> {
  const written = new Map<Hour, DataFile>();
  const arrivals = await arrivalHoursOfCandidates(db);
  for (const arrival of arrivals) {
    const scratch = path.join(store.scratchDir, `${randomUUID()}.parquet`);
    const copy = await db.run(
      `COPY (SELECT hash(click_id) AS click_hash, partition FROM candidates WHERE strftime(arrival_hour, '%Y-%m-%dT%H') = ${sqlString(arrival)})
       TO ${sqlString(scratch)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const { size } = await fs.stat(scratch);
    const key = `${locationOf(arrival)}${executionName}.parquet`;
    await store.putFile(key, scratch);
    written.set(arrival, { key, size, records: Number(copy.rowsChanged) });
  }
  return written;
}

/**
 * The catalog changes adding `written` (from writeClickIndex, at `indexedAt`) to the index of
 * `current`. A trimmed partition stays marked: its older entries are still gone.
 */
export function clickIndexChanges(current: CatalogSnapshot, written: ReadonlyMap<Hour, DataFile>, hashCheck: string, indexedAt: Date): CatalogChange[] {
  return [...written].map(([hour, file]) => {
    const now = current.tables[CLICK_INDEX_TABLE]?.partitions[hour];
    const hashChecks = { ...((now?.properties.hashChecks as Record<string, string> | undefined) ?? {}), [file.key]: hashCheck };
    return {
      kind: 'putPartition',
      table: CLICK_INDEX_TABLE,
      partition: hour,
      location: locationOf(hour),
      // A rerun by the same execution writes the same key: it replaces its own entry.
      files: [...(now?.files ?? []).filter((existing) => existing.key !== file.key), file],
      properties: { ...(now?.properties ?? {}), hashChecks, [INDEXED_AT]: indexedAt.toISOString() },
    };
  });
}

/**
 * The changes trimming, at `now`, every index partition whose arrival hour ended and whose entries
 * were last written more than `retentionHours` ago: its files leave the catalog (the vacuum deletes
 * them after its own retention) and the partition stays, marked trimmed, for later merges to see.
 * A partition written before `indexedAt` was recorded counts from its arrival hour alone.
 */
export function clickIndexTrims(snapshot: CatalogSnapshot, now: Date, retentionHours: number): CatalogChange[] {
  const cutoff = now.getTime() - retentionHours * HOUR_IN_MS;
  const changes: CatalogChange[] = [];
  for (const [hour, partition] of Object.entries(snapshot.tables[CLICK_INDEX_TABLE]?.partitions ?? {})) {
    if (partition.files.length === 0) continue;
    const indexedAt = Date.parse(String(partition.properties[INDEXED_AT] ?? ''));
    if (Math.max(hourStartMs(hour) + HOUR_IN_MS, Number.isNaN(indexedAt) ? -Infinity : indexedAt) > cutoff) continue;
    const { hashChecks: _named, ...properties } = partition.properties;
    changes.push({
      kind: 'putPartition',
      table: CLICK_INDEX_TABLE,
      partition: hour,
      location: partition.location,
      files: [],
      properties: { ...properties, [TRIMMED_AT]: now.toISOString() },
    });
  }
  return changes;
}

/** The hash of a fixed text under today's engine, recorded with every index file it writes. */
async function currentHashCheck(db: DuckDBConnection): Promise<string> {
  return String((await db.runAndReadAll(`SELECT hash(${sqlString(HASH_PROBE)})`)).getRows()[0]?.[0]);
}

/**
 * The event partitions that `files` name for the candidates' click_ids: by hash where a file was
 * written with today's hash, and every partition it names where not.
 */
async function holdersIn(
  db: DuckDBConnection,
  store: ObjectStore,
  files: readonly { file: DataFile; partition: PartitionState }[],
  hashCheck: string,
): Promise<string[]> {
  const same: string[] = [];
  const foreign: string[] = [];
  for (const { file, partition } of files) {
    const check = (partition.properties.hashChecks as Record<string, string> | undefined)?.[file.key];
    (check === hashCheck ? same : foreign).push(sqlString(store.locate(file.key)));
  }
  const queries: string[] = [];
  if (same.length > 0) queries.push(`SELECT partition FROM read_parquet([${same.join(', ')}]) WHERE click_hash IN (SELECT hash(click_id) FROM candidates)`);
  if (foreign.length > 0) queries.push(`SELECT partition FROM read_parquet([${foreign.join(', ')}])`);
  if (queries.length === 0) return [];
  return (await db.runAndReadAll(`SELECT DISTINCT partition FROM (${queries.join(' UNION ALL ')}) ORDER BY 1`)).getRows().map((row) => row[0] as string);
}

async function arrivalHoursOfCandidates(db: DuckDBConnection): Promise<Hour[]> {
  return (await db.runAndReadAll(`SELECT DISTINCT strftime(arrival_hour, '%Y-%m-%dT%H') FROM candidates ORDER BY 1`)).getRows().map((row) => row[0] as Hour);
}

function locationOf(hour: Hour): string {
  return `${CLICK_INDEX_PREFIX}arrival_hour=${hour}/`;
}
