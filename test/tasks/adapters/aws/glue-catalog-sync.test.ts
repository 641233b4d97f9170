import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  BatchUpdatePartitionCommand,
  GetTableCommand,
  GlueClient,
  UpdateTableCommand,
  type BatchCreatePartitionCommandInput,
  type BatchDeletePartitionCommandInput,
  type BatchUpdatePartitionCommandInput,
  type Column as GlueColumn,
  type PartitionError,
  type Table,
  type UpdateTableCommandInput,
} from '@aws-sdk/client-glue';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { CATALOG_TABLE, DynamoDbCatalog, type DynamoDbCatalogProps } from '../../../../tasks/adapters/aws/dynamodb-catalog';
import { GlueCatalogSync, GlueSyncError, manifestFolder, type GlueCatalogSyncProps } from '../../../../tasks/adapters/aws/glue-catalog-sync';
import { FsObjectStore } from '../../../../tasks/adapters/local/fs-object-store';
import type { CatalogChange, CatalogSnapshot, CommitRecord, CommitToken, DataFile } from '../../../../tasks/ports/catalog';
import { TransientStorageError } from '../../../../tasks/ports/errors';
import { commitWithRetry } from '../../../../tasks/shared/commit-with-retry';
import { createTableInput } from '../../../../tasks/tables/definitions';
import { startDynamoDbApiServer, type DynamoDbApiServer } from './dynamodb-api-server';

const glue = mockClient(GlueClient);
const DATABASE = 'lake';
/** The manifests written, by key. */
const manifests = new Map<string, string>();
const s3 = {
  locate: (key: string) => `s3://lake-bucket/${key}`,
  put: async (key: string, body: Buffer | string) => void manifests.set(key, String(body)),
};

const STORAGE: Table['StorageDescriptor'] = {
  Columns: [{ Name: 'click_id', Type: 'string' }],
  Location: 's3://lake-bucket/curated/events/',
  InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
  Compressed: false,
};

const EVENTS: Table = {
  Name: 'events',
  DatabaseName: DATABASE,
  VersionId: '7',
  CreateTime: new Date('2021-07-01T00:00:00Z'),
  UpdateTime: new Date('2021-07-01T00:00:00Z'),
  CreatedBy: 'arn:aws:iam::123456789012:role/cdk',
  IsRegisteredWithLakeFormation: false,
  TableType: 'EXTERNAL_TABLE',
  Parameters: { classification: 'parquet', EXTERNAL: 'TRUE' },
  PartitionKeys: [
    { Name: 'dt', Type: 'string' },
    { Name: 'hr', Type: 'string' },
  ],
  StorageDescriptor: STORAGE,
};

function sync(props: Partial<GlueCatalogSyncProps> = {}): GlueCatalogSync {
  return new GlueCatalogSync({ client: new GlueClient({ region: 'eu-west-1' }), database: DATABASE, store: s3, retryDelayMs: 0, ...props });
}

function record(version: number, changes: CatalogChange[]): CommitRecord {
  return { version, token: { executionId: `run-${version}`, hour: '2021-07-12T05', step: 'merge' }, committedAt: '2021-07-12T06:00:00.000Z', changes };
}

/** The events partition of hour `i` after 2021-07-01T00. */
function hourPartition(i: number): string {
  return `dt=2021-07-${String(1 + Math.floor(i / 24)).padStart(2, '0')}/hr=${String(i % 24).padStart(2, '0')}`;
}

function put(partition: string, location = `curated/events/${partition}/v=0/`, table = 'events'): CatalogChange {
  return { kind: 'putPartition', table, partition, location, files: filesAt(location), properties: {} };
}

function drop(partition: string, table = 'events'): CatalogChange {
  return { kind: 'dropPartition', table, partition };
}

function valuesOf(partition: string): string[] {
  return partition.split('/').map((segment) => segment.slice(segment.indexOf('=') + 1));
}

/** The files `put` gives a partition at `location`. */
function filesAt(location: string): DataFile[] {
  return [{ key: `${location}a.parquet`, size: 1 }];
}

/** The `s3://` URL of the manifest folder of a partition `put` wrote at `location`. */
function manifestUrl(partition: string, location = `curated/events/${partition}/v=0/`, table = 'events'): string {
  return s3.locate(manifestFolder(table, partition, filesAt(location)));
}

