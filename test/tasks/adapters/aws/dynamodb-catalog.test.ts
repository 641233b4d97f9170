import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { CATALOG_TABLE, CATALOG_TABLE_KEY, DynamoDbCatalog, type DynamoDbCatalogProps } from '../../../../tasks/adapters/aws/dynamodb-catalog';
import { CorruptCatalogError } from '../../../../tasks/adapters/catalog-fold';
import { FsCatalog } from '../../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../../tasks/adapters/local/fs-object-store';
import type { CatalogChange, CommitToken } from '../../../../tasks/ports/catalog';
import { CommitConflictError, InvalidInputError, NotFoundError, TransientStorageError } from '../../../../tasks/ports/errors';
import { commitWithRetry } from '../../../../tasks/shared/commit-with-retry';
import { createTableInput } from '../../../../tasks/tables/definitions';
import { startDynamoDbApiServer, type DynamoDbApiServer } from './dynamodb-api-server';

let server: DynamoDbApiServer;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tableCount = 0;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startDynamoDbApiServer();
  ({ client, doc } = server);
});

afterAll(() => server.close());

afterEach(async () => {
  jest.restoreAllMocks();
  await Promise.all(dirs.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

/** A new catalog table, created from the exported key schema. */
async function createCatalogTable(): Promise<string> {
  const name = `catalog-${++tableCount}`;
  await client.send(new CreateTableCommand(createTableInput(CATALOG_TABLE, name)));
  return name;
}

async function tempStore(): Promise<FsObjectStore> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dynamodb-catalog-'));
  dirs.push(dir);
  return new FsObjectStore(dir);
}

interface Setup {
  readonly tableName: string;
  readonly store: FsObjectStore;
  open(props?: Partial<DynamoDbCatalogProps>): DynamoDbCatalog;
}

async function setup(): Promise<Setup> {
  const tableName = await createCatalogTable();
  const store = await tempStore();
  return { tableName, store, open: (props = {}) => new DynamoDbCatalog({ doc, tableName, store, ...props }) };
}

function token(executionId: string, hour = '2021-07-12T05', step = 'merge'): CommitToken {
  return { executionId, hour, step };
}

function putPartition(partition: string, records: number, table = 'events'): CatalogChange {
  return {
    kind: 'putPartition',
    table,
    partition,
    location: `curated/events/${partition}/v=0/`,
    files: [{ key: `curated/events/${partition}/v=0/a.parquet`, size: 10, records }],
    properties: { records },
  };
}

const clock = () => new Date('2021-07-12T06:00:00Z');

describe('DynamoDbCatalog', () => {
  it('exports the key schema the table is created with', () => {
    expect(CATALOG_TABLE_KEY).toEqual({ partitionKey: { name: 'pk', type: 'S' }, sortKey: { name: 'version', type: 'N' } });
    expect(createTableInput(CATALOG_TABLE, 'lake-catalog')).toMatchObject({
      TableName: 'lake-catalog',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'version', KeyType: 'RANGE' },
      ],
    });
  });

  it('starts empty', async () => {
    const { open } = await setup();
    expect(await open().snapshot()).toEqual({ version: 0, tables: {} });
    expect(await open().history()).toEqual([]);
    expect(await open().findCommit(token('a'))).toBeUndefined();
  });

  it('applies a sequence of commits exactly as FsCatalog does, seen from other instances', async () => {
    const { open } = await setup();
    const local = new FsCatalog(await tempStore(), '_catalog/', { now: clock });
    const drift = { field: 'x', change: 'added' as const, to: 'bigint', partition: '2021-07-12T05', detectedAt: '2021-07-12T06:00:00.000Z', records: 2 };
    const sequence: [CommitToken, CatalogChange[]][] = [
      [token('a'), [{ kind: 'setColumns', table: 'events', columns: [{ name: 'click_id', type: 'string' }] }, putPartition('dt=2021-07-12/hr=05', 3), putPartition('dt=2021-07-12/hr=06', 1)]],
      [
        token('b'),
        [
          putPartition('dt=2021-07-12/hr=05', 4),
          { kind: 'dropPartition', table: 'events', partition: 'dt=2021-07-12/hr=06' },
          { kind: 'recordDrift', table: 'raw_events', events: [drift] },
        ],
      ],
    ];
    const writer = open({ now: clock });
    for (const [base, [commitToken, changes]] of sequence.entries()) {
      const remote = await writer.commit(base, commitToken, changes);
      expect(remote).toEqual(await local.commit(base, commitToken, changes));
    }

    const snapshot = await open().snapshot();
    expect(snapshot).toEqual(await local.snapshot());
    expect(snapshot.version).toBe(2);
    expect(snapshot.tables.events!.partitions).toEqual({
      'dt=2021-07-12/hr=05': {
        location: 'curated/events/dt=2021-07-12/hr=05/v=0/',
        files: [{ key: 'curated/events/dt=2021-07-12/hr=05/v=0/a.parquet', size: 10, records: 4 }],
        version: 2,
        properties: { records: 4 },
      },
    });
    expect(await open().history()).toEqual(await local.history());
    expect((await open().history(1)).map((record) => record.token.executionId)).toEqual(['b']);
    expect(await open().findCommit(token('a'))).toEqual(await local.findCommit(token('a')));
    expect(await open().findCommit(token('a', '2021-07-12T06'))).toBeUndefined();
  });

  it('folds random change sequences into the same snapshots, histories and tokens as FsCatalog (property)', async () => {
    const tableArb = fc.constantFrom('events', 'raw_events', 'rejects');
    const partitionArb = fc.constantFrom('dt=2021-07-12/hr=05', 'dt=2021-07-12/hr=06', '2021-07-12T05', 'p');
    const changeArb: fc.Arbitrary<CatalogChange> = fc.oneof(
      fc.record({
        kind: fc.constant('putPartition' as const),
        table: tableArb,
        partition: partitionArb,
        location: fc.constantFrom('a/', 'b/'),
        files: fc.array(fc.record({ key: fc.constantFrom('a/1', 'a/2', 'b/1'), size: fc.nat(1000) }), { maxLength: 3 }),
        properties: fc.dictionary(fc.constantFrom('rows', 'note'), fc.oneof(fc.nat(), fc.string({ maxLength: 5 })), { maxKeys: 2 }),
      }),
      fc.record({ kind: fc.constant('dropPartition' as const), table: tableArb, partition: partitionArb }),
      fc.record({
        kind: fc.constant('setColumns' as const),
        table: tableArb,
        columns: fc.uniqueArray(fc.record({ name: fc.constantFrom('a', 'b', 'c'), type: fc.constantFrom('string', 'bigint') }), { selector: (column) => column.name, maxLength: 3 }),
      }),
      fc.record({
        kind: fc.constant('recordDrift' as const),
        table: tableArb,
        events: fc.array(
          fc.record({ field: fc.constantFrom('x', 'y'), change: fc.constant('added' as const), to: fc.constant('bigint'), partition: partitionArb, detectedAt: fc.constant('2021-07-12T06:00:00.000Z'), records: fc.nat(9) }),
          { maxLength: 2 },
        ),
      }),
    );
    const commitsArb = fc.array(fc.record({ step: fc.constantFrom('crawl', 'merge', 'compact'), changes: fc.array(changeArb, { maxLength: 4 }) }), { minLength: 1, maxLength: 9 });

    await fc.assert(
      fc.asyncProperty(commitsArb, fc.integer({ min: 1, max: 4 }), async (commits, checkpointInterval) => {
        const { open } = await setup();
        const remote = open({ now: clock, checkpointInterval, pageSize: 2 });
        const local = new FsCatalog(await tempStore(), '_catalog/', { now: clock, checkpointInterval });
        for (const [i, { step, changes }] of commits.entries()) {
          await remote.commit(i, token(`run-${i}`, '2021-07-12T05', step), changes);
          await local.commit(i, token(`run-${i}`, '2021-07-12T05', step), changes);
          // Reading between commits writes checkpoints on the way, as the callers' reads do.
          if (i % 2 === 0) expect(await remote.snapshot()).toEqual(await local.snapshot());
        }
        const fresh = open({ checkpointInterval, pageSize: 2 });
        expect(await fresh.snapshot()).toEqual(await local.snapshot());
        expect(await fresh.history()).toEqual(await local.history());
        for (const [i, { step }] of commits.entries()) {
          expect(await fresh.findCommit(token(`run-${i}`, '2021-07-12T05', step))).toEqual(await local.findCommit(token(`run-${i}`, '2021-07-12T05', step)));
        }
      }),
      { numRuns: 20 },
    );
  });

  it('writes checkpoints to the store as FsCatalog does, and folds from the newest', async () => {
    const { open, store } = await setup();
    const writer = open({ checkpointInterval: 3 });
    for (let i = 0; i < 7; i++) await writer.commit(i, token(`run-${i}`), [putPartition(`p${i % 2}`, i)]);
    const expected = await writer.snapshot();
    const keys: string[] = [];
    for await (const { key } of store.list('_catalog/checkpoints/')) keys.push(key);
    expect(keys).toEqual(['_catalog/checkpoints/00000000000000000003.json', '_catalog/checkpoints/00000000000000000006.json']);

    // A reader starts from the newest checkpoint: the bodies before it are no longer read.
    for await (const { key } of store.list('_catalog/commit-bodies/')) {
      if (Number(key.split('/')[2]) <= 6) await store.delete(key);
    }
    const reader = open({ checkpointInterval: 3 });
    expect(await reader.snapshot()).toEqual(expected);
    expect(await reader.findCommit(token('run-6'))).toMatchObject({ version: 7 });
  });

  it('lets exactly one of two writers at the same base version win; the other gets CommitConflictError', async () => {
    const { open, store, tableName } = await setup();
    await open().commit(0, token('first'), [putPartition('p', 0)]);

    const outcomes = await Promise.allSettled([open().commit(1, token('left'), [putPartition('p', 1)]), open().commit(1, token('right'), [putPartition('p', 2)])]);

    const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const losers = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.reason).toBeInstanceOf(CommitConflictError);
    expect(losers[0]!.reason.message).toBe('catalog version 2 was committed by another writer while merge of 2021-07-12T05 worked from version 1; re-read and retry');
    expect(losers[0]!.reason.cause).toMatchObject({ name: 'ConditionalCheckFailedException' });

    const winner = (winners[0] as PromiseFulfilledResult<{ token: CommitToken; changes: readonly CatalogChange[] }>).value;
    const snapshot = await open().snapshot();
    expect(snapshot.version).toBe(2);
    expect(snapshot.tables.events!.partitions.p!.properties).toEqual((winner.changes[0] as { properties: unknown }).properties);
    // The loser's body stays behind, beside the winner's, and nothing names it.
    const bodies: string[] = [];
    for await (const { key } of store.list('_catalog/commit-bodies/00000000000000000002/')) bodies.push(key);
    expect(bodies).toHaveLength(2);
    const { Item } = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: '_catalog/', version: 2 }, ConsistentRead: true }));
    expect(bodies).toContain(Item!.body_key);
    expect(Item!.token).toEqual(winner.token);
  });

  it('lets exactly one of many concurrent writers win each version', async () => {
    const { open } = await setup();
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => open().commit(round, token(`w${round}-${i}`), [putPartition('p', i)])));
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(CommitConflictError);
      expect((await open().snapshot()).tables.events!.partitions.p!.version).toBe(round + 1);
    }
  });

  it('converges under commitWithRetry: concurrent writers each land once, none loses another one’s update', async () => {
    const { open } = await setup();
    const writers = 6;
    const results = await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        commitWithRetry(
          open(),
          token(`writer-${i}`),
          (snapshot) => {
            const counter = snapshot.tables.events?.partitions.counter;
            const seen = Number(counter?.properties.count ?? 0);
            return [{ ...putPartition('counter', seen + 1), properties: { count: seen + 1, writers: [...((counter?.properties.writers as string[]) ?? []), `writer-${i}`] } }];
          },
          // Each conflict means another writer's commit landed, so n attempts always suffice for n writers.
          { attempts: writers },
        ),
      ),
    );
    expect(results.map((record) => record!.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    const snapshot = await open().snapshot();
    expect(snapshot.version).toBe(writers);
    expect(snapshot.tables.events!.partitions.counter!.properties.count).toBe(writers);
    expect([...(snapshot.tables.events!.partitions.counter!.properties.writers as string[])].sort()).toEqual(Array.from({ length: writers }, (_, i) => `writer-${i}`).sort());
    // A retry after an unknown outcome finds the commit and does not apply again.
    const again = await commitWithRetry(open(), token('writer-3'), () => {
      throw new Error('must not build');
    });
    expect(again).toEqual(results[3]);
  });

  it('reads history and tokens across Query pages', async () => {
    const { open } = await setup();
    const writer = open();
    for (let i = 0; i < 11; i++) await writer.commit(i, token(`run-${i}`), [putPartition(`p${i}`, i)]);
    const queries: unknown[] = [];
    const send = doc.send.bind(doc);
    jest.spyOn(doc, 'send').mockImplementation(((command: unknown) => {
      if (command instanceof QueryCommand) queries.push(command.input);
      return send(command as never);
    }) as never);

    const reader = open({ pageSize: 3 });
    const history = await reader.history();
    expect(history.map((record) => record.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(queries).toHaveLength(4);
    expect(queries.every((input) => (input as { Limit: number; ConsistentRead: boolean }).Limit === 3 && (input as { ConsistentRead: boolean }).ConsistentRead)).toBe(true);
    expect((await reader.history(4)).map((record) => record.token.executionId)).toEqual(['run-4', 'run-5', 'run-6', 'run-7', 'run-8', 'run-9', 'run-10']);
    expect(await reader.history(11)).toEqual([]);
    for (let i = 0; i < 11; i++) expect(await reader.findCommit(token(`run-${i}`))).toMatchObject({ version: i + 1, token: token(`run-${i}`) });
    expect((await reader.snapshot()).version).toBe(11);
  });

  it('commits a body larger than a DynamoDB item may be, keeping only its key in the item', async () => {
    const { open, tableName } = await setup();
    const files = Array.from({ length: 6000 }, (_, i) => ({ key: `curated/events/dt=2021-07-12/hr=05/v=0/${'x'.repeat(60)}-${i}.parquet`, size: i, records: i }));
    const change: CatalogChange = { kind: 'putPartition', table: 'events', partition: 'dt=2021-07-12/hr=05', location: 'curated/events/dt=2021-07-12/hr=05/v=0/', files, properties: {} };
    expect(JSON.stringify(change).length).toBeGreaterThan(400 * 1024);

    const record = await open().commit(0, token('big'), [change]);

    expect((await open().snapshot()).tables.events!.partitions['dt=2021-07-12/hr=05']!.files).toEqual(files);
    expect(await open().history()).toEqual([record]);
    const { Item } = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: '_catalog/', version: 1 }, ConsistentRead: true }));
    expect(Object.keys(Item!).sort()).toEqual(['body_key', 'committed_at', 'pk', 'token', 'version']);
    expect(Item!.body_key).toMatch(/^_catalog\/commit-bodies\/00000000000000000001\/[0-9a-f]{64}\.json$/);
  });

  it('keeps catalogs with different prefixes apart in one table', async () => {
    const { open } = await setup();
    await open({ prefix: 'one/' }).commit(0, token('a'), [putPartition('p', 1)]);
    expect((await open({ prefix: 'two/' }).snapshot()).version).toBe(0);
    await open({ prefix: 'two/' }).commit(0, token('b'), [putPartition('q', 1)]);
    expect(Object.keys((await open({ prefix: 'one/' }).snapshot()).tables.events!.partitions)).toEqual(['p']);
  });

  it('rejects a base version ahead of the catalog and malformed changes with InvalidInputError, writing nothing', async () => {
    const { open } = await setup();
    const catalog = open();
    await expect(catalog.commit(3, token('a'), [putPartition('p', 1)])).rejects.toThrow(new InvalidInputError('base version 3 is ahead of the catalog, which is at version 0'));
    await expect(catalog.commit(-1, token('a'), [])).rejects.toThrow(InvalidInputError);
    await expect(catalog.commit(0, token(''), [])).rejects.toThrow(InvalidInputError);
    await expect(catalog.commit(0, token('a'), [{ kind: 'renameTable', table: 'x' } as unknown as CatalogChange])).rejects.toThrow(InvalidInputError);
    expect((await catalog.snapshot()).version).toBe(0);
    await catalog.commit(0, token('a'), [putPartition('p', 1)]);
    await expect(catalog.commit(2, token('b'), [putPartition('p', 2)])).rejects.toThrow(/base version 2 is ahead of the catalog, which is at version 1/);
  });

  it('refuses a commit whose body is missing rather than guess', async () => {
    const { open, store } = await setup();
    await open().commit(0, token('a'), [putPartition('p', 1)]);
    for await (const { key } of store.list('_catalog/commit-bodies/')) await store.delete(key);
    await expect(open().snapshot()).rejects.toThrow(CorruptCatalogError);
    await expect(open().history()).rejects.toThrow(/catalog commit 1 names the body "_catalog\/commit-bodies\/00000000000000000001\/[0-9a-f]{64}\.json", which is missing/);
  });

  it('turns a missing table into NotFoundError naming it', async () => {
    const store = await tempStore();
    const catalog = new DynamoDbCatalog({ doc, tableName: 'no-such-table', store });
    await expect(catalog.snapshot()).rejects.toThrow(NotFoundError);
    await expect(catalog.history()).rejects.toThrow(/no-such-table/);
  });

  it('fails at once on an access error, and with TransientStorageError on throttling, naming the table', async () => {
    const { open, tableName } = await setup();
    const denied = Object.assign(new Error('User is not authorized to perform: dynamodb:Query'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    jest.spyOn(doc, 'send').mockRejectedValueOnce(denied as never);
    const refused = open().snapshot();
    await expect(refused).rejects.not.toBeInstanceOf(TransientStorageError);
    await expect(refused).rejects.toThrow(`DynamoDB table ${tableName} failed: AccessDeniedException (HTTP 400): User is not authorized to perform: dynamodb:Query`);
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), { name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400 } });
    jest.spyOn(doc, 'send').mockRejectedValueOnce(throttled as never);
    await expect(open().snapshot()).rejects.toBeInstanceOf(TransientStorageError);
  });

  it('validates its props early', () => {
    const store = new FsObjectStore(os.tmpdir());
    expect(() => new DynamoDbCatalog({ doc, tableName: '', store })).toThrow(InvalidInputError);
    expect(() => new DynamoDbCatalog({ doc, tableName: 't', store, checkpointInterval: 0 })).toThrow(InvalidInputError);
    expect(() => new DynamoDbCatalog({ doc, tableName: 't', store, pageSize: 0 })).toThrow(InvalidInputError);
  });
});
