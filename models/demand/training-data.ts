import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { PRODUCTS_KEY } from '../../generator/dimensions';
import { sqlIdentifier, sqlString } from '../../tasks/shared/sql-text';
import { InvalidInputError, NotFoundError } from '../../tasks/ports/errors';
import type { ObjectStore } from '../../tasks/ports/object-store';
import type { QueryEngine } from '../../tasks/ports/query-engine';
import type { Hour } from '../../tasks/shared/hours';
import { describeIssues } from '../../tasks/shared/describe-issues';

/** One product at one price in one event hour. */
export interface DemandCell {
  readonly hour: Hour;
  readonly productId: number;
  readonly price: number;
  readonly views: number;
  readonly units: number;
}

/** What the model needs of a catalog product; `trueElasticity` only where the generator wrote it, to score the model. */
export interface CatalogProduct {
  readonly productId: number;
  readonly category: string;
  readonly basePrice: number;
  readonly trueElasticity?: number;
}

const ORDERS_PREFIX = 'dims/orders/';
/** The order fields the model reads, declared rather than sniffed so that every file reads alike. */
const ORDER_COLUMNS = { product_id: 'BIGINT', quantity: 'BIGINT', unit_price: 'DOUBLE', ordered_at: 'TIMESTAMP' } as const;
const DEMAND_CELLS_SQL = readFileSync(path.join(__dirname, 'demand-cells.sql'), 'utf8');

const productLineSchema = z.object({
  product_id: z.number().int(),
  category: z.string().min(1),
  base_price: z.number().positive(),
  true_elasticity: z.number().optional(),
});

/** The product dimension, `dims/products.jsonl`; NotFoundError when the lake has none. */
export async function readCatalog(store: ObjectStore): Promise<CatalogProduct[]> {
  let text: string;
  try {
    text = (await store.get(PRODUCTS_KEY)).toString('utf8');
  } catch (error) {
    if (error instanceof NotFoundError) throw new NotFoundError(`no product catalog at ${PRODUCTS_KEY}`, { cause: error });
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      const parsed = productLineSchema.safeParse(parseJsonLine(line));
      if (!parsed.success) throw new InvalidInputError(`${PRODUCTS_KEY} line ${index + 1}: ${describeIssues(parsed.error)}`);
      const { product_id, category, base_price, true_elasticity } = parsed.data;
      return { productId: product_id, category, basePrice: base_price, trueElasticity: true_elasticity };
    });
}

/**
 * Views and units per event hour, product and price (see demand-cells.sql). `engine` must have the
 * `events` view (`createLakeViews`); this creates the `orders` view over the orders dimension.
 */
export async function readDemandCells(engine: QueryEngine, store: ObjectStore): Promise<DemandCell[]> {
  await engine.run(`CREATE OR REPLACE VIEW orders AS ${ordersSql(await orderFiles(store))}`);
  const { rows } = await engine.query(DEMAND_CELLS_SQL);
  return rows.map(([hour, productId, price, views, units]) => ({
    hour: (hour as string).slice(0, 13),
    productId: productId as number,
    price: price as number,
    views: views as number,
    units: units as number,
  }));
}

/** A line that is not JSON reads as undefined, which the schema then reports. */
function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

async function orderFiles(store: ObjectStore): Promise<string[]> {
  const files: string[] = [];
  for await (const { key } of store.list(ORDERS_PREFIX)) if (key.endsWith('.jsonl')) files.push(store.locate(key));
  return files;
}

function ordersSql(files: readonly string[]): string {
  const columns = Object.entries(ORDER_COLUMNS);
  if (files.length === 0) return `SELECT ${columns.map(([name, type]) => `CAST(NULL AS ${type}) AS ${sqlIdentifier(name)}`).join(', ')} WHERE false`;
  const declared = `{${columns.map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`).join(', ')}}`;
  return `SELECT * FROM read_json([${files.map(sqlString).join(', ')}], format = 'newline_delimited', columns = ${declared}, hive_partitioning = false)`;
}
