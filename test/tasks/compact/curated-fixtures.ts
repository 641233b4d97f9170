import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { EVENT_COLUMNS, EVENTS_TABLE, hourOfPartitionKey, type CuratedFile } from '../../../tasks/curated/layout';
import type { Catalog, CommitRecord, CommitToken, PartitionState } from '../../../tasks/ports/catalog';
import type { ObjectStore } from '../../../tasks/ports/object-store';

/**
 * Curated Parquet files built by hand, with the contract's columns and types, for the compaction and
 * vacuum tests. Event times fall on whole seconds of the first minute of the hour, so that many rows
 * tie on event_time (and user_id) and the sort's tie-breakers matter.
 */
export interface FileSpec {
  /** Distinguishes click ids between files: rows are `c-<tag>-<n>`. */
  readonly tag: string;
  readonly rows: number;
  /** Write the rows in a scrambled order instead of sorted (merges write sorted files; compaction must not rely on it). */
  readonly scrambled?: boolean;
  /** Extra SQL columns beyond the contract, e.g. `{ foo: "'bar'" }`. */
  readonly extraColumns?: Readonly<Record<string, string>>;
}

export function expressionsFor(partition: string, tag: string): Record<string, string> {
  const hour = hourOfPartitionKey(partition);
  const start = `TIMESTAMP '${hour.slice(0, 10)} ${hour.slice(11, 13)}:00:00'`;
  return {
    click_id: `'c-${tag}-' || lpad(i::VARCHAR, 7, '0')`,
    event_time: `${start} + to_seconds((hash(i, '${tag}') % 60)::BIGINT)`,
    sent_time: `${start} + to_seconds((hash(i, '${tag}') % 60)::BIGINT + 1)`,
    arrival_hour: start,
    derived_time: `${start} + to_seconds((hash(i, '${tag}') % 60)::BIGINT + 2)`,
    event_name: `['ViewContent', 'AddToCart', 'Purchase', 'PageView'][(i % 4) + 1]`,
    user_id: `CASE WHEN i % 11 = 0 THEN NULL ELSE 'u-' || (hash(i, 'u${tag}') % 7) END`,
    pixel_id: `'px-' || (i % 3)`,
    product_id: `i % 50`,
    price: `(i % 1000) / 10.0`,
    percent_viewed: `(i % 101)::DOUBLE`,
    time_on_data: `i % 300`,
    extra: `CASE WHEN i % 5 = 0 THEN '{"campaign":"c' || (i % 3) || '"}' ELSE '{}' END`,
    ip_prefix: `'10.0.' || (i % 256) || '.0/24'`,
    country: `CASE WHEN i % 2 = 0 THEN 'DE' ELSE NULL END`,
    region: `NULL`,
    city: `NULL`,
    user_name: `NULL`,
    source_key: `'raw/2021/07/12/05/events-${tag}'`,
    record_number: `i + 1`,
    dt: `'${hour.slice(0, 10)}'`,
    hr: `'${hour.slice(11, 13)}'`,
  };
}

/** Writes one curated file for `partition` with DuckDB and moves it into the store at `key`. */
export async function writeCuratedFile(
  connection: DuckDBConnection,
  store: ObjectStore,
  partition: string,
  key: string,
  spec: FileSpec,
  kind: CuratedFile['kind'] = 'delta',
): Promise<CuratedFile> {
  const expressions = expressionsFor(partition, spec.tag);
  const select = [
    ...EVENT_COLUMNS.map((column) => `CAST(${expressions[column.name]} AS ${column.duckdb}) AS ${column.name}`),
    ...Object.entries(spec.extraColumns ?? {}).map(([name, expression]) => `${expression} AS ${name}`),
  ].join(', ');
  const order = spec.scrambled ? `hash(i, 'scramble')` : 'event_time, user_id, click_id';
  await fs.mkdir(store.scratchDir, { recursive: true });
  const local = path.join(store.scratchDir, `fixture-${randomUUID()}.parquet`);
  await connection.run(`COPY (SELECT ${select} FROM range(${spec.rows}) t(i) ORDER BY ${order}) TO '${local}' (FORMAT parquet)`);
  const size = (await fs.stat(local)).size;
  await store.putFile(key, local);
  return { key, size, records: spec.rows, kind };
}

let fixtureCommits = 0;

/** Commits `partition` of table events as exactly these files (a putPartition), as a merge would. */
export async function putEventsPartition(
  catalog: Catalog,
  partition: string,
  location: string,
  files: readonly CuratedFile[],
  properties: Record<string, unknown> = {},
  token: CommitToken = { executionId: `fixture-${++fixtureCommits}`, hour: '2021-07-12T05', step: 'merge' },
): Promise<CommitRecord> {
  const snapshot = await catalog.snapshot();
  return catalog.commit(snapshot.version, token, [{ kind: 'putPartition', table: EVENTS_TABLE, partition, location, files, properties }]);
}

export async function eventsPartition(catalog: Catalog, partition: string): Promise<PartitionState> {
  const state = (await catalog.snapshot()).tables[EVENTS_TABLE]?.partitions[partition];
  if (!state) throw new Error(`no partition ${partition}`);
  return state;
}

export function parquetList(store: ObjectStore, keys: readonly string[]): string {
  return `read_parquet([${keys.map((key) => `'${store.locate(key)}'`).join(', ')}], hive_partitioning = false, union_by_name = true)`;
}

/** Rows in one set of files and not in the other, counted both ways with EXCEPT ALL (a multiset difference). */
export async function multisetDifference(connection: DuckDBConnection, store: ObjectStore, left: readonly string[], right: readonly string[]): Promise<number> {
  const columns = EVENT_COLUMNS.map((column) => column.name).join(', ');
  const a = `SELECT ${columns} FROM ${parquetList(store, left)}`;
  const b = `SELECT ${columns} FROM ${parquetList(store, right)}`;
  const reader = await connection.runAndReadAll(`SELECT count(*) AS n FROM ((${a} EXCEPT ALL ${b}) UNION ALL (${b} EXCEPT ALL ${a}))`);
  return Number(reader.getRowObjectsJson()[0]!.n);
}

export interface SortKey {
  readonly event_time: string;
  readonly user_id: string | null;
  readonly click_id: string;
}

/** The sort keys of a file's rows in file order. */
export async function sortKeysOf(connection: DuckDBConnection, store: ObjectStore, key: string): Promise<SortKey[]> {
  const reader = await connection.runAndReadAll(
    `SELECT strftime(event_time, '%Y-%m-%dT%H:%M:%S.%f') AS event_time, user_id, click_id FROM read_parquet('${store.locate(key)}', hive_partitioning = false, file_row_number = true) ORDER BY file_row_number`,
  );
  return reader.getRowObjectsJson() as unknown as SortKey[];
}

/** EVENT_SORT_ORDER written independently of DuckDB: event time, then user id (nulls last), then click id. */
export function compareSortKeys(a: SortKey, b: SortKey): number {
  if (a.event_time !== b.event_time) return a.event_time < b.event_time ? -1 : 1;
  if (a.user_id !== b.user_id) {
    if (a.user_id === null) return 1;
    if (b.user_id === null) return -1;
    return a.user_id < b.user_id ? -1 : 1;
  }
  return a.click_id < b.click_id ? -1 : a.click_id > b.click_id ? 1 : 0;
}

export function isSorted(keys: readonly SortKey[]): boolean {
  return keys.every((key, index) => index === 0 || compareSortKeys(keys[index - 1]!, key) <= 0);
}

/** Every key under `prefix` in the store. */
export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}