function inputOf(partition: string, location = `curated/events/${partition}/v=0/`) {
  return { Values: valuesOf(partition), StorageDescriptor: { ...STORAGE, Location: manifestUrl(partition, location) } };
}

function createInputs(): BatchCreatePartitionCommandInput[] {
  return glue.commandCalls(BatchCreatePartitionCommand).map((call) => call.args[0].input);
}

function updateInputs(): BatchUpdatePartitionCommandInput[] {
  return glue.commandCalls(BatchUpdatePartitionCommand).map((call) => call.args[0].input);
}

function deleteInputs(): BatchDeletePartitionCommandInput[] {
  return glue.commandCalls(BatchDeletePartitionCommand).map((call) => call.args[0].input);
}

function entryError(partition: string, code: string, message = 'refused'): PartitionError {
  return { PartitionValues: valuesOf(partition), ErrorDetail: { ErrorCode: code, ErrorMessage: message } };
}

beforeEach(() => {
  manifests.clear();
  glue.reset();
  glue.on(GetTableCommand).resolves({ Table: EVENTS });
  glue.on(BatchCreatePartitionCommand).resolves({ Errors: [] });
  glue.on(BatchUpdatePartitionCommand).resolves({ Errors: [] });
  glue.on(BatchDeletePartitionCommand).resolves({ Errors: [] });
  glue.on(UpdateTableCommand).resolves({});
});

