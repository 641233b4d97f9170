import { aggregateKey } from '../aggregate/queries';
import { InvalidInputError, NotFoundError } from '../ports/errors';
import type { ObjectStore } from '../ports/object-store';
import type { Hour } from '../shared/hours';

/** The aggregate the signals are built from (queries/product_demand.sql). */
const PRODUCT_DEMAND_QUERY = 'product_demand';

/** One product's row of product_demand: its events in one event hour. */
export interface HourDemand {
  readonly views: number;
  readonly add_to_carts: number;
  readonly purchases: number;
  readonly revenue: number;
}

const COLUMNS = ['product_id', 'views', 'add_to_carts', 'purchases', 'revenue'] as const;

/**
 * The product_demand result of each event hour, read from its unloaded CSV (`|` delimited, with a
 * header, as UNLOAD writes it) once per hour however often it is asked for. An hour without a file
 * had no product events.
 */
export class ProductDemandReader {
  private readonly hours = new Map<Hour, Promise<ReadonlyMap<number, HourDemand>>>();

  constructor(private readonly store: ObjectStore) {}

  demandOf(hour: Hour): Promise<ReadonlyMap<number, HourDemand>> {
    let demand = this.hours.get(hour);
    if (demand === undefined) {
      demand = this.read(hour);
      this.hours.set(hour, demand);
    }
    return demand;
  }

  private async read(hour: Hour): Promise<ReadonlyMap<number, HourDemand>> {
    const key = aggregateKey(PRODUCT_DEMAND_QUERY, hour, 'csv');
    let text: string;
    try {
      text = (await this.store.get(key)).toString('utf8');
    } catch (error) {
      if (error instanceof NotFoundError) return new Map();
      throw error;
    }
    return parseProductDemand(text, key);
  }
}

/** The rows of a product_demand CSV by product id. Its columns are all numbers, so no field is ever quoted. */
function parseProductDemand(text: string, source: string): Map<number, HourDemand> {
  const [headerLine = '', ...lines] = text.split('\n').filter((line) => line !== '');
  const header = headerLine.split('|');
  const positions = COLUMNS.map((column) => header.indexOf(column));
  const missing = COLUMNS.filter((_, index) => positions[index] === -1);
  if (missing.length > 0) throw new InvalidInputError(`${source} has no column(s) ${missing.join(', ')}: its header is "${headerLine}"`);
  const demand = new Map<number, HourDemand>();
  lines.forEach((line, index) => {
    const fields = line.split('|');
    const [productId, views, addToCarts, purchases, revenue] = positions.map((position) => Number(fields[position]));
    if (![productId, views, addToCarts, purchases, revenue].every(Number.isFinite)) {
      throw new InvalidInputError(`${source} line ${index + 2} is not a row of numbers: "${line}"`);
    }
    demand.set(productId as number, { views: views as number, add_to_carts: addToCarts as number, purchases: purchases as number, revenue: revenue as number });
  });
  return demand;
}
