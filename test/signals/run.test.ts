import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { aggregateKey } from '../../tasks/aggregate/queries';
import { StreamLog } from '../../tasks/adapters/local/stream-log';
import { DYNAMODB_DIR } from '../../tasks/adapters/local/local-dynamodb';
import { runSignals, type SignalsInput } from '../../tasks/signals/run';
import type { PriceSignalItem } from '../../tasks/tables/items';
import { createTestLake, order, product, seed, type TestLake } from '../pricing/tables-fixture';

const HOUR = '2021-07-12T05';
const INPUT: SignalsInput = {
  executionId: 'arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:hourly-2021-07-12T06-0000',
  hour: '2021-07-12T06',
  partitions: ['dt=2021-07-12/hr=05'],
};

/** A product_demand result as the aggregate step unloads it. */
function demandCsv(hour: string, rows: readonly [product: number, views: number, carts: number, purchases: number, revenue: string][]): string {
  const lines = rows.map(([productId, views, carts, purchases, revenue]) => `${hour.replace('T', ' ')}:00:00|${productId}|${views}|${carts}|${purchases}|${revenue}`);
  return ['hour|product_id|views|add_to_carts|purchases|revenue', ...lines, ''].join('\n');
}

describe('runSignals', () => {
  let lake: TestLake;
  let stream: StreamLog;

  beforeEach(async () => {
    lake = createTestLake('signals');
    stream = new StreamLog(lake.store, { tableName: 'price_signals', prefix: '_streams/price_signals/' });
    await lake.store.put(aggregateKey('product_demand', HOUR, 'csv'), demandCsv(HOUR, [[1, 10, 4, 2, '199.00'], [2, 5, 1, 0, '0.00'], [3, 7, 0, 0, '0.00']]));
    await lake.store.put(aggregateKey('product_demand', '2021-07-12T04', 'csv'), demandCsv('2021-07-12T04', [[1, 30, 6, 1, '100.50']]));
    // Outside the 24 hours ending with HOUR:
    await lake.store.put(aggregateKey('product_demand', '2021-07-11T05', 'csv'), demandCsv('2021-07-11T05', [[1, 1000, 0, 0, '0.00']]));
  });

  afterEach(() => lake.remove());

  const run = (input: SignalsInput = INPUT) => runSignals(input, { store: lake.store, tables: lake.tables, capture: stream });

  async function storedSignal(productId: number): Promise<PriceSignalItem | undefined> {
    return lake.tables.use(async ({ doc, names }) => {
      const { Item } = await doc.send(new GetCommand({ TableName: names.priceSignals, Key: { product_id: productId, event_hour: HOUR }, ConsistentRead: true }));
      return Item as PriceSignalItem | undefined;
    });
  }

  async function seedCatalog(): Promise<void> {
    await seed(lake.tables, [product(1, { basePrice: 99.5, cost: 30, inventory: 12 }), product(2)], [
      order('o1', 1, '2021-07-12T05:10:00.000000Z', 2, 99.5),
      order('o2', 1, '2021-07-11T06:00:00.000000Z', 1, 90),
      order('o3', 1, '2021-07-11T05:59:59.999999Z', 5, 90),
      order('o4', 1, '2021-07-12T06:00:00.000000Z', 5, 90),
      order('o5', 2, '2021-07-12T05:30:00.000000Z', 1, 100),
    ]);
  }

  it('writes one signal per cataloged product with demand in the hour, hydrated with its 24 hours, catalog and orders', async () => {
    await seedCatalog();

    await expect(run()).resolves.toEqual({ hours: [HOUR], signals: 2, written: 2, unchanged: 0, withoutCatalog: 1 });

    const signal = await storedSignal(1);
    expect(signal).toEqual({
      product_id: 1,
      event_hour: HOUR,
      signal_id: expect.stringMatching(/^2021-07-12T05#[0-9a-f]{16}$/),
      category: 'sneakers',
      views: 10,
      add_to_carts: 4,
      purchases: 2,
      revenue: 199,
      views_24h: 40,
      add_to_carts_24h: 10,
      purchases_24h: 3,
      revenue_24h: 299.5,
      add_to_cart_rate_24h: 0.25,
      conversion_rate_24h: 0.075,
      // o1 and o2; o3 is before the 24 hours, o4 after them.
      units_ordered_24h: 3,
      order_revenue_24h: 289,
      inventory: 12,
      base_price: 99.5,
      cost: 30,
      current_price: 99.5,
      price_vs_base: 1,
      computed_by: INPUT.executionId,
      computed_at: expect.any(String),
    });
    const records = await stream.readAfter(undefined, 10);
    expect(records.map((record) => [record.eventName, record.dynamodb?.Keys, record.dynamodb?.StreamViewType])).toEqual([
      ['INSERT', { product_id: { N: '1' }, event_hour: { S: HOUR } }, 'NEW_AND_OLD_IMAGES'],
      ['INSERT', { product_id: { N: '2' }, event_hour: { S: HOUR } }, 'NEW_AND_OLD_IMAGES'],
    ]);
    expect(records[0]!.dynamodb!.NewImage!['signal_id']).toEqual({ S: signal!.signal_id });
  });

  it('gives each of a product\'s signals the orders of its own 24 hours', async () => {
    await seedCatalog();
    await lake.store.put(aggregateKey('product_demand', '2021-07-12T06', 'csv'), demandCsv('2021-07-12T06', [[1, 4, 1, 1, '99.50']]));

    await run({ ...INPUT, partitions: ['dt=2021-07-12/hr=05', 'dt=2021-07-12/hr=06'] });

    const unitsOf = (hour: string) =>
      lake.tables.use(async ({ doc, names }) => {
        const { Item } = await doc.send(new GetCommand({ TableName: names.priceSignals, Key: { product_id: 1, event_hour: hour }, ConsistentRead: true }));
        return (Item as PriceSignalItem).units_ordered_24h;
      });
    // 05: o1 and o2 (o4 is at the end of its 24 hours); 06: o1 and o4 (o2 is an hour before its 24 hours).
    await expect(unitsOf(HOUR)).resolves.toBe(3);
    await expect(unitsOf('2021-07-12T06')).resolves.toBe(7);
  });

  it('writes no new stream record when rerun, even after the consumer changed the price', async () => {
    await seedCatalog();
    await run();
    await lake.tables.use(({ doc, names }) =>
      doc.send(new UpdateCommand({ TableName: names.products, Key: { product_id: 1 }, UpdateExpression: 'SET current_price = :p', ExpressionAttributeValues: { ':p': 104.5 } })),
    );

    await expect(run()).resolves.toEqual({ hours: [HOUR], signals: 2, written: 0, unchanged: 2, withoutCatalog: 1 });

    expect(await stream.readAfter(undefined, 10)).toHaveLength(2);
  });

  it('writes a MODIFY record with the old image when the demand of the hour changed', async () => {
    await seedCatalog();
    await run();
    const before = await storedSignal(1);
    await lake.store.put(aggregateKey('product_demand', HOUR, 'csv'), demandCsv(HOUR, [[1, 12, 4, 2, '199.00'], [2, 5, 1, 0, '0.00']]));

    await expect(run()).resolves.toMatchObject({ written: 1, unchanged: 1 });

    const records = await stream.readAfter(undefined, 10);
    expect(records).toHaveLength(3);
    expect(records[2]).toMatchObject({ eventName: 'MODIFY', dynamodb: { OldImage: { signal_id: { S: before!.signal_id } }, NewImage: { views: { N: '12' } } } });
    expect((await storedSignal(1))?.views_24h).toBe(42);
  });

  it('writes nothing and opens no tables for an hour without demand', async () => {
    await expect(run({ ...INPUT, partitions: ['dt=2021-07-12/hr=07'] })).resolves.toEqual({
      hours: ['2021-07-12T07'],
      signals: 0,
      written: 0,
      unchanged: 0,
      withoutCatalog: 0,
    });
    expect(existsSync(path.join(lake.dir, DYNAMODB_DIR))).toBe(false);
  });

  it('writes nothing for a lake without tables, or whose catalog lacks the products', async () => {
    await expect(run()).resolves.toEqual({ hours: [HOUR], signals: 0, written: 0, unchanged: 0, withoutCatalog: 3 });
    await seed(lake.tables, [product(42)]);

    await expect(run()).resolves.toEqual({ hours: [HOUR], signals: 0, written: 0, unchanged: 0, withoutCatalog: 3 });
    expect(await stream.readAfter(undefined, 10)).toEqual([]);
  });
});