describe('GlueCatalogSync', () => {
  it('creates 250 new partitions in calls of 100, 100 and 50, each with the table’s storage descriptor at its own s3 location', async () => {
    const partitions = Array.from({ length: 250 }, (_, i) => hourPartition(i));

    const summary = await sync().apply([record(1, partitions.map((partition) => put(partition)))]);

    expect(glue.commandCalls(GetTableCommand).map((call) => call.args[0].input)).toEqual([{ DatabaseName: DATABASE, Name: 'events' }]);
    const creates = createInputs();
    expect(creates.map((input) => input.PartitionInputList!.length)).toEqual([100, 100, 50]);
    expect(creates.every((input) => input.DatabaseName === DATABASE && input.TableName === 'events')).toBe(true);
    expect(creates.flatMap((input) => input.PartitionInputList)).toEqual(partitions.map((partition) => inputOf(partition)));
    const folder = creates[0]!.PartitionInputList![0]!.StorageDescriptor!.Location!;
    expect(folder).toMatch(/^s3:\/\/lake-bucket\/curated\/manifests\/events\/dt=2021-07-01\/hr=00\/[0-9a-f]{16}\/$/);
    // Glue points at the partition's manifest, which names exactly the committed files.
    expect(manifests.get(`${folder.slice('s3://lake-bucket/'.length)}manifest`)).toBe('s3://lake-bucket/curated/events/dt=2021-07-01/hr=00/v=0/a.parquet\n');
    expect(manifests.size).toBe(250);
    expect(glue.commandCalls(BatchUpdatePartitionCommand)).toHaveLength(0);
    expect(glue.commandCalls(BatchDeletePartitionCommand)).toHaveLength(0);
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(0);
    expect(summary).toEqual({ tablesUpdated: 0, partitionsCreated: 250, partitionsUpdated: 0, partitionsDeleted: 0 });
  });

  it('updates the partitions that exist already with BatchUpdatePartition, 100 at a time', async () => {
    const partitions = Array.from({ length: 130 }, (_, i) => hourPartition(i));
    const existing = new Set(partitions.filter((_, i) => i % 13 !== 0));
    glue.on(BatchCreatePartitionCommand).callsFake((input: BatchCreatePartitionCommandInput) => ({
      Errors: input.PartitionInputList!.filter((entry) => existing.has(`dt=${entry.Values![0]}/hr=${entry.Values![1]}`)).map((entry) =>
        entryError(`dt=${entry.Values![0]}/hr=${entry.Values![1]}`, 'AlreadyExistsException', 'Partition already exists.'),
      ),
    }));

    const summary = await sync().apply([record(4, partitions.map((partition) => put(partition, `curated/events/${partition}/v=4/`)))]);

    expect(createInputs().map((input) => input.PartitionInputList!.length)).toEqual([100, 30]);
    const updates = updateInputs();
    expect(updates.map((input) => input.Entries!.length)).toEqual([100, 20]);
    expect(updates.flatMap((input) => input.Entries)).toEqual(
      [...existing].map((partition) => ({ PartitionValueList: valuesOf(partition), PartitionInput: inputOf(partition, `curated/events/${partition}/v=4/`) })),
    );
    expect(updates[0]).toMatchObject({ DatabaseName: DATABASE, TableName: 'events' });
    expect(summary).toEqual({ tablesUpdated: 0, partitionsCreated: 10, partitionsUpdated: 120, partitionsDeleted: 0 });
  });

  it('deletes dropped partitions 25 at a time; a partition already gone counts as deleted', async () => {
    const partitions = Array.from({ length: 60 }, (_, i) => hourPartition(i));
    glue.on(BatchDeletePartitionCommand).resolvesOnce({ Errors: [entryError(partitions[3]!, 'EntityNotFoundException', 'Partition not found.')] }).resolves({ Errors: [] });

    const summary = await sync().apply([record(9, partitions.map((partition) => drop(partition)))]);

    const deletes = deleteInputs();
    expect(deletes.map((input) => input.PartitionsToDelete!.length)).toEqual([25, 25, 10]);
    expect(deletes.flatMap((input) => input.PartitionsToDelete)).toEqual(partitions.map((partition) => ({ Values: valuesOf(partition) })));
    expect(deletes[0]).toMatchObject({ DatabaseName: DATABASE, TableName: 'events' });
    expect(glue.commandCalls(BatchCreatePartitionCommand)).toHaveLength(0);
    expect(summary.partitionsDeleted).toBe(60);
  });

  it('gives Glue the net effect of a range of commits, in version order whatever order they come in', async () => {
    const [a, b, c] = ['dt=2021-07-12/hr=01', 'dt=2021-07-12/hr=02', 'dt=2021-07-12/hr=03'];
    const records = [
      record(1, [put(a!), put(b!)]),
      record(2, [drop(a!), put(b!, `curated/events/${b}/v=2/`)]),
      record(3, [drop(c!), put(c!, `curated/events/${c}/v=3/`), drop(a!)]),
    ];

    await sync().apply([records[2]!, records[0]!, records[1]!]);

    expect(createInputs().flatMap((input) => input.PartitionInputList)).toEqual([inputOf(b!, `curated/events/${b}/v=2/`), inputOf(c!, `curated/events/${c}/v=3/`)]);
    expect(deleteInputs().flatMap((input) => input.PartitionsToDelete)).toEqual([{ Values: valuesOf(a!) }]);
  });

  it('sets columns with UpdateTable at the version read, keeping the partition keys and leaving out columns that are partition keys', async () => {
    const columns = [
      { name: 'click_id', type: 'string' },
      { name: 'event_time', type: 'timestamp', comment: 'client timestamp, UTC' },
      { name: 'dt', type: 'string' },
      { name: 'hr', type: 'string' },
    ];
    const partition = 'dt=2021-07-12/hr=05';

    const summary = await sync().apply([record(1, [{ kind: 'setColumns', table: 'events', columns }, put(partition)])]);

    const wanted: GlueColumn[] = [
      { Name: 'click_id', Type: 'string' },
      { Name: 'event_time', Type: 'timestamp', Comment: 'client timestamp, UTC' },
    ];
    expect(glue.commandCalls(UpdateTableCommand).map((call) => call.args[0].input)).toEqual([
      {
        DatabaseName: DATABASE,
        VersionId: '7',
        TableInput: {
          Name: 'events',
          TableType: 'EXTERNAL_TABLE',
          Parameters: { classification: 'parquet', EXTERNAL: 'TRUE' },
          PartitionKeys: EVENTS.PartitionKeys,
          StorageDescriptor: { ...STORAGE, Columns: wanted },
        },
      } satisfies UpdateTableCommandInput,
    ]);
    // Partitions written in the same pass carry the new columns.
    expect(createInputs()[0]!.PartitionInputList).toEqual([{ Values: valuesOf(partition), StorageDescriptor: { ...STORAGE, Columns: wanted, Location: manifestUrl(partition) } }]);
    expect(summary.tablesUpdated).toBe(1);
  });

  it('leaves a table whose columns are already those untouched', async () => {
    await sync().apply([record(1, [{ kind: 'setColumns', table: 'events', columns: [{ name: 'click_id', type: 'string' }, { name: 'dt', type: 'string' }] }])]);
    expect(glue.commandCalls(GetTableCommand)).toHaveLength(1);
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(0);
  });

  it('reads the table again and retries UpdateTable when another writer changed the table meanwhile', async () => {
    glue.on(GetTableCommand).resolvesOnce({ Table: EVENTS }).resolves({ Table: { ...EVENTS, VersionId: '8' } });
    glue.on(UpdateTableCommand).rejectsOnce(Object.assign(new Error('version mismatch'), { name: 'ConcurrentModificationException', $metadata: { httpStatusCode: 400 } })).resolves({});

    await sync().apply([record(1, [{ kind: 'setColumns', table: 'events', columns: [{ name: 'user_id', type: 'string' }] }])]);

    expect(glue.commandCalls(UpdateTableCommand).map((call) => call.args[0].input.VersionId)).toEqual(['7', '8']);
    expect(glue.commandCalls(GetTableCommand)).toHaveLength(2);
  });

  it('skips tables Glue does not follow, and drift', async () => {
    const drift = { field: 'x', change: 'added' as const, to: 'bigint', partition: '2021-07-12T05', detectedAt: '2021-07-12T06:00:00.000Z', records: 2 };
    const summary = await sync().apply([
      record(1, [
        put('2021-07-12T05', 'raw/2021/07/12/05/', 'raw_events'),
        { kind: 'setColumns', table: 'raw_events', columns: [{ name: 'x', type: 'bigint' }] },
        put('2021-07-12T05', 'raw/2021/07/12/05/', 'raw_ledger'),
        { kind: 'recordDrift', table: 'events', events: [drift] },
      ]),
    ]);
    expect(glue.calls()).toHaveLength(0);
    expect(summary).toEqual({ tablesUpdated: 0, partitionsCreated: 0, partitionsUpdated: 0, partitionsDeleted: 0 });
  });

  it('syncs the tables it is told about, an hour partition as the value of a one-key table', async () => {
    glue.on(GetTableCommand, { Name: 'lake_rejects' }).resolves({
      Table: { Name: 'lake_rejects', PartitionKeys: [{ Name: 'arrival_hour', Type: 'string' }], StorageDescriptor: { Columns: [{ Name: 'reason', Type: 'string' }] } },
    });

    await sync({ tables: { rejects: 'lake_rejects' } }).apply([record(1, [put('2021-07-12T05', 'rejects/arrival_hour=2021-07-12T05/', 'rejects'), put('dt=2021-07-12/hr=05')])]);

    expect(createInputs()).toEqual([
      {
        DatabaseName: DATABASE,
        TableName: 'lake_rejects',
        PartitionInputList: [{ Values: ['2021-07-12T05'], StorageDescriptor: { Columns: [{ Name: 'reason', Type: 'string' }], Location: manifestUrl('2021-07-12T05', 'rejects/arrival_hour=2021-07-12T05/', 'rejects') } }],
      },
    ]);
  });

  it('sends again only the entries that failed with a retryable error', async () => {
    const partitions = Array.from({ length: 5 }, (_, i) => hourPartition(i));
    glue
      .on(BatchCreatePartitionCommand)
      .resolvesOnce({ Errors: [entryError(partitions[1]!, 'ThrottlingException'), entryError(partitions[3]!, 'InternalServiceException')] })
      .resolves({ Errors: [] });
    glue.on(BatchDeletePartitionCommand).resolvesOnce({ Errors: [entryError('dt=2021-07-20/hr=00', 'ConcurrentModificationException')] }).resolves({ Errors: [] });

    const summary = await sync().apply([record(1, [...partitions.map((partition) => put(partition)), drop('dt=2021-07-20/hr=00'), drop('dt=2021-07-20/hr=01')])]);

    expect(createInputs().map((input) => input.PartitionInputList)).toEqual([partitions.map((partition) => inputOf(partition)), [inputOf(partitions[1]!), inputOf(partitions[3]!)]]);
    expect(deleteInputs().map((input) => input.PartitionsToDelete)).toEqual([[{ Values: ['2021-07-20', '00'] }, { Values: ['2021-07-20', '01'] }], [{ Values: ['2021-07-20', '00'] }]]);
    expect(summary).toEqual({ tablesUpdated: 0, partitionsCreated: 5, partitionsUpdated: 0, partitionsDeleted: 2 });
  });

  it('creates again a partition that vanished between its create and its update', async () => {
    const partition = 'dt=2021-07-12/hr=05';
    glue.on(BatchCreatePartitionCommand).resolvesOnce({ Errors: [entryError(partition, 'AlreadyExistsException')] }).resolves({ Errors: [] });
    glue.on(BatchUpdatePartitionCommand).resolvesOnce({ Errors: [{ PartitionValueList: valuesOf(partition), ErrorDetail: { ErrorCode: 'EntityNotFoundException', ErrorMessage: 'gone' } }] });

    await sync().apply([record(1, [put(partition)])]);

    expect(createInputs()).toHaveLength(2);
    expect(updateInputs()).toHaveLength(1);
  });

  it('throws a one-line GlueSyncError naming the partition when Glue refuses an entry', async () => {
    const partitions = Array.from({ length: 3 }, (_, i) => hourPartition(i));
    glue.on(BatchCreatePartitionCommand).resolves({
      Errors: [entryError(partitions[0]!, 'InvalidInputException', 'Location is not\nvalid'), entryError(partitions[2]!, 'ResourceNumberLimitExceededException', 'too many')],
    });

    const applied = sync().apply([record(1, partitions.map((partition) => put(partition)))]);

    await expect(applied).rejects.toBeInstanceOf(GlueSyncError);
    await expect(applied).rejects.toThrow(new GlueSyncError('BatchCreatePartition on Glue table lake.events refused partition "dt=2021-07-01/hr=00": InvalidInputException: Location is not valid (and 1 more)'));
    expect(createInputs()).toHaveLength(1);
  });

  it('gives up with TransientStorageError when retryable errors outlast maxAttempts', async () => {
    const partition = 'dt=2021-07-12/hr=05';
    glue.on(BatchCreatePartitionCommand).resolves({ Errors: [entryError(partition, 'ThrottlingException', 'Rate exceeded')] });

    const applied = sync({ maxAttempts: 3 }).apply([record(1, [put(partition)])]);

    await expect(applied).rejects.toThrow(TransientStorageError);
    await expect(applied).rejects.toThrow(/lake\.events: 1 partitions \(first "dt=2021-07-12\/hr=05"\) still failed with retryable errors after 3 attempts/);
    expect(createInputs()).toHaveLength(3);
  });

  it('refuses what Glue cannot take: a partition name that does not fit the keys, a location that is not in S3, a missing table', async () => {
    await expect(sync().apply([record(1, [put('2021-07-12T05')])])).rejects.toThrow(
      new GlueSyncError(
        'partition "2021-07-12T05" of catalog table events does not fit the partition keys of Glue table lake.events (dt, hr): a name without "=" is the value of a table with one partition key',
      ),
    );
    await expect(sync().apply([record(1, [put('dt=2021-07-12')])])).rejects.toThrow(/expected exactly those keys/);
    await expect(sync({ store: { ...s3, locate: (key) => `/lake/${key}` } }).apply([record(1, [put('dt=2021-07-12/hr=05')])])).rejects.toThrow(/is "\/lake\/curated\/.*" in the store, not an s3:\/\/ URL/);
    glue.on(GetTableCommand).rejects(Object.assign(new Error('Table events not found.'), { name: 'EntityNotFoundException', $metadata: { httpStatusCode: 400 } }));
    await expect(sync().apply([record(1, [put('dt=2021-07-12/hr=05')])])).rejects.toMatchObject({
      name: 'GlueSyncError',
      message: 'GetTable of Glue table lake.events (catalog table events) failed: EntityNotFoundException (HTTP 400): Table events not found.',
    });
    expect(glue.commandCalls(BatchCreatePartitionCommand)).toHaveLength(0);
  });

  it('orders values by the table’s partition keys, whatever order the name gives them in', async () => {
    await sync().apply([record(1, [put('hr=05/dt=2021-07-12', 'curated/x/')])]);
    expect(createInputs()[0]!.PartitionInputList![0]!.Values).toEqual(['2021-07-12', '05']);
  });
});

