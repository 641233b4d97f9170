import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { FsCatalog } from '../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { EVENTS_TABLE } from '../../../tasks/curated/layout';
import { GeoLocator } from '../../../tasks/enrich/geo';
import { runMerge, type MergeResult } from '../../../tasks/merge/run';
import { rawPrefix } from '../../../tasks/shared/hours';

let geo: Promise<GeoLocator> | undefined;

/** A temporary lake with the real directory store, catalog and geolocation database. */
export function createLake() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'merge-'));
  const store = new FsObjectStore(root);
  const catalog = new FsCatalog(store);
  const ports = { store, catalog, geo: () => (geo ??= GeoLocator.open()) };
  let runs = 0;
  return {
    root,
    store,
    catalog,
    ports,
    /** Writes one Firehose object into arrival hour `hour`, records joined by `separator`. */
    async deliver(hour: string, name: string, records: readonly (object | string)[], separator = '\n'): Promise<string> {
      const text = records.map((record) => (typeof record === 'string' ? record : JSON.stringify(record))).join(separator);
      const key = `${rawPrefix(hour)}clickstream-1-${hour.slice(0, 10)}-${hour.slice(11, 13)}-${name}-00-0000.gz`;
      await store.put(key, gzipSync(Buffer.from(`${text}\n`)));
      return key;
    },
    async merge(hour: string): Promise<MergeResult> {
      runs += 1;
      return runMerge({ hour, executionId: `arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:hourly-${hour}-run${runs}` }, ports);
    },
    /** Every curated row, per file, in file order, as the catalog's current snapshot lists them. */
    async curatedFiles(): Promise<{ partition: string; key: string; rows: Record<string, unknown>[]; schema: Record<string, string>; size: number; plainSize: number }[]> {
      const snapshot = await catalog.snapshot();
      const partitions = snapshot.tables[EVENTS_TABLE]?.partitions ?? {};
      const instance = await DuckDBInstance.create(':memory:');
      const db = await instance.connect();
      const files = [];
      for (const [partition, state] of Object.entries(partitions).sort()) {
        for (const file of state.files) {
          const reader = await db.runAndReadAll(`SELECT click_id, CAST(event_time AS VARCHAR) AS event_time, user_id, event_name, CAST(arrival_hour AS VARCHAR) AS arrival_hour, source_key, record_number, dt, hr, country, user_name, ip_prefix FROM read_parquet('${store.locate(file.key)}', hive_partitioning = false)`);
          // Each column's Parquet type, as `physical/converted` (e.g. BYTE_ARRAY/UTF8), as a reader elsewhere sees it.
          const types = await db.runAndReadAll(`SELECT name, type || '/' || coalesce(converted_type, '') FROM parquet_schema('${store.locate(file.key)}') WHERE num_children IS NULL`);
          const schema = Object.fromEntries(types.getRows().map(([name, type]) => [String(name), String(type)]));
          // The size of the same rows written again by DuckDB from plain columns.
          const plain = path.join(root, `plain-${files.length}.parquet`);
          await db.run(`COPY (SELECT * FROM read_parquet('${store.locate(file.key)}', hive_partitioning = false)) TO '${plain}' (FORMAT parquet, COMPRESSION zstd)`);
          const [size, plainSize] = [statSync(store.locate(file.key)).size, statSync(plain).size];
          rmSync(plain);
          files.push({ partition, key: file.key, rows: reader.getRowObjectsJS() as Record<string, unknown>[], schema, size, plainSize });
        }
      }
      db.closeSync();
      instance.closeSync();
      return files;
    },
  };
}

export function click(clickId: string, timestamp: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp,
    user_id: '35',
    pixel_id: 'wjgao4w1oi',
    click_id: clickId,
    insertion_timestamp: timestamp,
    event_name: 'Search',
    user_ip: '81.2.69.160',
    additional_data: { time_on_data: 79, percent_viewed: 39.7, product_id: 557246, price: 417.97 },
    ...extra,
  };
}
