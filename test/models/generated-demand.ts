import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { generateTraffic, type FaultRates } from '../../generator/generate';
import { readCatalog, readDemandCells, type CatalogProduct, type DemandCell } from '../../models/demand/training-data';
import { DuckDbQueryEngine } from '../../tasks/adapters/local/duckdb-query-engine';
import { sqlString } from '../../tasks/shared/sql-text';
import { FsObjectStore } from '../../tasks/adapters/local/fs-object-store';

const NO_FAULTS: FaultRates = { late: 0, duplicate: 0, malformed: 0, stringifiedAdditionalData: 0, extraFields: 0, clockAhead: 0 };

export interface GeneratedDemand {
  readonly root: string;
  readonly store: FsObjectStore;
  readonly cells: DemandCell[];
  readonly catalog: CatalogProduct[];
}

/**
 * The model's training data straight from the generator, in seconds rather than the minutes the
 * hourly workflow takes: fault-free raw events (so every record is a valid, unique event) are read
 * by an `events` view with the curated columns the training query uses, and the orders by the same
 * reader the CLI uses.
 */
export async function generateDemand(options: { from: string; to: string; rate: number; seed: number }): Promise<GeneratedDemand> {
  const root = await mkdtemp(path.join(tmpdir(), 'models-test-'));
  const store = new FsObjectStore(root);
  await generateTraffic({ store, ...options, faults: NO_FAULTS });
  const engine = await DuckDbQueryEngine.open({ threads: 1 });
  try {
    const raw = sqlString(path.join(root, 'raw', '**', '*.gz'));
    const columns = `{'timestamp': 'TIMESTAMP', 'event_name': 'VARCHAR', 'additional_data': 'STRUCT(product_id BIGINT, price DOUBLE)'}`;
    await engine.run(
      `CREATE VIEW events AS SELECT "timestamp" AS event_time, event_name, additional_data.product_id AS product_id, additional_data.price AS price
       FROM read_json(${raw}, format = 'newline_delimited', columns = ${columns})`,
    );
    return { root, store, cells: await readDemandCells(engine, store), catalog: await readCatalog(store) };
  } finally {
    await engine.close();
  }
}

export async function removeGenerated(demand: GeneratedDemand | undefined): Promise<void> {
  if (demand) await rm(demand.root, { recursive: true, force: true });
}