// DynamoDbCatalog keeping Glue in step: a real DynamoDB API (dynalite) and a Glue that remembers what it was told.

let server: DynamoDbApiServer;
let dynamodb: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tableCount = 0;
const dirs: string[] = [];

/** A Glue database in memory: partitions of `events` by values, the table's columns, and how often each partition was created. */
interface FakeGlue {
  readonly partitions: Map<string, string>;
  readonly created: Map<string, number>;
  columns: GlueColumn[];
  /** The next this-many Glue calls fail as a dead network would. */
  failNext: number;
}

function fakeGlue(): FakeGlue {
  const state: FakeGlue = { partitions: new Map(), created: new Map(), columns: [], failNext: 0 };
  const failing = () => {
    if (state.failNext <= 0) return false;
    state.failNext -= 1;
    return true;
  };
  const network = () => Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
  const key = (values: string[] | undefined) => `dt=${values![0]}/hr=${values![1]}`;
  glue.reset();
  glue.on(GetTableCommand).callsFake(() => {
    if (failing()) throw network();
    return { Table: { ...EVENTS, StorageDescriptor: { ...STORAGE, Columns: state.columns } } };
  });
  glue.on(UpdateTableCommand).callsFake((input: UpdateTableCommandInput) => {
    if (failing()) throw network();
    state.columns = input.TableInput!.StorageDescriptor!.Columns!;
    return {};
  });
  glue.on(BatchCreatePartitionCommand).callsFake((input: BatchCreatePartitionCommandInput) => {
    if (failing()) throw network();
    const Errors: PartitionError[] = [];
    for (const entry of input.PartitionInputList!) {
      const partition = key(entry.Values);
      if (state.partitions.has(partition)) Errors.push(entryError(partition, 'AlreadyExistsException'));
      else {
        state.partitions.set(partition, entry.StorageDescriptor!.Location!);
        state.created.set(partition, (state.created.get(partition) ?? 0) + 1);
      }
    }
    return { Errors };
  });
  glue.on(BatchUpdatePartitionCommand).callsFake((input: BatchUpdatePartitionCommandInput) => {
    if (failing()) throw network();
    const Errors = [];
    for (const entry of input.Entries!) {
      const partition = key(entry.PartitionValueList);
      if (!state.partitions.has(partition)) Errors.push({ PartitionValueList: entry.PartitionValueList, ErrorDetail: { ErrorCode: 'EntityNotFoundException', ErrorMessage: 'gone' } });
      else state.partitions.set(partition, entry.PartitionInput!.StorageDescriptor!.Location!);
    }
    return { Errors };
  });
  glue.on(BatchDeletePartitionCommand).callsFake((input: BatchDeletePartitionCommandInput) => {
    if (failing()) throw network();
    const Errors: PartitionError[] = [];
    for (const entry of input.PartitionsToDelete!) {
      if (!state.partitions.delete(key(entry.Values))) Errors.push(entryError(key(entry.Values), 'EntityNotFoundException'));
    }
    return { Errors };
  });
  return state;
}

