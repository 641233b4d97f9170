import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { prepareDuckDbFor } from '../adapters/duckdb-store-access';
import { sqlString } from '../shared/sql-text';
import type { Catalog, CatalogChange, CatalogSnapshot, CommitRecord, DataFile, PartitionState } from '../ports/catalog';
import { CommitConflictError } from '../ports/errors';
import type { ObjectStore } from '../ports/object-store';
import {
  deltaFileKey,
  EVENT_COLUMNS,
  EVENTS_TABLE,
  executionNameOf,
  hourOfPartitionKey,
  initialLocation,
  RAW_LEDGER_TABLE,
  REJECTS_TABLE,
  rewrittenFileKey,
  USERS_DIMENSION_KEY,
  type CuratedFile,
} from '../curated/layout';
import { asEnum, createEnumTypes, ENUM_SORTED_COLUMNS, isEnumSorted, sortedAsText, type EnumSortedColumn } from '../curated/enum-sort';
import type { GeoLocator } from '../enrich/geo';
import { commitWithRetry } from '../shared/commit-with-retry';
import { HOUR_IN_MS, hourStartMs } from '../shared/hours';
import { settleAll } from '../shared/settle-all';
import { DEFAULT_MAX_RECORD_BYTES } from '../shared/raw-records';
import { checkNoCopiesIndexedSince, clickIndexChanges, DEFAULT_DEDUP_HORIZON_HOURS, partitionsHoldingCopies, writeClickIndex, type ClickIndexRead } from './click-index';
import { objectsToMerge } from './ledger';
import { STAGED_COLUMNS, STAGED_CSV_OPTIONS } from './stage-object';
import { stageObjects, type StagedInput } from './stage-objects';
import { stageOnThisThread, type Staging } from './stage-pool';
import { DEFAULT_VALIDATION_RULES, type ValidationRules } from './validate-record';

export interface MergeInput {
  readonly hour: string;
  readonly executionId: string;
}

export interface MergePorts {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly geo: () => Promise<GeoLocator>;
  /** Starts the staging of one merge: where raw objects are parsed and validated; one at a time on this thread by default. */
  readonly staging?: () => Staging;
}

export interface MergeSettings {
  readonly rules: ValidationRules;
  readonly maxRecordBytes: number;
  /** Whole re-runs of the merge after a concurrent commit touched the same events. */
  readonly attempts: number;
  readonly duckdbMemoryLimit: string;
  /**
   * How many arrival hours apart two copies of a click_id may arrive and still be found when the later
   * one carries another event hour (copies in the same event hour are always found).
   */
  readonly dedupHorizonHours: number;
}

export const DEFAULT_MERGE_SETTINGS: MergeSettings = {
  rules: DEFAULT_VALIDATION_RULES,
  maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
  attempts: 4,
  // Enough for an hour of 3.6 M events without spilling: 2 GB took as long and a third more memory.
  duckdbMemoryLimit: '1.5GB',
  dedupHorizonHours: DEFAULT_DEDUP_HORIZON_HOURS,
};

export interface MergeResult {
  readonly hour: string;
  readonly objects: number;
  readonly recordsRead: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly rejectedByReason: Record<string, number>;
  /** Copies of a click_id that lost to an earlier arrival, in this run or already merged. */
  readonly duplicates: number;
  /** Accepted events whose event hour is before their arrival hour. */
  readonly lateEvents: number;
  /** Already merged rows replaced by a copy of the same click_id that arrived earlier. */
  readonly supersededRows: number;
  readonly partitionsTouched: string[];
  /**
   * What the compaction step should consider: the partitions touched now and by the earlier merges of
   * this hour, so that a rerun after a crash between merge and compaction still compacts them.
   */
  readonly partitionsToCompact: string[];
  readonly filesWritten: number;
  readonly catalogVersion: number;
  readonly notes: string[];
}

/** Thrown inside a commit attempt when a concurrent commit invalidated this merge's deduplication. */
class MergeInvalidatedError extends Error {
  override readonly name = 'MergeInvalidatedError';
}

/** DuckDB connections writing partition files at once. */
const PARALLEL_WRITES = 3;

