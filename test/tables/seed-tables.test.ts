import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { seedOperationalTables } from '../../generator/seed-tables';
import { ORDERS_BY_PRODUCT_INDEX } from '../../tasks/tables/definitions';
import { createTestLake, holdTables, order, product, productItem, type TestLake } from '../pricing/tables-fixture';

describe('seedOperationalTables', () => {
  let lake: TestLake;

  beforeEach(() => {
    lake = createTestLake('seed');
  });

  afterEach(() => lake.remove());

  it('starts a new product at its base price, with the default floor and ceiling', async () => {
    await expect(seedOperationalTables(lake.tables, [product(1, { basePrice: 59.99, cost: 21.5, inventory: 7, name: 'Aero Cap 1', category: 'accessories' })], [])).resolves.toEqual({
      products: 1,
      orders: 0,
    });

    const { session, release } = await holdTables(lake.tables);
    try {
      expect(await productItem(session, 1)).toEqual({
        product_id: 1,
        name: 'Aero Cap 1',
        category: 'accessories',
        base_price: 59.99,
        cost: 21.5,
        inventory: 7,
        current_price: 59.99,
        floor_price: 41.99,
        ceiling_price: 77.99,
        price_version: 0,
      });
    } finally {
      await release();
    }
  });

  it('seeds again without undoing the prices the consumer set, and finds orders by product and time', async () => {
    await seedOperationalTables(lake.tables, [product(1)], [order('o1', 1, '2021-07-12T05:10:00.000000Z')]);
    await lake.tables.use(({ doc, names }) =>
      doc.send(
        new UpdateCommand({
          TableName: names.products,
          Key: { product_id: 1 },
          UpdateExpression: 'SET current_price = :p, price_version = :v',
          ExpressionAttributeValues: { ':p': 104, ':v': 3 },
        }),
      ),
    );

    await seedOperationalTables(lake.tables, [product(1, { inventory: 9 })], [order('o1', 1, '2021-07-12T05:10:00.000000Z'), order('o2', 1, '2021-07-12T06:00:00.000000Z')]);

    const { session, release } = await holdTables(lake.tables);
    try {
      expect(await productItem(session, 1)).toMatchObject({ current_price: 104, price_version: 3, inventory: 9, floor_price: 70 });
      const { Items } = await session.doc.send(
        new QueryCommand({
          TableName: session.names.orders,
          IndexName: ORDERS_BY_PRODUCT_INDEX,
          KeyConditionExpression: 'product_id = :p AND ordered_at BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':p': 1, ':from': '2021-07-12T05', ':to': '2021-07-12T07' },
        }),
      );
      expect(Items?.map((item) => item['order_id'])).toEqual(['o1', 'o2']);
    } finally {
      await release();
    }
  });
});