/** What Glue should hold for `snapshot`: every events partition at its s3 location. */
function expectedPartitions(snapshot: CatalogSnapshot): Map<string, string> {
  return new Map(Object.entries(snapshot.tables.events?.partitions ?? {}).map(([partition, state]) => [partition, s3.locate(manifestFolder('events', partition, state.files))]));
}

interface CatalogSetup {
  readonly tableName: string;
  open(props?: Partial<DynamoDbCatalogProps>): DynamoDbCatalog;
  /** A catalog that follows in Glue. */
  following(props?: Partial<DynamoDbCatalogProps>): DynamoDbCatalog;
  marker(): Promise<Record<string, unknown> | undefined>;
}

async function catalogSetup(): Promise<CatalogSetup> {
  const tableName = `catalog-glue-${++tableCount}`;
  await dynamodb.send(new CreateTableCommand(createTableInput(CATALOG_TABLE, tableName)));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'glue-catalog-sync-'));
  dirs.push(dir);
  const store = new FsObjectStore(dir);
  const open = (props: Partial<DynamoDbCatalogProps> = {}) => new DynamoDbCatalog({ doc, tableName, store, ...props });
  return {
    tableName,
    open,
    following: (props = {}) => open({ glue: sync(), ...props }),
    marker: async () => (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: '_catalog/#glue', version: 0 }, ConsistentRead: true }))).Item,
  };
}