/** A partition with fewer than 1/MINOR_SHARE of an hour's rows is written from a table of the small partitions. */
const MINOR_SHARE = 8;

/**
 * Merges the raw objects of one arrival hour (and late deliveries into the 24 before it) into the
 * event-time partitions: validated, enriched, deduplicated by click_id (the earliest arrival wins),
 * written as one sorted file per touched partition, and committed with the raw ledger and the rejects
 * in one atomic catalog commit. A rerun finds its objects in the ledger and changes nothing.
 */
export async function runMerge(input: MergeInput, ports: MergePorts, settings: MergeSettings = DEFAULT_MERGE_SETTINGS): Promise<MergeResult> {
  hourStartMs(input.hour);
  const token = { executionId: input.executionId, hour: input.hour, step: 'merge' };
  const applied = await ports.catalog.findCommit(token);
  if (applied) return resultOfCommit(applied, input.hour);

  for (let attempt = 1; ; attempt += 1) {
    try {
      return await mergeOnce(input, ports, settings, token);
    } catch (error) {
      if (!(error instanceof MergeInvalidatedError) || attempt >= settings.attempts) {
        if (error instanceof MergeInvalidatedError) {
          throw new CommitConflictError(`merge of ${input.hour} was invalidated by concurrent commits ${attempt} times: ${error.message}`, { cause: error });
        }
        throw error;
      }
    }
  }
}

