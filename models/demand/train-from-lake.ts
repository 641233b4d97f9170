import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDbQueryEngine } from '../../tasks/adapters/local/duckdb-query-engine';
import { createLakeViews } from '../../tasks/adapters/local/lake-views';
import type { LocalPorts } from '../../tasks/runtime/local-ports';
import { publishModel, type DemandModel } from './artifact';
import { trainDemandModel } from './train';
import { readCatalog, readDemandCells, type CatalogProduct } from './training-data';

export interface PublishedModel {
  readonly model: DemandModel;
  /** Where the artifact is stored; `current.json` now points at it. */
  readonly key: string;
  /** The catalog it was trained against, with the generator's true elasticities where it wrote them. */
  readonly catalog: readonly CatalogProduct[];
}

/** Trains the demand model on the lake's current snapshot (curated events and the orders dimension) and publishes it. */
export async function trainAndPublish({ store, catalog: lakeCatalog }: Pick<LocalPorts, 'store' | 'catalog'>): Promise<PublishedModel> {
  const catalog = await readCatalog(store);
  const snapshot = await lakeCatalog.snapshot();
  const engine = await DuckDbQueryEngine.open({ tempDirectory: path.join(os.tmpdir(), `lakehouse-train-${process.pid}`) });
  let model: DemandModel;
  try {
    await createLakeViews(engine, snapshot, store, { aggregates: false });
    model = trainDemandModel(await readDemandCells(engine, store), catalog);
  } finally {
    await engine.close();
  }
  return { model, key: await publishModel(store, model), catalog };
}