function token(executionId: string): CommitToken {
  return { executionId, hour: '2021-07-12T05', step: 'merge' };
}

describe('DynamoDbCatalog following in Glue', () => {
  beforeAll(async () => {
    server = await startDynamoDbApiServer();
    ({ client: dynamodb, doc } = server);
  });

  afterAll(async () => {
    await server.close();
    await Promise.all(dirs.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
  });

  it('applies each commit to Glue right after it, and records the version Glue followed', async () => {
    const state = fakeGlue();
    const { following, marker } = await catalogSetup();
    const catalog = following();

    await catalog.commit(0, token('a'), [{ kind: 'setColumns', table: 'events', columns: [{ name: 'click_id', type: 'string' }, { name: 'dt', type: 'string' }] }, put('dt=2021-07-12/hr=05')]);
    expect(state.columns).toEqual([{ Name: 'click_id', Type: 'string' }]);
    expect(state.partitions).toEqual(expectedPartitions(await catalog.snapshot()));
    await catalog.commit(1, token('b'), [put('dt=2021-07-12/hr=05', 'curated/events/dt=2021-07-12/hr=05/v=2/'), put('dt=2021-07-12/hr=06')]);
    await catalog.commit(2, token('c'), [drop('dt=2021-07-12/hr=06')]);

    expect(state.partitions).toEqual(new Map([['dt=2021-07-12/hr=05', manifestUrl('dt=2021-07-12/hr=05', 'curated/events/dt=2021-07-12/hr=05/v=2/')]]));
    expect(await marker()).toEqual({ pk: '_catalog/#glue', version: 0, synced_version: 3 });
  });

  it('catches up after a crash between a commit and Glue: the next commit applies the missed versions exactly once', async () => {
    const state = fakeGlue();
    const { open, following, marker } = await catalogSetup();
    // Two Lambdas that died right after their DynamoDB commit: nothing reached Glue.
    await open().commit(0, token('a'), [put('dt=2021-07-12/hr=01')]);
    await open().commit(1, token('b'), [put('dt=2021-07-12/hr=02'), put('dt=2021-07-12/hr=01', 'curated/events/dt=2021-07-12/hr=01/v=2/')]);
    expect(glue.calls()).toHaveLength(0);

    await following().commit(2, token('c'), [put('dt=2021-07-12/hr=03')]);

    expect(createInputs().flatMap((input) => input.PartitionInputList!.map((entry) => entry.Values))).toEqual([
      ['2021-07-12', '01'],
      ['2021-07-12', '02'],
      ['2021-07-12', '03'],
    ]);
    expect(state.partitions.get('dt=2021-07-12/hr=01')).toBe(manifestUrl('dt=2021-07-12/hr=01', 'curated/events/dt=2021-07-12/hr=01/v=2/'));
    expect(await marker()).toMatchObject({ synced_version: 3 });
    const calls = glue.calls().length;
    // Caught up: reads and retries that find their commit do not apply anything again.
    await following().snapshot();
    expect(await following().findCommit(token('a'))).toMatchObject({ version: 1 });
    expect(glue.calls()).toHaveLength(calls);
  });

  it('fails the commit call but not the commit when Glue fails; the retry finds its commit and catches Glue up', async () => {
    const state = fakeGlue();
    const { following, marker, open } = await catalogSetup();
    state.failNext = 1;

    const first = commitWithRetry(following(), token('a'), () => [put('dt=2021-07-12/hr=05')]);

    await expect(first).rejects.toThrow(TransientStorageError);
    await expect(first).rejects.toThrow(/^catalog version 1 is committed, but Glue does not follow it yet .*GetTable of Glue table lake\.events \(catalog table events\) failed: TimeoutError: socket hang up$/);
    expect((await open().history()).map((commit) => commit.token)).toEqual([token('a')]);
    expect(state.partitions.size).toBe(0);
    expect(await marker()).toEqual({ pk: '_catalog/#glue', version: 0, synced_version: 0 });

    const retried = await commitWithRetry(following(), token('a'), () => {
      throw new Error('must not build again');
    });

    expect(retried).toMatchObject({ version: 1 });
    expect(state.partitions).toEqual(expectedPartitions(await open().snapshot()));
    expect(state.created.get('dt=2021-07-12/hr=05')).toBe(1);
    expect(await marker()).toEqual({ pk: '_catalog/#glue', version: 0, synced_version: 1 });
  });

  it('leaves the sync to the holder of the lease, and takes over once the lease of a dead holder expires', async () => {
    const state = fakeGlue();
    const { following, marker, tableName } = await catalogSetup();
    let now = Date.parse('2021-07-12T06:00:00Z');
    await doc.send(new PutCommand({ TableName: tableName, Item: { pk: '_catalog/#glue', version: 0, synced_version: 0, lease_owner: 'dead', lease_expires_at: now + 60_000 } }));
    const catalog = following({ now: () => new Date(now) });

    await catalog.commit(0, token('a'), [put('dt=2021-07-12/hr=05')]);
    expect(glue.calls()).toHaveLength(0);

    now += 61_000;
    await catalog.snapshot();

    expect(state.partitions).toEqual(new Map([['dt=2021-07-12/hr=05', manifestUrl('dt=2021-07-12/hr=05')]]));
    expect(await marker()).toEqual({ pk: '_catalog/#glue', version: 0, synced_version: 1 });
  });

  it('hands a commit made while another process syncs to that process, which applies it after its own', async () => {
    const state = fakeGlue();
    const { open, following, marker } = await catalogSetup();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const applied: number[][] = [];
    class GatedSync extends GlueCatalogSync {
      override async apply(records: readonly CommitRecord[]) {
        applied.push(records.map((commit) => commit.version));
        await gate;
        return super.apply(records);
      }
    }
    const holder = open({ glue: new GatedSync({ client: new GlueClient({ region: 'eu-west-1' }), database: DATABASE, store: s3 }) });

    const first = holder.commit(0, token('a'), [put('dt=2021-07-12/hr=01')]);
    while (applied.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // The holder is in the middle of its sync: this commit returns at once, leaving Glue to the holder.
    await following().commit(1, token('b'), [put('dt=2021-07-12/hr=02')]);
    expect(glue.calls()).toHaveLength(0);
    release();
    await first;

    expect(applied).toEqual([[1], [2]]);
    expect(state.partitions).toEqual(expectedPartitions(await open().snapshot()));
    expect([...state.created.values()]).toEqual([1, 1]);
    expect(await marker()).toEqual({ pk: '_catalog/#glue', version: 0, synced_version: 2 });
  });

  it('applies every version exactly once when writers commit concurrently', async () => {
    const state = fakeGlue();
    const { following, marker } = await catalogSetup();
    const writers = 6;

    await Promise.all(Array.from({ length: writers }, (_, i) => commitWithRetry(following(), token(`w${i}`), () => [put(`dt=2021-07-12/hr=${String(i).padStart(2, '0')}`)], { attempts: writers })));

    expect([...state.created.values()]).toEqual(Array.from({ length: writers }, () => 1));
    expect(glue.commandCalls(BatchUpdatePartitionCommand)).toHaveLength(0);
    expect(await marker()).toMatchObject({ synced_version: writers });
    expect(state.partitions).toEqual(expectedPartitions(await following().snapshot()));
  });

  it('converges to the version of record whatever calls to Glue failed on the way (property)', async () => {
    const partitionArb = fc.constantFrom('dt=2021-07-12/hr=00', 'dt=2021-07-12/hr=01', 'dt=2021-07-12/hr=02', 'dt=2021-07-13/hr=00');
    const changeArb: fc.Arbitrary<CatalogChange> = fc.oneof(
      fc.tuple(partitionArb, fc.nat(3)).map(([partition, v]) => put(partition, `curated/events/${partition}/v=${v}/`)),
      partitionArb.map((partition) => drop(partition)),
      fc.uniqueArray(fc.constantFrom('a', 'b', 'dt'), { maxLength: 3 }).map((names): CatalogChange => ({ kind: 'setColumns', table: 'events', columns: names.map((name) => ({ name, type: 'string' })) })),
    );
    const stepsArb = fc.array(fc.record({ changes: fc.array(changeArb, { minLength: 1, maxLength: 4 }), glueFailures: fc.nat(3) }), { minLength: 1, maxLength: 8 });

    await fc.assert(
      fc.asyncProperty(stepsArb, async (steps) => {
        const state = fakeGlue();
        const { following, marker } = await catalogSetup();
        for (const [i, { changes, glueFailures }] of steps.entries()) {
          state.failNext = glueFailures;
          // As the workflow retries a failed step: each failure uses up one of the failing Glue calls.
          for (;;) {
            try {
              await commitWithRetry(following(), token(`run-${i}`), () => changes);
              break;
            } catch (error) {
              if (!(error instanceof TransientStorageError)) throw error;
            }
          }
        }
        state.failNext = 0;
        const snapshot = await following().snapshot();

        expect(snapshot.version).toBe(steps.length);
        expect(state.partitions).toEqual(expectedPartitions(snapshot));
        const columns = (snapshot.tables.events?.columns ?? []).filter((column) => column.name !== 'dt').map((column) => ({ Name: column.name, Type: column.type }));
        expect(state.columns).toEqual(columns);
        expect(await marker()).toMatchObject({ synced_version: steps.length });
      }),
      { numRuns: 20 },
    );
  });
});