async function mergeOnce(input: MergeInput, ports: MergePorts, settings: MergeSettings, token: { executionId: string; hour: string; step: string }): Promise<MergeResult> {
  const { store, catalog } = ports;
  const executionName = executionNameOf(input.executionId);
  const snapshot = await catalog.snapshot();
  const objects = await objectsToMerge(store, snapshot, input.hour);
  const staging = ports.staging?.() ?? { stage: stageOnThisThread, parallelism: 1 };
  const staged = await stageObjects(objects, store, { rules: settings.rules, maxRecordBytes: settings.maxRecordBytes, ...staging }).finally(() => staging.release?.());
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: settings.duckdbMemoryLimit, temp_directory: path.join(store.scratchDir, `duckdb-${randomUUID()}`) });
  const db = await instance.connect();
  try {
    await prepareDuckDbFor(store, db);
    const notes: string[] = [];
    await loadCandidates(db, staged);
    const duplicatesInRun = staged.valid - (await count(db, 'SELECT count(*) FROM candidates'));
    const touched = (await rows(db, 'SELECT DISTINCT partition FROM candidates ORDER BY 1')).map((row) => row[0] as string);
    const events = snapshot.tables[EVENTS_TABLE]?.partitions ?? {};
    // Earlier copies live in the candidates' own partitions, or, re-stamped, where the click index says.
    const index = await partitionsHoldingCopies(db, store, snapshot, settings.dedupHorizonHours, settings.rules);
    if (index.trimmed.length > 0) {
      const [first, last] = [index.trimmed[0], index.trimmed.at(-1)];
      notes.push(`the click index of ${first === last ? `arrival hour ${first}` : `arrival hours ${first}..${last}`} was trimmed: looked for copies in every event partition its entries could name (${index.partitions.length} in all)`);
    }
    const checked = [...new Set([...touched, ...index.partitions])].sort();
    const pathToKey = new Map<string, string>();
    for (const partition of checked) for (const file of events[partition]?.files ?? []) pathToKey.set(store.locate(file.key), file.key);

    const lostToExisting = await dropCandidatesThatLost(db, [...pathToKey.keys()]);
    const accepted = await count(db, 'SELECT count(*) FROM candidates');
    const withRows = new Map(
      (await rows(db, `SELECT partition, count(*), count(*) FILTER (WHERE arrival_hour > date_trunc('hour', event_time)) FROM candidates GROUP BY 1`)).map(([partition, n, late]) => [
        partition as string,
        { rows: Number(n), late: Number(late) },
      ]),
    );
    if (!(await loadUsers(db, store))) notes.push(`no users dimension (${USERS_DIMENSION_KEY}): user_name is null`);
    await loadLocations(db, await ports.geo());
    await createSortTypes(db);

    const written = new Map<string, { added: CuratedFile[]; removed: Set<string>; rows: number; lateRows: number }>();
    let filesWritten = 0;
    const deltas: { partition: string; rows: number; late: number }[] = [];
    for (const partition of touched) {
      written.set(partition, { added: [], removed: new Set(), rows: 0, lateRows: 0 });
      const counts = withRows.get(partition);
      if (counts) deltas.push({ partition, ...counts });
    }
    // Largest first, on a few connections at once: most partitions of an hour are small late deltas,
    // whose writes are short and mostly waiting on one thread each.
    deltas.sort((a, b) => b.rows - a.rows);
    const sourceOf = await splitMinorPartitions(db, deltas);
    const writers = [db];
    for (let i = 1; i < PARALLEL_WRITES; i += 1) writers.push(await instance.connect());
    try {
      await settleAll(
        writers.map(async (writer) => {
          for (let next = deltas.shift(); next !== undefined; next = deltas.shift()) {
            const { partition, late } = next;
            const location = events[partition]?.location ?? initialLocation(partition);
            const kind = (events[partition]?.files.length ?? 0) === 0 ? 'base' : 'delta';
            const query = `SELECT * FROM ${sourceOf(partition)} WHERE ${eventHourFilter(partition)}`;
            const delta = await writeSorted(writer, store, query, deltaFileKey(location, executionName));
            filesWritten += 1;
            written.set(partition, { added: [{ ...delta, kind }], removed: new Set(), rows: delta.records, lateRows: late });
          }
        }),
      );
    } finally {
      for (const writer of writers.slice(1)) writer.closeSync();
    }
    // Only the delta writes read it: free its rows before the rewrites and the click index.
    await db.run('DROP TABLE IF EXISTS minor_candidates');

    const supersededRows = await count(db, 'SELECT count(*) FROM superseded');
    for (const [index, [filePath, partition]] of (await rows(db, 'SELECT DISTINCT file, partition FROM superseded ORDER BY 1')).entries()) {
      const key = pathToKey.get(filePath as string) as string;
      const state = events[partition as string] as PartitionState;
      const original = state.files.find((file) => file.key === key) as CuratedFile;
      const rewritten = await writeSorted(
        db,
        store,
        `SELECT * FROM read_parquet(${sqlString(filePath as string)}, hive_partitioning = false) WHERE click_id NOT IN (SELECT click_id FROM superseded WHERE file = ${sqlString(filePath as string)})`,
        rewrittenFileKey(state.location, executionName, index),
      );
      filesWritten += 1;
      const removedLate = await count(db, `SELECT count(*) FROM superseded WHERE file = ${sqlString(filePath as string)} AND arrival_hour > date_trunc('hour', event_time)`);
      const entry = written.get(partition as string) ?? { added: [], removed: new Set<string>(), rows: 0, lateRows: 0 };
      written.set(partition as string, entry);
      entry.removed.add(key);
      if (rewritten.records > 0) entry.added.push({ ...rewritten, kind: original.kind });
      entry.rows -= original.records - rewritten.records;
      entry.lateRows -= removedLate;
    }

    const indexed = await writeClickIndex(db, store, executionName);
    filesWritten += indexed.size;

    const partitionsTouched = checked.filter((partition) => {
      const entry = written.get(partition);
      return entry !== undefined && (entry.added.length > 0 || entry.removed.size > 0);
    });
    const result: Omit<MergeResult, 'catalogVersion'> = {
      hour: input.hour,
      objects: staged.objects.length,
      recordsRead: staged.recordsRead,
      accepted,
      rejected: Object.values(staged.rejectedByReason).reduce((sum, n) => sum + n, 0),
      rejectedByReason: staged.rejectedByReason,
      duplicates: duplicatesInRun + lostToExisting,
      lateEvents: await count(db, `SELECT count(*) FROM candidates WHERE arrival_hour > date_trunc('hour', event_time)`),
      supersededRows,
      partitionsTouched,
      partitionsToCompact: [...new Set([...partitionsTouched, ...previouslyTouched(snapshot, input.hour)])].sort(),
      filesWritten,
      notes,
    };
    const readVersions = new Map(checked.map((partition) => [partition, events[partition]]));
    const commit = await commitWithRetry(catalog, token, async (current) => {
      await revalidate(db, store, current, readVersions, index.read, staged);
      return [...buildChanges(current, input, staged, written, result), ...clickIndexChanges(current, indexed, index.read.hashCheck, new Date())];
    });
    return { ...result, catalogVersion: commit?.version ?? snapshot.version };
  } finally {
    db.closeSync();
    instance.closeSync();
    await fs.rm(staged.file, { force: true });
  }
}

