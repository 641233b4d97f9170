import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { DeleteTableCommand, DescribeTableCommand, type DynamoDBClient, waitUntilTableNotExists } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DYNAMODB_DIR, LocalDynamoDb } from '../../tasks/adapters/local/local-dynamodb';
import { StreamLog } from '../../tasks/adapters/local/stream-log';
import { TransientStorageError } from '../../tasks/ports/errors';
import { PRICE_SIGNALS_STREAM_PREFIX } from '../../tasks/runtime/local-ports';
import { OPERATIONAL_TABLES, tableNames } from '../../tasks/tables/definitions';
import { startModelEndpointFixture } from '../pricing/model-endpoint-fixture';
import { createTestLake, product, seed, signal, type TestLake } from '../pricing/tables-fixture';

describe('LocalDynamoDb', () => {
  let lake: TestLake;

  beforeEach(() => {
    lake = createTestLake('dynamodb');
  });

  afterEach(() => lake.remove());

  it('creates every operational table with its keys and indexes, and keeps items once closed', async () => {
    const described = await lake.tables.use(
      async ({ doc, names }) => {
        await doc.send(new PutCommand({ TableName: names.products, Item: { product_id: 7, name: 'kept' } }));
        const client = doc as unknown as DynamoDBClient;
        return Promise.all(Object.values(names).map(async (name) => (await client.send(new DescribeTableCommand({ TableName: name }))).Table));
      },
      { create: true },
    );

    expect(described!.map((table) => [table?.TableName, table?.TableStatus, table?.KeySchema])).toEqual(
      Object.values(OPERATIONAL_TABLES).map((definition) => [
        definition.name,
        'ACTIVE',
        [{ AttributeName: definition.partitionKey.name, KeyType: 'HASH' }, ...(definition.sortKey ? [{ AttributeName: definition.sortKey.name, KeyType: 'RANGE' }] : [])],
      ]),
    );
    expect(described![1]?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.KeySchema])).toEqual([
      ['by_product_time', [{ AttributeName: 'product_id', KeyType: 'HASH' }, { AttributeName: 'ordered_at', KeyType: 'RANGE' }]],
    ]);

    const reopened = new LocalDynamoDb(lake.dir);
    const kept = await reopened.use(async ({ doc }) => (await doc.send(new GetCommand({ TableName: tableNames().products, Key: { product_id: 7 } }))).Item);
    expect(kept).toEqual({ product_id: 7, name: 'kept' });
  });

  it('creates a table missing from a lake that has the others, and keeps their items', async () => {
    await lake.tables.use(
      async ({ doc, names }) => {
        await doc.send(new PutCommand({ TableName: names.products, Item: { product_id: 7, name: 'kept' } }));
        const client = doc as unknown as DynamoDBClient;
        await client.send(new DeleteTableCommand({ TableName: names.priceHistory }));
        await waitUntilTableNotExists({ client, minDelay: 1, maxDelay: 1, maxWaitTime: 10 }, { TableName: names.priceHistory });
      },
      { create: true },
    );

    const reopened = await new LocalDynamoDb(lake.dir).use(async ({ doc, names }) => ({
      history: (await (doc as unknown as DynamoDBClient).send(new DescribeTableCommand({ TableName: names.priceHistory }))).Table?.TableStatus,
      kept: (await doc.send(new GetCommand({ TableName: names.products, Key: { product_id: 7 } }))).Item,
    }));

    expect(reopened).toEqual({ history: 'ACTIVE', kept: { product_id: 7, name: 'kept' } });
  });

  it('creates nothing and runs nothing for a lake without tables unless asked to create them', async () => {
    const work = jest.fn(async () => 'ran');

    await expect(lake.tables.use(work)).resolves.toBeUndefined();

    expect(work).not.toHaveBeenCalled();
    expect(existsSync(path.join(lake.dir, DYNAMODB_DIR))).toBe(false);
  });

  it('refuses tables it cannot read with one clear error, and the process lives on', async () => {
    mkdirSync(path.join(lake.dir, DYNAMODB_DIR), { recursive: true });
    writeFileSync(path.join(lake.dir, DYNAMODB_DIR, 'data'), 'not a LevelDB directory');
    const work = jest.fn(async () => 'ran');

    const opened = lake.tables.use(work, { create: true });

    await expect(opened).rejects.toBeInstanceOf(TransientStorageError);
    await expect(opened).rejects.toThrow(/^cannot open the tables under .*: Database is closed$/);
    expect(work).not.toHaveBeenCalled();
  });

  it('shares one server among the uses of a lake in a process', async () => {
    await lake.tables.use(async (outer) => {
      const inner = await new LocalDynamoDb(lake.dir).use(async (session) => session);
      expect(inner).toBe(outer);
    }, { create: true });
  });

  it('waits while another process holds the lake, and gets it when that process dies', async () => {
    await seed(lake.tables, [product(1)]);
    await new StreamLog(lake.store, { tableName: 'price_signals', prefix: PRICE_SIGNALS_STREAM_PREFIX }).record([
      { eventName: 'INSERT', keys: { product_id: 1, event_hour: '2021-07-12T05' }, newImage: signal(1, '2021-07-12T05') },
    ]);
    // The stream's consumer in a child process holds the tables while the model never answers.
    const model = await startModelEndpointFixture(() => 'hang');
    const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/run-ts.js'), path.resolve(__dirname, '../pricing/stream-child.ts'), lake.dir, model.url, '1'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('deliver') && resolve()));

      const waiting = new LocalDynamoDb(lake.dir, { leaseTimeoutMs: 300 }).use(async () => 'got it');
      await expect(waiting).rejects.toBeInstanceOf(TransientStorageError);
      await expect(waiting).rejects.toThrow(/stayed in use by another process/);

      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('close', resolve));
      await expect(new LocalDynamoDb(lake.dir, { leaseTimeoutMs: 5_000 }).use(async () => 'got it')).resolves.toBe('got it');
    } finally {
      child.kill('SIGKILL');
      await model.close();
    }
  });
});
