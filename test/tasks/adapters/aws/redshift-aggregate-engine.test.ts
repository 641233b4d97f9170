import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CancelStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  RedshiftDataClient,
  ValidationException,
  type ExecuteStatementInput,
} from '@aws-sdk/client-redshift-data';
import { mockClient } from 'aws-sdk-client-mock';
import { RedshiftAggregateEngine, type RedshiftAggregateEngineProps } from '../../../../tasks/adapters/aws/redshift-aggregate-engine';
import { redshiftQuerySql, unloadStatement } from '../../../../tasks/adapters/aws/redshift-unload-sql';
import { FsObjectStore } from '../../../../tasks/adapters/local/fs-object-store';
import { AGGREGATE_QUERY_NAMES, aggregateKey } from '../../../../tasks/aggregate/queries';
import { runAggregate } from '../../../../tasks/aggregate/run';
import type { AggregateUnload } from '../../../../tasks/ports/aggregate-engine';
import { InvalidInputError } from '../../../../tasks/ports/errors';
import { QueryError } from '../../../../tasks/ports/query-engine';
import { buildLake, DAY, EXECUTION } from '../../../queries/fixture';
import { concurrencyProbe, yieldingSleep } from './concurrency-probe';

const BUCKET = 's3://test-lake/';
const ROLE = 'arn:aws:iam::123456789012:role/lake-unload';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The lake directory, located in S3 as the S3 object store will locate it: where UNLOAD writes. */
class S3LocatedFsStore extends FsObjectStore {
  override locate(key: string): string {
    return `${BUCKET}${key}`;
  }
}

const redshift = mockClient(RedshiftDataClient);
const roots: string[] = [];

function newStore(root = mkdtempSync(path.join(os.tmpdir(), 'redshift-aggregate-'))): S3LocatedFsStore {
  roots.push(root);
  return new S3LocatedFsStore(root);
}

/** An engine on a fake clock that only the engine's own sleeps move; `sleeps` records them. */
function newEngine(store: S3LocatedFsStore, props: Partial<RedshiftAggregateEngineProps> = {}) {
  let clock = 0;
  const sleeps: number[] = [];
  const engine = new RedshiftAggregateEngine({
    client: new RedshiftDataClient({ region: 'us-east-1' }),
    store,
    workgroupName: 'lakehouse',
    database: 'dev',
    externalSchema: 'lake',
    iamRole: ROLE,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    ...props,
  });
  return { engine, sleeps };
}

async function openSession(store: S3LocatedFsStore, props: Partial<RedshiftAggregateEngineProps> = {}) {
  const { engine, sleeps } = newEngine(store, props);
  return { session: await engine.open({ snapshot: { version: 7, tables: {} }, executionName: 'exec-1', reads: [] }), sleeps };
}

const JOB: AggregateUnload = {
  query: 'events_by_name',
  period: `${DAY}T05`,
  parameters: {
    hour_start: new Date(`${DAY}T05:00:00Z`),
    hour_end: new Date(`${DAY}T06:00:00Z`),
    day_start: new Date(`${DAY}T05:00:00Z`),
    day_end: new Date(`${DAY}T06:00:00Z`),
    z_threshold: 3,
  },
  reads: { start: new Date(`${DAY}T05:00:00Z`), end: new Date(`${DAY}T06:00:00Z`) },
  outputs: [{ format: 'csv', key: aggregateKey('events_by_name', `${DAY}T05`, 'csv') }],
};
const STAGING = `_staging/aggregates/exec-1/events_by_name/${DAY}T05/`;

/** The key UNLOAD's `TO 's3://...'` names in `sql`. */
function unloadPrefixOf(sql: string): string {
  const url = /\nTO '([^']+)'\n/.exec(sql)?.[1];
  if (!url?.startsWith(BUCKET)) throw new Error(`no TO ${BUCKET}... in ${sql}`);
  return url.slice(BUCKET.length);
}