/** Loads the staged events into DuckDB and keeps the first arrival of each click_id. */
async function loadCandidates(db: DuckDBConnection, staged: StagedInput): Promise<void> {
  await db.run('CREATE TABLE objects (object INTEGER, source_key VARCHAR, arrival_hour TIMESTAMP)');
  for (const object of staged.objects) {
    await db.run('INSERT INTO objects VALUES ($1, $2, make_timestamp($3::BIGINT))', [object.index, object.key, hourStartMs(object.arrivalHour) * 1000]);
  }
  const columns = Object.entries(STAGED_COLUMNS)
    .map(([name, type]) => `${name}: '${type}'`)
    .join(', ');
  const source = staged.valid === 0 ? `(SELECT * FROM (SELECT ${Object.entries(STAGED_COLUMNS).map(([name, type]) => `CAST(NULL AS ${type}) AS ${name}`).join(', ')}) WHERE false)` : `read_csv(${sqlString(staged.file)}, columns = {${columns}}, ${STAGED_CSV_OPTIONS})`;
  await db.run(`
    CREATE TABLE candidates AS
    WITH staged AS (
      SELECT s.click_id, make_timestamp(s.event_us) AS event_time, make_timestamp(s.sent_us) AS sent_time, o.arrival_hour,
             make_timestamp(s.derived_us) AS derived_time, s.event_name, s.user_id, s.pixel_id, s.product_id, s.price,
             s.percent_viewed, s.time_on_data, s.extra::JSON AS extra, s.user_ip, o.source_key, s.record_number,
             strftime(make_timestamp(s.event_us), 'dt=%Y-%m-%d/hr=%H') AS partition
      FROM ${source} s JOIN objects o USING (object)
    )
    SELECT * EXCLUDE (partition), partition[4:13] AS dt, partition[18:19] AS hr, partition FROM staged`);
  // Copies are rare: only the click_ids seen more than once are ranked, instead of sorting the whole hour by click_id.
  await db.run(`
    DELETE FROM candidates WHERE rowid IN (
      SELECT rowid FROM candidates
      WHERE click_id IN (SELECT click_id FROM candidates GROUP BY click_id HAVING count(*) > 1)
      QUALIFY row_number() OVER (PARTITION BY click_id ORDER BY arrival_hour, source_key, record_number) > 1)`);
}

/**
 * The location and truncated prefix of every client address among the candidates, looked up once
 * per address (a client sends many events from one), for the join that writes the curated rows.
 */
