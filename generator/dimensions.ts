import { USERS_DIMENSION_KEY } from '../tasks/curated/layout';
import { NotFoundError } from '../tasks/ports/errors';
import type { ObjectStore } from '../tasks/ports/object-store';
import type { Population } from './population';
import { productRow, userRow } from './population';

export const PRODUCTS_KEY = 'dims/products.jsonl';

/** One line of the orders dimension: what the shop's order system recorded for a purchase. */
export interface OrderRow {
  order_id: string;
  user_id: string;
  product_id: number;
  quantity: number;
  unit_price: number;
  /** The true (server) time of the purchase, ISO 8601 with microseconds. */
  ordered_at: string;
  /** The click of the Purchase event that placed the order. */
  click_id: string;
}

/** `dims/orders/dt=YYYY-MM-DD/hr=HH/orders.jsonl` for the hour of `orderedAt` (ISO 8601, UTC). */
export function ordersKey(orderedAt: string): string {
  return `dims/orders/dt=${orderedAt.slice(0, 10)}/hr=${orderedAt.slice(11, 13)}/orders.jsonl`;
}

export async function writePopulation(store: ObjectStore, population: Population): Promise<void> {
  await store.put(USERS_DIMENSION_KEY, jsonLines(population.users.map(userRow)));
  await store.put(PRODUCTS_KEY, jsonLines(population.products.map(productRow)));
}

/**
 * Writes orders into their hourly partitions. A partition that exists already is merged by `order_id`:
 * late purchases of one run may fall into hours an earlier run wrote, and a rerun must not lose them.
 */
export async function writeOrders(store: ObjectStore, orders: readonly OrderRow[]): Promise<void> {
  const byKey = new Map<string, OrderRow[]>();
  for (const order of orders) {
    const key = ordersKey(order.ordered_at);
    const partition = byKey.get(key);
    if (partition) partition.push(order);
    else byKey.set(key, [order]);
  }
  for (const key of [...byKey.keys()].sort()) {
    const merged = new Map<string, OrderRow>();
    for (const order of await readOrders(store, key)) merged.set(order.order_id, order);
    for (const order of byKey.get(key) ?? []) merged.set(order.order_id, order);
    const rows = [...merged.values()].sort(
      (a, b) => compare(a.ordered_at, b.ordered_at) || compare(a.order_id, b.order_id),
    );
    await store.put(key, jsonLines(rows));
  }
}

async function readOrders(store: ObjectStore, key: string): Promise<OrderRow[]> {
  try {
    const text = (await store.get(key)).toString('utf8');
    return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as OrderRow);
  } catch (error) {
    if (error instanceof NotFoundError) return [];
    throw error;
  }
}

function jsonLines(rows: readonly object[]): string {
  return rows.map((row) => `${JSON.stringify(row)}\n`).join('');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