/** ExecuteStatement as Redshift runs UNLOAD with PARALLEL OFF: `body(prefix)` (none for an empty result) lands at `<prefix>000`. */
function unloadWrites(store: S3LocatedFsStore, body: (prefix: string) => string | undefined) {
  let statements = 0;
  return async (input: ExecuteStatementInput) => {
    const prefix = unloadPrefixOf(input.Sql!);
    const text = body(prefix);
    if (text !== undefined) await store.put(`${prefix}000`, text);
    statements += 1;
    return { Id: `st-${statements}` };
  };
}

async function keysUnder(store: FsObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(prefix)) keys.push(key);
  return keys;
}

beforeEach(() => {
  redshift.reset();
});

afterAll(async () => {
  redshift.restore();
  for (const root of roots) await fs.rm(root, { recursive: true, force: true });
});

describe('RedshiftAggregateEngine', () => {
  it('sends the UNLOAD of the query in its Redshift form through ExecuteStatement, naming the job', async () => {
    const store = newStore();
    redshift.on(ExecuteStatementCommand).callsFake(unloadWrites(store, () => 'hour|event_name|events\n'));
    redshift.on(DescribeStatementCommand).resolves({ Id: 'st-1', Status: 'FINISHED', ResultRows: 0 });
    const { session } = await openSession(store);
    await session.unload(JOB);
    const calls = redshift.commandCalls(ExecuteStatementCommand);
    expect(calls.map((call) => call.args[0].input)).toEqual([
      {
        WorkgroupName: 'lakehouse',
        Database: 'dev',
        Sql: unloadStatement(redshiftQuerySql('events_by_name', JOB.parameters, 'lake', JOB.reads), `${BUCKET}${STAGING}csv/`, ROLE, 'csv'),
        StatementName: `exec-1/aggregate/events_by_name/${DAY}T05/csv`,
        ClientToken: expect.stringMatching(UUID),
      },
    ]);
    // The whole text once, so that a change to any part of it shows here.
    expect(calls[0]!.args[0].input.Sql).toBe(`UNLOAD ('-- events_by_name: how many events of each name happened in an event hour?
-- Grain: one row per (hour, event_name) with at least one event.
-- Parameters: CAST(''2021-07-12 05:00:00'' AS TIMESTAMP), CAST(''2021-07-12 06:00:00'' AS TIMESTAMP) (TIMESTAMP, the event hour [start, end), UTC).
with
events as (select * from "lake".events where dt >= ''2021-07-12'' and dt <= ''2021-07-12'' and (dt > ''2021-07-12'' or hr >= ''05'') and (dt < ''2021-07-12'' or hr <= ''05'')),
users as (select user_id, max(segment) as segment from "lake".users group by user_id),

hour_events as (

    select event_time, event_name
    from events
    where event_time >= CAST(''2021-07-12 05:00:00'' AS TIMESTAMP) and event_time < CAST(''2021-07-12 06:00:00'' AS TIMESTAMP)

),

final as (

    select
        date_trunc(''hour'', event_time) as hour,
        event_name,
        count(*) as events
    from hour_events
    group by date_trunc(''hour'', event_time), event_name

)

select * from final
order by hour, event_name')
TO 's3://test-lake/_staging/aggregates/exec-1/events_by_name/2021-07-12T05/csv/'
IAM_ROLE 'arn:aws:iam::123456789012:role/lake-unload'
CSV DELIMITER AS '|' HEADER ALLOWOVERWRITE PARALLEL OFF`);
  });

  it('sends to a provisioned cluster as its database user, and unloads Parquet when asked', async () => {
    const store = newStore();
    redshift.on(ExecuteStatementCommand).callsFake(unloadWrites(store, (prefix) => prefix));
    redshift.on(DescribeStatementCommand).resolves({ Id: 'st-1', Status: 'FINISHED', ResultRows: 1 });
    const { session } = await openSession(store, { workgroupName: undefined, clusterIdentifier: 'lake-cluster', dbUser: 'aggregator' });
    const parquetKey = aggregateKey('events_by_name', `${DAY}T05`, 'parquet');
    expect(await session.unload({ ...JOB, outputs: [...JOB.outputs, { format: 'parquet', key: parquetKey }] })).toEqual([JOB.outputs[0]!.key, parquetKey]);
    const inputs = redshift.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input);
    expect(inputs.map(({ ClusterIdentifier, DbUser, WorkgroupName, SecretArn, Database }) => ({ ClusterIdentifier, DbUser, WorkgroupName, SecretArn, Database }))).toEqual([
      { ClusterIdentifier: 'lake-cluster', DbUser: 'aggregator', Database: 'dev' },
      { ClusterIdentifier: 'lake-cluster', DbUser: 'aggregator', Database: 'dev' },
    ]);
    expect(inputs[1]!.Sql).toBe(unloadStatement(redshiftQuerySql('events_by_name', JOB.parameters, 'lake', JOB.reads), `${BUCKET}${STAGING}parquet/`, ROLE, 'parquet'));
    expect(inputs[1]!.StatementName).toBe(`exec-1/aggregate/events_by_name/${DAY}T05/parquet`);
    // each output is the file its own UNLOAD staged
    expect((await store.get(parquetKey)).toString()).toBe(`${STAGING}parquet/`);
    expect((await store.get(JOB.outputs[0]!.key)).toString()).toBe(`${STAGING}csv/`);
  });

  it('polls DescribeStatement with a growing wait until the statement finishes, then moves the staged file and cleans the staging prefix', async () => {
    const store = newStore();
    await store.put(`${STAGING}csv/001`, 'left by an earlier attempt');
    await store.put(JOB.outputs[0]!.key, 'the previous result');
    redshift.on(ExecuteStatementCommand).callsFake(unloadWrites(store, () => 'hour|event_name|events\n2021-07-12 05:00:00|Search|4\n'));
    redshift
      .on(DescribeStatementCommand)
      .resolvesOnce({ Id: 'st-1', Status: 'SUBMITTED' })
      .resolvesOnce({ Id: 'st-1', Status: 'STARTED' })
      .resolves({ Id: 'st-1', Status: 'FINISHED', ResultRows: 1 });
    const { session, sleeps } = await openSession(store);
    expect(await session.unload(JOB)).toEqual([JOB.outputs[0]!.key]);
    expect(redshift.commandCalls(DescribeStatementCommand).map((call) => call.args[0].input)).toEqual([{ Id: 'st-1' }, { Id: 'st-1' }, { Id: 'st-1' }]);
    expect(sleeps).toEqual([200, 400, 800]);
    expect((await store.get(JOB.outputs[0]!.key)).toString()).toBe('hour|event_name|events\n2021-07-12 05:00:00|Search|4\n');
    expect(await keysUnder(store, '_staging/')).toEqual([]);
    expect(redshift.commandCalls(CancelStatementCommand)).toHaveLength(0);
  });

  it('waits at most 5 seconds between polls', async () => {
    const store = newStore();
    redshift.on(ExecuteStatementCommand).callsFake(unloadWrites(store, () => 'a\n'));
    const describe = redshift.on(DescribeStatementCommand);
    for (let poll = 0; poll < 7; poll++) describe.resolvesOnce({ Id: 'st-1', Status: 'STARTED' });
    describe.resolves({ Id: 'st-1', Status: 'FINISHED', ResultRows: 1 });
    const { session, sleeps } = await openSession(store);
    await session.unload(JOB);
    expect(sleeps).toEqual([200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it.each(['FAILED', 'ABORTED'] as const)('rejects a %s statement with a QueryError naming the job and giving Redshift\'s error on one line', async (status) => {
    const store = newStore();
    await store.put(JOB.outputs[0]!.key, 'the previous result');
    redshift.on(ExecuteStatementCommand).resolves({ Id: 'st-9' });
    redshift.on(DescribeStatementCommand).resolves({ Id: 'st-9', Status: status, Error: 'ERROR: relation "lake.events" does not exist\n  Detail: schema lake has no table events' });
    const { session } = await openSession(store);
    const error = await session.unload(JOB).then(
      () => undefined,
      (rejected: unknown) => rejected,
    );
    expect(error).toBeInstanceOf(QueryError);
    expect((error as QueryError).name).toBe('QueryError');
    expect((error as QueryError).message).toBe(
      `Redshift aggregate events_by_name for ${DAY}T05 (csv): statement st-9 ${status}: ERROR: relation "lake.events" does not exist Detail: schema lake has no table events`,
    );
    expect((await store.get(JOB.outputs[0]!.key)).toString()).toBe('the previous result');
    expect(redshift.commandCalls(CancelStatementCommand)).toHaveLength(0);
  });

  it('cancels a statement that outruns the time limit, and rejects', async () => {
    const store = newStore();
    redshift.on(ExecuteStatementCommand).resolves({ Id: 'st-3' });
    redshift.on(DescribeStatementCommand).resolves({ Id: 'st-3', Status: 'STARTED' });
    redshift.on(CancelStatementCommand).resolves({ Status: true });
    const { session, sleeps } = await openSession(store, { statementTimeoutMs: 1000 });
    await expect(session.unload(JOB)).rejects.toThrow(new QueryError(`Redshift aggregate events_by_name for ${DAY}T05 (csv): statement st-3 still STARTED after 1 s: cancelled`));
    expect(sleeps).toEqual([200, 400, 400]);
    expect(redshift.commandCalls(CancelStatementCommand).map((call) => call.args[0].input)).toEqual([{ Id: 'st-3' }]);
  });

  it('turns a failed Data API call into a QueryError that keeps the SDK error as its cause', async () => {
    const store = newStore();
    const refused = new ValidationException({ message: 'Workgroup lakehouse not found', $metadata: {} });
    redshift.on(ExecuteStatementCommand).rejects(refused);
    const { session } = await openSession(store);
    const error = (await session.unload(JOB).catch((rejected: unknown) => rejected)) as QueryError;
    expect(error).toBeInstanceOf(QueryError);
    expect(error.message).toBe(`Redshift aggregate events_by_name for ${DAY}T05 (csv): ExecuteStatement failed: ValidationException: Workgroup lakehouse not found`);
    expect(error.cause).toBe(refused);
  });

  /** An UNLOAD that stages no file and reports `resultRows`, over a previous result. */
  async function unloadStagingNothing(resultRows: number) {
    const store = newStore();
    await store.put(JOB.outputs[0]!.key, 'the previous result');
    redshift.on(ExecuteStatementCommand).callsFake(unloadWrites(store, () => undefined));
    redshift.on(DescribeStatementCommand).resolves({ Id: 'st-1', Status: 'FINISHED', ResultRows: resultRows });
    const { session } = await openSession(store);
    return { store, unload: () => session.unload(JOB) };
  }

  it('deletes the previous result when the result is empty, since UNLOAD then writes no file', async () => {
    const { store, unload } = await unloadStagingNothing(0);
    expect(await unload()).toEqual([]);
    expect(await store.exists(JOB.outputs[0]!.key)).toBe(false);
  });

  it('refuses to guess when UNLOAD reports rows but staged no file', async () => {
    const { store, unload } = await unloadStagingNothing(12);
    await expect(unload()).rejects.toThrow(QueryError);
    expect((await store.get(JOB.outputs[0]!.key)).toString()).toBe('the previous result');
  });

  it('validates its settings when built', () => {
    const store = newStore();
    const build = (props: Partial<RedshiftAggregateEngineProps>) => () => newEngine(store, props);
    expect(build({ clusterIdentifier: 'lake-cluster', dbUser: 'aggregator' })).toThrow(InvalidInputError);
    expect(build({ workgroupName: undefined })).toThrow('expected exactly one of workgroupName (Serverless) and clusterIdentifier (provisioned)');
    expect(build({ workgroupName: undefined, clusterIdentifier: 'lake-cluster' })).toThrow('cluster lake-cluster needs exactly one of dbUser and secretArn');
    expect(build({ dbUser: 'aggregator' })).toThrow(InvalidInputError);
    expect(build({ iamRole: "arn:aws:iam::123456789012:role/x' CSV" })).toThrow(InvalidInputError);
    expect(build({ externalSchema: 'Lake' })).toThrow(InvalidInputError);
    expect(build({ stagingPrefix: '_staging' })).toThrow(InvalidInputError);
    expect(build({ store: new FsObjectStore(store.root) })).toThrow('the store must locate it in S3, where UNLOAD writes');
    expect(build({ secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:lake' })).not.toThrow();
  });
});

describe('runAggregate with the Redshift engine', () => {
  it('unloads every planned job through the Data API and moves each file to its aggregate key, leaving staging empty', async () => {
    const lake = await buildLake();
    const store = newStore(lake.root);
    await store.put(aggregateKey('purchase_price_by_segment', `${DAY}T04`, 'csv'), 'a result from before');
    // What each UNLOAD writes names its staging prefix; hour 04 has no purchase, an empty result, so no file.
    redshift.on(ExecuteStatementCommand).callsFake(unloadWrites(store, (prefix) => (prefix.includes(`/purchase_price_by_segment/${DAY}T04/`) ? undefined : `staged|at\n${prefix}\n`)));
    redshift.on(DescribeStatementCommand).resolves({ Status: 'FINISHED' });
    const { engine } = newEngine(store);

    const result = await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, { store, catalog: lake.catalog, engine });

    // Hours 04, 05 and 06 were touched: every hourly query for each, funnel_daily for the day.
    const jobs = AGGREGATE_QUERY_NAMES.flatMap((query) => (query === 'funnel_daily' ? [DAY] : ['04', '05', '06'].map((hr) => `${DAY}T${hr}`)).map((period) => ({ query, period })));
    // Each job once; the step orders them by the events they read, which the Redshift engine does not use.
    expect(redshift.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input.StatementName).sort()).toEqual(
      jobs.map(({ query, period }) => `aggregate-test/aggregate/${query}/${period}/csv`).sort(),
    );
    const expected = jobs.filter(({ query, period }) => !(query === 'purchase_price_by_segment' && period === `${DAY}T04`));
    expect(result).toEqual({
      hours: [`${DAY}T04`, `${DAY}T05`, `${DAY}T06`],
      days: [DAY],
      queries: AGGREGATE_QUERY_NAMES,
      filesWritten: expected.length,
      catalogVersion: (await lake.catalog.snapshot()).version,
    });
    expect(await keysUnder(store, 'aggregates/')).toEqual(expected.map(({ query, period }) => aggregateKey(query, period, 'csv')).sort());
    for (const { query, period } of expected) {
      expect((await store.get(aggregateKey(query, period, 'csv'))).toString()).toBe(`staged|at\n_staging/aggregates/aggregate-test/${query}/${period}/csv/\n`);
    }
    expect(await keysUnder(store, '_staging/')).toEqual([]);
  });

  it.each([1, 3])('runs at most %i of its statements at once', async (concurrency) => {
    const lake = await buildLake();
    const store = newStore(lake.root);
    const probe = concurrencyProbe(concurrency);
    const unload = unloadWrites(store, (prefix) => `staged|at\n${prefix}\n`);
    redshift.on(ExecuteStatementCommand).callsFake(async (input: ExecuteStatementInput) => {
      const started = await unload(input);
      probe.started(started.Id);
      return started;
    });
    redshift.on(DescribeStatementCommand).callsFake(async ({ Id }: { Id: string }) => ({ Status: probe.finished(Id) ? 'FINISHED' : 'STARTED' }));
    const { engine } = newEngine(store, { concurrency, sleep: yieldingSleep });

    const result = await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, { store, catalog: lake.catalog, engine });

    expect(result.filesWritten).toBe(redshift.commandCalls(ExecuteStatementCommand).length);
    expect(probe.most).toBe(concurrency);
  });

  it('runs 8 statements at once unless told otherwise, and refuses a concurrency that is not a whole number of at least 1', async () => {
    expect((await openSession(newStore())).session.concurrency).toBe(8);
    expect(() => newEngine(newStore(), { concurrency: 0 })).toThrow(/concurrency is 0/);
    expect(() => newEngine(newStore(), { concurrency: 2.5 })).toThrow(InvalidInputError);
  });
});