async function loadLocations(db: DuckDBConnection, geo: GeoLocator): Promise<void> {
  await db.run('CREATE TABLE locations (user_ip VARCHAR, ip_prefix VARCHAR, country VARCHAR, region VARCHAR, city VARCHAR)');
  const addresses = await rows(db, 'SELECT DISTINCT user_ip FROM candidates WHERE user_ip IS NOT NULL');
  if (addresses.length === 0) return;
  const appender = await db.createAppender('locations');
  try {
    for (const [address] of addresses) {
      const location = geo.enrich(address as string);
      appender.appendVarchar(address as string);
      for (const value of [location.ipPrefix, location.country, location.region, location.city]) {
        if (value === null) appender.appendNull();
        else appender.appendVarchar(value);
      }
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/**
 * Removes the candidates whose click_id was already merged from an earlier (or the same) arrival,
 * and records in `superseded` the merged rows that a candidate beats: they arrived later, so the
 * candidate replaces them. Returns how many candidates lost.
 */
async function dropCandidatesThatLost(db: DuckDBConnection, existingFiles: readonly string[]): Promise<number> {
  if (existingFiles.length === 0) {
    await db.run('CREATE TABLE superseded (click_id VARCHAR, arrival_hour TIMESTAMP, event_time TIMESTAMP, file VARCHAR, partition VARCHAR)');
    return 0;
  }
  const files = existingFiles.map(sqlString).join(', ');
  await db.run(`
    CREATE TABLE existing AS
    SELECT click_id, arrival_hour, source_key, record_number, event_time, filename AS file, 'dt=' || dt || '/hr=' || hr AS partition
    FROM read_parquet([${files}], filename = true, hive_partitioning = false)
    WHERE click_id IN (SELECT click_id FROM candidates)`);
  const before = await count(db, 'SELECT count(*) FROM candidates');
  await db.run(`
    DELETE FROM candidates c WHERE EXISTS (
      SELECT 1 FROM existing e WHERE e.click_id = c.click_id AND (
        e.arrival_hour < c.arrival_hour OR (e.arrival_hour = c.arrival_hour AND (
          e.source_key < c.source_key OR (e.source_key = c.source_key AND e.record_number <= c.record_number)))))`);
  await db.run('CREATE TABLE superseded AS SELECT e.click_id, e.arrival_hour, e.event_time, e.file, e.partition FROM existing e JOIN candidates c USING (click_id)');
  return before - (await count(db, 'SELECT count(*) FROM candidates'));
}

/** The prefix of the merge's ENUM types (see enum-sort.ts); its DuckDB instance is its own. */
const ENUM_PREFIX = 'merge_';

/**
 * ENUM types for the sort of ENUM_SORTED_COLUMNS, over the values of the merge's small tables, where
 * all of those columns' values come from: the raw objects, the locations and the users dimension.
 */
async function createSortTypes(db: DuckDBConnection): Promise<void> {
  const valuesOf: Record<EnumSortedColumn, string> = {
    source_key: 'SELECT source_key FROM objects',
    ip_prefix: 'SELECT ip_prefix FROM locations',
    country: 'SELECT country FROM locations',
    region: 'SELECT region FROM locations',
    city: 'SELECT city FROM locations',
    user_name: 'SELECT user_name FROM users',
  };
  await createEnumTypes(db, ENUM_PREFIX, valuesOf);
}

/**
 * Where each partition's write reads its curated rows: a relation of the curated columns (the
 * candidates joined with the users dimension and the locations). A partition of at least
 * 1/MINOR_SHARE of the rows reads a view over `candidates`; the rest read `minor_candidates`, joined
 * and filled in one scan and ordered by event time, so that each of their writes skips to its own hour
 * instead of scanning every candidate and building the joins' hash tables again (an hour with late
 * events has dozens of small partitions next to one large one).
 */
async function splitMinorPartitions(db: DuckDBConnection, partitions: readonly { partition: string; rows: number }[]): Promise<(partition: string) => string> {
  const curated = `SELECT ${selectList()} FROM candidates LEFT JOIN users USING (user_id) LEFT JOIN locations USING (user_ip)`;
  await db.run(`CREATE VIEW curated_candidates AS ${curated}`);
  const total = partitions.reduce((sum, { rows }) => sum + rows, 0);
  const minor = partitions.filter(({ rows }) => rows * MINOR_SHARE < total).map(({ partition }) => partition);
  if (minor.length < 2) return () => 'curated_candidates';
  await db.run(`CREATE TABLE minor_candidates AS ${curated} WHERE partition IN (${minor.map(sqlString).join(', ')}) ORDER BY event_time`);
  const isMinor = new Set(minor);
  return (partition) => (isMinor.has(partition) ? 'minor_candidates' : 'curated_candidates');
}

/** The rows of one partition, as a range of event times: a zone-map filter on a table ordered by event time. */
function eventHourFilter(partition: string): string {
  const start = hourStartMs(hourOfPartitionKey(partition));
  return `event_time >= make_timestamp(${start * 1000}) AND event_time < make_timestamp(${(start + HOUR_IN_MS) * 1000})`;
}

/** Loads the users dimension for the user_name join; false when the lake has none yet. */
async function loadUsers(db: DuckDBConnection, store: ObjectStore): Promise<boolean> {
  if (!(await store.exists(USERS_DIMENSION_KEY))) {
    await db.run('CREATE TABLE users (user_id VARCHAR, user_name VARCHAR)');
    return false;
  }
  await db.run(`
    CREATE TABLE users AS
    SELECT CAST(user_id AS VARCHAR) AS user_id, any_value(CAST(name AS VARCHAR)) AS user_name
    FROM read_json(${sqlString(store.locate(USERS_DIMENSION_KEY))}, format = 'newline_delimited')
    GROUP BY 1`);
  return true;
}

/**
 * Checks a fresh snapshot against what this merge read. Its raw objects must still be unmerged, the
 * files it rewrote must still be live, and neither files added meanwhile to its partitions nor click
 * index entries added meanwhile may hold any of its click_ids; otherwise the deduplication is stale
 * and the merge starts over.
 */
async function revalidate(
  db: DuckDBConnection,
  store: ObjectStore,
  current: CatalogSnapshot,
  readVersions: ReadonlyMap<string, PartitionState | undefined>,
  index: ClickIndexRead,
  staged: StagedInput,
): Promise<void> {
  const ledger = current.tables[RAW_LEDGER_TABLE]?.partitions ?? {};
  for (const object of staged.objects) {
    if (ledger[object.arrivalHour]?.files.some((file) => file.key === object.key)) {
      throw new MergeInvalidatedError(`raw object ${object.key} was merged by another run`);
    }
  }
  const superseded = new Set((await rows(db, 'SELECT DISTINCT file FROM superseded')).map((row) => row[0] as string));
  for (const [partition, read] of readVersions) {
    const now = current.tables[EVENTS_TABLE]?.partitions[partition];
    if (now?.version === read?.version) continue;
    const live = new Set((now?.files ?? []).map((file) => store.locate(file.key)));
    for (const file of superseded) if (!live.has(file)) throw new MergeInvalidatedError(`file ${file} changed while it was being rewritten`);
    const seen = new Set((read?.files ?? []).map((file) => file.key));
    const added = (now?.files ?? []).filter((file) => !seen.has(file.key)).map((file) => sqlString(store.locate(file.key)));
    if (added.length === 0) continue;
    const clashes = await count(db, `SELECT count(*) FROM read_parquet([${added.join(', ')}], hive_partitioning = false) WHERE click_id IN (SELECT click_id FROM candidates WHERE partition = '${partition}')`);
    if (clashes > 0) throw new MergeInvalidatedError(`${clashes} of its events were committed to ${partition} by another run`);
  }
  await checkNoCopiesIndexedSince(db, store, current, index, (message) => new MergeInvalidatedError(message));
}

function buildChanges(
  current: CatalogSnapshot,
  input: MergeInput,
  staged: StagedInput,
  written: ReadonlyMap<string, { added: CuratedFile[]; removed: Set<string>; rows: number; lateRows: number }>,
  result: Omit<MergeResult, 'catalogVersion'>,
): CatalogChange[] {
  const changes: CatalogChange[] = [];
  const eventsTable = current.tables[EVENTS_TABLE];
  if (!eventsTable || JSON.stringify(eventsTable.columns) !== JSON.stringify(curatedColumns())) {
    changes.push({ kind: 'setColumns', table: EVENTS_TABLE, columns: curatedColumns() });
  }
  const lastCommit = { executionId: input.executionId, step: 'merge', at: new Date().toISOString() };
  for (const [partition, entry] of written) {
    if (entry.added.length === 0 && entry.removed.size === 0) continue;
    const now = eventsTable?.partitions[partition];
    const properties = now?.properties ?? {};
    changes.push({
      kind: 'putPartition',
      table: EVENTS_TABLE,
      partition,
      location: now?.location ?? initialLocation(partition),
      files: [...(now?.files ?? []).filter((file) => !entry.removed.has(file.key)), ...entry.added],
      properties: {
        ...properties,
        rows: Number(properties.rows ?? 0) + entry.rows,
        lateRows: Number(properties.lateRows ?? 0) + entry.lateRows,
        lastCommit,
      },
    });
  }
  const objectsByHour = new Map<string, DataFile[]>();
  for (const object of staged.objects) {
    const files = objectsByHour.get(object.arrivalHour) ?? [];
    files.push({ key: object.key, size: object.size, records: object.records });
    objectsByHour.set(object.arrivalHour, files);
  }
  // The run's own hour is marked as run even when it had no objects, so later deliveries into it are picked up.
  if (!objectsByHour.has(input.hour)) objectsByHour.set(input.hour, []);
  for (const [hour, files] of objectsByHour) {
    const now = current.tables[RAW_LEDGER_TABLE]?.partitions[hour];
    changes.push({
      kind: 'putPartition',
      table: RAW_LEDGER_TABLE,
      partition: hour,
      location: `raw/${hour.slice(0, 4)}/${hour.slice(5, 7)}/${hour.slice(8, 10)}/${hour.slice(11, 13)}/`,
      files: [...(now?.files ?? []), ...files],
      properties: hour === input.hour ? { ...(now?.properties ?? {}), lastMerge: { ...result, executionId: input.executionId } } : (now?.properties ?? {}),
    });
  }
  for (const [hour, files] of staged.rejectFiles) {
    const now = current.tables[REJECTS_TABLE]?.partitions[hour];
    const keys = new Set(files.map((file) => file.key));
    changes.push({
      kind: 'putPartition',
      table: REJECTS_TABLE,
      partition: hour,
      location: `rejects/arrival_hour=${hour}/`,
      files: [...(now?.files ?? []).filter((file) => !keys.has(file.key)), ...files],
      properties: {},
    });
  }
  return changes;
}

/** The result a merge recorded in the ledger, for a retry that finds its commit already applied. */
function resultOfCommit(commit: CommitRecord, hour: string): MergeResult {
  for (const change of commit.changes) {
    if (change.kind === 'putPartition' && change.table === RAW_LEDGER_TABLE && change.partition === hour) {
      const { executionId: _executionId, ...result } = change.properties.lastMerge as MergeResult & { executionId: string };
      return { ...result, catalogVersion: commit.version };
    }
  }
  throw new Error(`commit ${commit.version} of merge ${hour} has no ledger entry`);
}

/** The partitions the merges of `hour` recorded so far. */
function previouslyTouched(snapshot: CatalogSnapshot, hour: string): string[] {
  const lastMerge = snapshot.tables[RAW_LEDGER_TABLE]?.partitions[hour]?.properties.lastMerge as Partial<MergeResult> | undefined;
  return lastMerge?.partitionsToCompact ?? lastMerge?.partitionsTouched ?? [];
}

function curatedColumns() {
  return EVENT_COLUMNS.map(({ name, type, comment }) => (comment ? { name, type, comment } : { name, type }));
}

/** The curated columns, those of ENUM_SORTED_COLUMNS as their ENUM types. */
function selectList(): string {
  return EVENT_COLUMNS.map(({ name }) => (isEnumSorted(name) ? asEnum(name, ENUM_PREFIX) : name)).join(', ');
}

/** Writes the rows of `query` (the curated columns), sorted, as Parquet in scratch space and moves the file under `key`. */
async function writeSorted(db: DuckDBConnection, store: ObjectStore, query: string, key: string): Promise<CuratedFile> {
  const scratch = path.join(store.scratchDir, `${randomUUID()}.parquet`);
  const copy = await db.run(`COPY (${sortedAsText(query, ENUM_SORTED_COLUMNS)}) TO ${sqlString(scratch)} (FORMAT parquet, COMPRESSION zstd)`);
  const records = Number(copy.rowsChanged);
  const { size } = await fs.stat(scratch);
  await store.putFile(key, scratch);
  return { key, size, records, kind: 'delta' };
}

async function rows(db: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await db.runAndReadAll(sql)).getRows() as unknown[][];
}

async function count(db: DuckDBConnection, sql: string): Promise<number> {
  return Number((await rows(db, sql))[0]?.[0] ?? 0);
}

