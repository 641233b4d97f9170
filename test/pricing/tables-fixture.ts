/** Real operational tables (dynalite under a temporary lake) and catalog items for the pricing and signals tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { OrderRow } from '../../generator/dimensions';
import type { Product } from '../../generator/population';
import { seedOperationalTables } from '../../generator/seed-tables';
import { FsObjectStore } from '../../tasks/adapters/local/fs-object-store';
import { LocalDynamoDb } from '../../tasks/adapters/local/local-dynamodb';
import { StreamLog } from '../../tasks/adapters/local/stream-log';
import type { TableSession } from '../../tasks/ports/operational-tables';
import type { PriceSignalItem, ProductItem } from '../../tasks/tables/items';

export interface TestLake {
  readonly dir: string;
  readonly store: FsObjectStore;
  readonly tables: LocalDynamoDb;
  remove(): void;
}

export function createTestLake(label: string): TestLake {
  const dir = mkdtempSync(path.join(tmpdir(), `lakehouse-${label}-`));
  return { dir, store: new FsObjectStore(dir), tables: new LocalDynamoDb(dir), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Holds the lake's tables open until `release`: for tests that call the consumer's core with a session. */
export async function holdTables(tables: LocalDynamoDb): Promise<{ readonly session: TableSession; release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held: Promise<unknown> = Promise.resolve();
  const session = await new Promise<TableSession>((resolve, reject) => {
    held = tables.use(
      async (opened) => {
        resolve(opened);
        await released;
      },
      { create: true },
    );
    held.catch(reject);
  });
  return {
    session,
    release: async () => {
      release();
      await held;
    },
  };
}

export function product(productId: number, overrides: Partial<Product> = {}): Product {
  return { productId, name: `Product ${productId}`, category: 'sneakers', basePrice: 100, cost: 40, inventory: 500, trueElasticity: -1.4, ...overrides };
}

export function order(orderId: string, productId: number, orderedAt: string, quantity = 1, unitPrice = 100): OrderRow {
  return { order_id: orderId, user_id: 'u1', product_id: productId, quantity, unit_price: unitPrice, ordered_at: orderedAt, click_id: `c-${orderId}` };
}

export async function seed(tables: LocalDynamoDb, products: readonly Product[], orders: readonly OrderRow[] = []): Promise<void> {
  await seedOperationalTables(tables, products, orders);
}

export async function productItem(session: TableSession, productId: number): Promise<ProductItem> {
  const { Item } = await session.doc.send(new GetCommand({ TableName: session.names.products, Key: { product_id: productId }, ConsistentRead: true }));
  return Item as ProductItem;
}

/** A signal of `productId` for `hour` with the given 24-hour demand. */
export function signal(productId: number, hour: string, demand: Partial<PriceSignalItem> = {}): PriceSignalItem {
  const views = demand.views_24h ?? 100;
  return {
    product_id: productId,
    event_hour: hour,
    signal_id: `${hour}#${String(views).padStart(16, '0')}`,
    category: 'sneakers',
    views: 10,
    add_to_carts: 2,
    purchases: 1,
    revenue: 100,
    views_24h: views,
    add_to_carts_24h: 20,
    purchases_24h: 5,
    revenue_24h: 500,
    add_to_cart_rate_24h: 0.2,
    conversion_rate_24h: 0.05,
    units_ordered_24h: 5,
    order_revenue_24h: 500,
    inventory: 500,
    base_price: 100,
    cost: 40,
    current_price: 100,
    price_vs_base: 1,
    computed_by: 'test',
    computed_at: '2021-07-12T06:00:00.000Z',
    ...demand,
  };
}

/** The stream records of `signals` as inserts, in order, through the local stream's own record shape. */
export async function streamRecordsOf(signals: readonly PriceSignalItem[]) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lakehouse-records-'));
  try {
    const log = new StreamLog(new FsObjectStore(dir), { tableName: 'price_signals', prefix: 'stream/' });
    await log.record(signals.map((item) => ({ eventName: 'INSERT' as const, keys: { product_id: item.product_id, event_hour: item.event_hour }, newImage: item })));
    return await log.readAfter(undefined, Number.POSITIVE_INFINITY);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
