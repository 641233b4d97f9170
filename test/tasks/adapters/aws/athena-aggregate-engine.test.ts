import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  InvalidRequestException,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type GetQueryResultsOutput,
  type QueryExecutionState,
  type StartQueryExecutionInput,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { AthenaAggregateEngine, athenaRequestToken, type AthenaAggregateEngineProps } from '../../../../tasks/adapters/aws/athena-aggregate-engine';
import { applyAthenaRewrite, athenaDialect, athenaQuerySql, athenaUnloadStatement, ATHENA_REWRITES, checkGlueDatabase } from '../../../../tasks/adapters/aws/athena-query-sql';
import { FsObjectStore } from '../../../../tasks/adapters/local/fs-object-store';
import { AGGREGATE_QUERY_NAMES, aggregateKey, querySql, statementOf, type QueryParameterValues } from '../../../../tasks/aggregate/queries';
import { runAggregate } from '../../../../tasks/aggregate/run';
import type { AggregateUnload } from '../../../../tasks/ports/aggregate-engine';
import { InvalidInputError } from '../../../../tasks/ports/errors';
import { QueryError } from '../../../../tasks/ports/query-engine';
import { buildLake, DAY, EXECUTION, parseCsv } from '../../../queries/fixture';
import { concurrencyProbe, yieldingSleep } from './concurrency-probe';

const BUCKET = 's3://test-lake/';

/** The lake directory, located in S3 as the S3 object store will locate it: where UNLOAD writes. */
class S3LocatedFsStore extends FsObjectStore {
  override locate(key: string): string {
    return `${BUCKET}${key}`;
  }
}

const athena = mockClient(AthenaClient);
const roots: string[] = [];

function tempRoot(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'athena-aggregate-'));
  roots.push(root);
  return root;
}

/** An engine on a fake clock that only the engine's own sleeps move; `sleeps` records them. */
function newEngine(store: FsObjectStore, props: Partial<AthenaAggregateEngineProps> = {}) {
  let clock = 0;
  const sleeps: number[] = [];
  const engine = new AthenaAggregateEngine({
    client: new AthenaClient({ region: 'us-east-1' }),
    store,
    workGroup: 'lakehouse',
    database: 'lake',
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    ...props,
  });
  return { engine, sleeps };
}

async function openSession(store: FsObjectStore, props: Partial<AthenaAggregateEngineProps> = {}, executionName = 'exec-1') {
  const { engine, sleeps } = newEngine(store, props);
  return { session: await engine.open({ snapshot: { version: 7, tables: {} }, executionName, reads: [] }), sleeps };
}

const HOUR_05: QueryParameterValues = {
  hour_start: new Date(`${DAY}T05:00:00Z`),
  hour_end: new Date(`${DAY}T06:00:00Z`),
  day_start: new Date(`${DAY}T05:00:00Z`),
  day_end: new Date(`${DAY}T06:00:00Z`),
  z_threshold: 3,
};
const READS_05 = { start: new Date(`${DAY}T05:00:00Z`), end: new Date(`${DAY}T06:00:00Z`) };
const CSV_KEY = aggregateKey('events_by_name', `${DAY}T05`, 'csv');
const PARQUET_KEY = aggregateKey('events_by_name', `${DAY}T05`, 'parquet');
const JOB: AggregateUnload = { query: 'events_by_name', period: `${DAY}T05`, parameters: HOUR_05, reads: READS_05, outputs: [{ format: 'csv', key: CSV_KEY }] };
const PARQUET_JOB: AggregateUnload = { ...JOB, outputs: [{ format: 'parquet', key: PARQUET_KEY }] };
const SELECT = athenaQuerySql('events_by_name', HOUR_05, 'lake', READS_05);
const STAGING = `_staging/aggregates/exec-1/events_by_name/${DAY}T05/parquet/`;
const CONTEXT = { WorkGroup: 'lakehouse', QueryExecutionContext: { Database: 'lake', Catalog: 'AwsDataCatalog' } };

function tokenOf(format: 'csv' | 'parquet', attempt = 1, executionName = 'exec-1', period = `${DAY}T05`): string {
  return athenaRequestToken({ executionName, query: 'events_by_name', period, format, attempt }, SELECT);
}

/**
 * StartQueryExecution as Athena answers it: one query execution per ClientRequestToken, a known token
 * getting its execution back without running again. A new UNLOAD writes `body(prefix)` (nothing when
 * undefined) into its TO prefix, as `<prefix>20210712_<id>`.
 */
function athenaStarts(store?: FsObjectStore, body: (prefix: string) => string | string[] | undefined = () => 'PAR1') {
  const executions = new Map<string, string>();
  return async (input: StartQueryExecutionInput) => {
    const known = executions.get(input.ClientRequestToken!);
    if (known) return { QueryExecutionId: known };
    const id = `q-${executions.size + 1}`;
    executions.set(input.ClientRequestToken!, id);
    const to = /\nTO '(s3:\/\/[^']+)'\n/.exec(input.QueryString!)?.[1];
    if (input.QueryString!.startsWith('UNLOAD') && store && to) {
      const prefix = to.slice(BUCKET.length);
      const texts = body(prefix);
      for (const [index, text] of (texts === undefined ? [] : [texts].flat()).entries()) await store.put(`${prefix}20210712_${id}_${index}`, text);
    }
    return { QueryExecutionId: id };
  };
}

function execution(state: QueryExecutionState, status: { StateChangeReason?: string; AthenaError?: { Retryable?: boolean; ErrorMessage?: string } } = {}) {
  return { QueryExecution: { Status: { State: state, ...status } } };
}

/** A GetQueryResults page: the labels row first on the first page, as Athena gives a SELECT's result. */
function resultPage(columns: [string, string][], rows: (string | null)[][], options: { labels?: boolean; next?: string } = {}): GetQueryResultsOutput {
  const labels = options.labels === false ? [] : [{ Data: columns.map(([name]) => ({ VarCharValue: name })) }];
  return {
    ResultSet: {
      ResultSetMetadata: { ColumnInfo: columns.map(([Name, Type]) => ({ Name, Type })) },
      Rows: [...labels, ...rows.map((row) => ({ Data: row.map((value) => (value === null ? {} : { VarCharValue: value })) }))],
    },
    ...(options.next === undefined ? {} : { NextToken: options.next }),
  };
}

const EVENTS_BY_NAME_COLUMNS: [string, string][] = [
  ['hour', 'timestamp'],
  ['event_name', 'varchar'],
  ['events', 'bigint'],
];

/** Every command sent to Athena, in order, by name with its input. */
function commandsSent(): { command: string; input: unknown }[] {
  const names = new Map<unknown, string>([
    [StartQueryExecutionCommand, 'StartQueryExecution'],
    [GetQueryExecutionCommand, 'GetQueryExecution'],
    [GetQueryResultsCommand, 'GetQueryResults'],
    [StopQueryExecutionCommand, 'StopQueryExecution'],
  ]);
  return athena.calls().map((call) => {
    const command = call.args[0] as { constructor: unknown; input: unknown };
    return { command: names.get(command.constructor) ?? 'unknown', input: command.input };
  });
}

async function keysUnder(store: FsObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(prefix)) keys.push(key);
  return keys;
}

function codeOf(sql: string): string {
  return sql.replace(/--[^\n]*/g, '').replace(/'(?:[^']|'')*'/g, "''");
}

beforeEach(() => {
  athena.reset();
});

afterAll(async () => {
  athena.restore();
  for (const root of roots) await fs.rm(root, { recursive: true, force: true });
});

describe('athenaQuerySql', () => {
  it('gives the query in Athena form: literals for its parameters, events and users over the Glue database, events pruned to its partitions', () => {
    // The whole text once, so that a change to any part of it shows here.
    expect(SELECT).toBe(`-- events_by_name: how many events of each name happened in an event hour?
-- Grain: one row per (hour, event_name) with at least one event.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with
events as (select * from "lake"."events" where dt >= '2021-07-12' and dt <= '2021-07-12' and (dt > '2021-07-12' or hr >= '05') and (dt < '2021-07-12' or hr <= '05')),
users as (select user_id, max(segment) as segment from "lake"."users" group by user_id),

hour_events as (

    select event_time, event_name
    from events
    where event_time >= TIMESTAMP '2021-07-12 05:00:00' and event_time < TIMESTAMP '2021-07-12 06:00:00'

),

final as (

    select
        date_trunc('hour', event_time) as hour,
        event_name,
        count(*) as events
    from hour_events
    group by date_trunc('hour', event_time), event_name

)

select * from final
order by hour, event_name`);
  });

  it('reads the partitions of the hours its window overlaps, across midnight too', () => {
    const sql = athenaQuerySql('traffic_anomalies', HOUR_05, 'lake', { start: new Date('2021-07-11T05:00:00Z'), end: new Date('2021-07-12T06:00:00Z') });
    expect(sql).toContain(`events as (select * from "lake"."events" where dt >= '2021-07-11' and dt <= '2021-07-12' and (dt > '2021-07-11' or hr >= '05') and (dt < '2021-07-12' or hr <= '05'))`);
  });

  it('writes a whole number as it is, another as a DOUBLE in exponent form, a negative one in parentheses, and refuses one that is not finite', () => {
    const anomalies = (z: number) => codeOf(athenaQuerySql('traffic_anomalies', { ...HOUR_05, z_threshold: z }, 'lake', READS_05));
    expect(anomalies(3)).toMatch(/abs\(z_score\) > 3 then/);
    expect(anomalies(2.5)).toMatch(/abs\(z_score\) > 2\.5e\+0 then/);
    expect(anomalies(-1)).toMatch(/abs\(z_score\) > \(-1\) then/);
    expect(() => anomalies(Number.NaN)).toThrow(InvalidInputError);
    expect(() => anomalies(Number.POSITIVE_INFINITY)).toThrow('$z_threshold is Infinity: expected a finite number');
  });

  it('refuses an invalid Date and a Glue database that is not a plain lowercase name', () => {
    expect(() => athenaQuerySql('events_by_name', { ...HOUR_05, hour_start: new Date(Number.NaN) }, 'lake', READS_05)).toThrow(InvalidInputError);
    for (const database of ['Lake', 'lake.events', 'lake"; drop table x; --', '']) {
      expect(() => athenaQuerySql('events_by_name', HOUR_05, database, READS_05)).toThrow(InvalidInputError);
      expect(() => checkGlueDatabase(database)).toThrow(`invalid Glue database "${database}"`);
    }
  });

  // Trino's reserved keywords (trino.io/docs/current/language/reserved.html): none may name a CTE or a column unquoted.
  const TRINO_RESERVED = new Set(
    `alter and as between by case cast constraint create cross cube current_catalog current_date current_path current_role current_schema
     current_time current_timestamp current_user deallocate delete describe distinct drop else end escape except execute exists extract false
     for from full group grouping having in inner insert intersect into is join json_array json_exists json_object json_query json_table
     json_value left like listagg localtime localtimestamp natural normalize not null on or order outer prepare recursive right rollup select
     skip table then trim true uescape union unnest using values when where with`.split(/\s+/),
  );

  it.each(AGGREGATE_QUERY_NAMES)('puts %s in a form Athena takes', (name) => {
    const sql = athenaQuerySql(name, HOUR_05, 'lake', READS_05);
    const code = codeOf(sql);
    expect(code).not.toMatch(/\$[a-z_]/i); // every parameter a literal
    expect(code).not.toContain('::');
    expect(sql).not.toMatch(/\binterval\s+'\d+\s+[a-z]+'/i); // the unit outside the string
    expect(code).not.toMatch(/\binterval\b(?!\s+''\s+(?:SECOND|MINUTE|HOUR|DAY)\b)/i);
    expect(code).not.toMatch(/(?<![\w.])\d+\.\d+(?![\w.eE])/); // no DECIMAL literal
    expect(code).not.toMatch(/\bextract\s*\(\s*epoch\b/i);
    expect(code).not.toMatch(/\b(?:datediff|date_part|strftime|epoch|epoch_ms)\s*\(|\bqualify\b|\bilike\b|\/\//i);
    expect(sql).toMatch(/^(--[^\n]*\n)*with\nevents as \(select \* from "lake"\."events" where [^\n]*\),\nusers as \(/);
    expect(sql).not.toMatch(/;\s*$/);
    const defined = [...code.matchAll(/\bas\s+([a-z_][a-z0-9_]*)|\b([a-z_][a-z0-9_]*)\s+as\s*\(/gi)].map((match) => (match[1] ?? match[2])!.toLowerCase());
    expect(defined.filter((word) => TRINO_RESERVED.has(word))).toEqual([]);
  });
});

describe('Athena dialect rewrites', () => {
  const rule = (name: string) => ATHENA_REWRITES.find((candidate) => candidate.name === name)!;

  it.each([
    ['interval-literal', "t - interval '4 minutes' and t + interval '1 hour'", "t - INTERVAL '4' MINUTE and t + INTERVAL '1' HOUR"],
    ['interval-literal', "n * interval '1 minute', t - interval '24 hours', interval '10 seconds', interval '2 days'", "n * INTERVAL '1' MINUTE, t - INTERVAL '24' HOUR, INTERVAL '10' SECOND, INTERVAL '2' DAY"],
    ['interval-literal', "t - INTERVAL '30' MINUTE", "t - INTERVAL '30' MINUTE"],
    ['interval-literal', "select '4 minutes' as text -- interval '4 minutes'", "select '4 minutes' as text -- interval '4 minutes'"],
    ['decimal-literal-as-double', 'sum(x) / 24.0 + y / (2000.0 * n)', 'sum(x) / 24.0E0 + y / (2000.0E0 * n)'],
    ['decimal-literal-as-double', "cast(x as decimal(18, 2)), 2.0E0, 1.5e3, t.c1, '1.5' -- 127.235", "cast(x as decimal(18, 2)), 2.0E0, 1.5e3, t.c1, '1.5' -- 127.235"],
    ['extract-epoch', 'round(extract(epoch from (ended_at - started_at)) * 1000000)', 'round((to_milliseconds((ended_at - started_at)) / 1E3) * 1000000)'],
    ['extract-epoch', 'EXTRACT( EPOCH FROM max(t) - min(t) ) + extract(hour from t)', '(to_milliseconds(max(t) - min(t)) / 1E3) + extract(hour from t)'],
  ])('%s rewrites %s', (name, sql, expected) => {
    expect(applyAthenaRewrite(sql, rule(name), 'q')).toBe(expected);
  });

  it.each(ATHENA_REWRITES.map(({ name }) => name))('%s is used by at least one query', (name) => {
    const changed = AGGREGATE_QUERY_NAMES.filter((query) => {
      const sql = statementOf(querySql(query, 'athena'));
      return applyAthenaRewrite(sql, rule(name), query) !== sql;
    });
    expect(changed.length).toBeGreaterThan(0);
  });

  it('leaves no construct of the rewrites behind in any query, and a second pass changes nothing', () => {
    for (const query of AGGREGATE_QUERY_NAMES) {
      const once = athenaDialect(statementOf(querySql(query, 'athena')), query);
      expect(athenaDialect(once, query)).toBe(once);
      for (const { name } of ATHENA_REWRITES) expect(applyAthenaRewrite(once, rule(name), query)).toBe(once);
    }
  });

  it('refuses an interval it has no Athena form for', () => {
    expect(() => applyAthenaRewrite("t - interval '1 month'", rule('interval-literal'), 'q')).toThrow("aggregate query q: interval '1 month' has no Athena form here");
    expect(() => applyAthenaRewrite("t - interval '1.5 hours'", rule('interval-literal'), 'q')).toThrow(Error);
    expect(() => applyAthenaRewrite('extract(epoch from (a - b)', rule('extract-epoch'), 'q')).toThrow('aggregate query q: unbalanced parentheses');
  });

  it.each([
    ['x::bigint', 'a `::` cast'],
    ['datediff(second, a, b)', 'datediff()'],
    ['date_part(\'hour\', t)', 'date_part()'],
    ["strftime(t, '%H')", 'strftime()'],
    ['epoch_ms(t)', 'epoch()'],
    ['row_number() over () as n from t qualify n = 1', 'QUALIFY'],
    ["name ilike 'a%'", 'ILIKE'],
    ['a // 2', '`//` integer division'],
    ['count(*) from t group by all', 'GROUP BY ALL'],
    ['t - interval 5 minute', 'an interval not of the form'],
    ['x * .5', 'a decimal literal the rewrite does not take'],
  ])('refuses %s, which no rewrite covers', (expression, what) => {
    expect(() => athenaDialect(`select ${expression}`, 'q')).toThrow(`aggregate query q uses ${what}`);
    expect(() => athenaDialect(`select ${expression}`, 'q')).toThrow('add queries/q.athena.sql');
  });

  it('does not look into comments and strings for what it refuses', () => {
    const sql = "-- casts like x::int, a // b\nselect 's3://lake/x::y' as url, \"a::b\" from t";
    expect(athenaDialect(sql, 'q')).toBe(sql);
  });
});

describe('athenaUnloadStatement', () => {
  it('wraps the select unquoted on lines of its own, and writes Parquet to the location, its quotes doubled', () => {
    expect(athenaUnloadStatement("select 'a' as x -- last", "s3://lake/_staging/it's/")).toBe(
      ["UNLOAD (", "select 'a' as x -- last", ')', "TO 's3://lake/_staging/it''s/'", "WITH (format = 'PARQUET')"].join('\n'),
    );
  });

  it('refuses a location that is not an s3:// prefix', () => {
    expect(() => athenaUnloadStatement('select 1', '/tmp/lake/')).toThrow(InvalidInputError);
    expect(() => athenaUnloadStatement('select 1', 's3://lake/key')).toThrow('expected an s3:// prefix ending with /');
  });
});

describe('AthenaAggregateEngine', () => {
  it('runs a plain SELECT of the query in its Athena form in the workgroup and database, then reads its result', async () => {
    const store = new FsObjectStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, [['2021-07-12 05:00:00.000', 'Search', '4']]));
    const { session } = await openSession(store);
    expect(await session.unload(JOB)).toEqual([CSV_KEY]);
    expect(commandsSent()).toEqual([
      { command: 'StartQueryExecution', input: { QueryString: SELECT, ClientRequestToken: tokenOf('csv'), ...CONTEXT } },
      { command: 'GetQueryExecution', input: { QueryExecutionId: 'q-1' } },
      { command: 'GetQueryResults', input: { QueryExecutionId: 'q-1', MaxResults: 1000 } },
    ]);
    expect((await store.get(CSV_KEY)).toString()).toBe('hour|event_name|events\n2021-07-12 05:00:00|Search|4\n');
  });

  it('derives a client request token that a retry of the step repeats, and that differs per execution, period, format and attempt', async () => {
    const store = new FsObjectStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, []));
    await (await openSession(store)).session.unload(JOB);
    await (await openSession(store)).session.unload(JOB); // the step again, in the same workflow execution
    await (await openSession(store, {}, 'exec-2')).session.unload(JOB);
    const starts = athena.commandCalls(StartQueryExecutionCommand).map((call) => call.args[0].input);
    expect(starts[1]).toEqual(starts[0]);
    expect(starts[2]!.ClientRequestToken).not.toBe(starts[0]!.ClientRequestToken);
    expect(athena.commandCalls(GetQueryResultsCommand).map((call) => call.args[0].input.QueryExecutionId)).toEqual(['q-1', 'q-1', 'q-2']);
    const tokens = [tokenOf('csv'), tokenOf('csv', 2), tokenOf('parquet'), tokenOf('csv', 1, 'exec-2'), tokenOf('csv', 1, 'exec-1', `${DAY}T06`)];
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(starts[0]!.ClientRequestToken).toBe(tokens[0]);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{64}$/); // Athena: 32 to 128 characters
    expect(athenaRequestToken({ executionName: 'exec-1', query: 'events_by_name', period: `${DAY}T05`, format: 'csv', attempt: 1 }, `${SELECT} `)).not.toBe(tokens[0]);
  });

  it('polls GetQueryExecution with a growing wait until the query succeeds', async () => {
    const store = new FsObjectStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolvesOnce(execution('QUEUED')).resolvesOnce(execution('RUNNING')).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, []));
    const { session, sleeps } = await openSession(store);
    await session.unload(JOB);
    expect(commandsSent().map(({ command }) => command)).toEqual(['StartQueryExecution', 'GetQueryExecution', 'GetQueryExecution', 'GetQueryExecution', 'GetQueryResults']);
    expect(athena.commandCalls(GetQueryExecutionCommand).map((call) => call.args[0].input)).toEqual([{ QueryExecutionId: 'q-1' }, { QueryExecutionId: 'q-1' }, { QueryExecutionId: 'q-1' }]);
    expect(sleeps).toEqual([200, 400, 800]);
  });

  it('waits at most 5 seconds between polls', async () => {
    const store = new FsObjectStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    const polls = athena.on(GetQueryExecutionCommand);
    for (let poll = 0; poll < 7; poll++) polls.resolvesOnce(execution('RUNNING'));
    polls.resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, []));
    const { session, sleeps } = await openSession(store);
    await session.unload(JOB);
    expect(sleeps).toEqual([200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it("rejects a FAILED query with a QueryError naming the query and period and giving Athena's reason on one line", async () => {
    const store = new FsObjectStore(tempRoot());
    await store.put(CSV_KEY, 'the previous result');
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(
      execution('FAILED', { StateChangeReason: "TABLE_NOT_FOUND: line 5:26: Table 'awsdatacatalog.lake.events'\n does not exist", AthenaError: { Retryable: false } }),
    );
    const { session } = await openSession(store);
    const error = (await session.unload(JOB).catch((rejected: unknown) => rejected)) as QueryError;
    expect(error).toBeInstanceOf(QueryError);
    expect(error.name).toBe('QueryError');
    expect(error.message).toBe(`Athena aggregate events_by_name for ${DAY}T05 (csv): query q-1 FAILED: TABLE_NOT_FOUND: line 5:26: Table 'awsdatacatalog.lake.events' does not exist`);
    expect(commandsSent().map(({ command }) => command)).toEqual(['StartQueryExecution', 'GetQueryExecution']);
    expect((await store.get(CSV_KEY)).toString()).toBe('the previous result');
  });

  it('rejects a CANCELLED query', async () => {
    const store = new FsObjectStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(execution('CANCELLED', { StateChangeReason: 'Query cancelled by user' }));
    const { session } = await openSession(store);
    await expect(session.unload(JOB)).rejects.toThrow(new QueryError(`Athena aggregate events_by_name for ${DAY}T05 (csv): query q-1 CANCELLED: Query cancelled by user`));
    expect(athena.commandCalls(StopQueryExecutionCommand)).toHaveLength(0);
  });

  it('starts a new execution, under the next token, after a failure Athena calls retryable; at most three', async () => {
    const store = new FsObjectStore(tempRoot());
    const slowDown = execution('FAILED', { StateChangeReason: 'HIVE_CURSOR_ERROR: Please reduce your request rate.', AthenaError: { Retryable: true } });
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand, { QueryExecutionId: 'q-1' }).resolves(slowDown).on(GetQueryExecutionCommand, { QueryExecutionId: 'q-2' }).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, [['2021-07-12 05:00:00.000', 'Search', '4']]));
    expect(await (await openSession(store)).session.unload(JOB)).toEqual([CSV_KEY]);
    expect(athena.commandCalls(StartQueryExecutionCommand).map((call) => call.args[0].input.ClientRequestToken)).toEqual([tokenOf('csv', 1), tokenOf('csv', 2)]);
    expect(athena.commandCalls(GetQueryResultsCommand).map((call) => call.args[0].input.QueryExecutionId)).toEqual(['q-2']);

    athena.reset();
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(slowDown);
    await expect((await openSession(store)).session.unload(JOB)).rejects.toThrow(
      `Athena aggregate events_by_name for ${DAY}T05 (csv): query q-3 FAILED (execution 3 of at most 3): HIVE_CURSOR_ERROR: Please reduce your request rate.`,
    );
    expect(athena.commandCalls(StartQueryExecutionCommand).map((call) => call.args[0].input.ClientRequestToken)).toEqual([1, 2, 3].map((attempt) => tokenOf('csv', attempt)));
  });

  it('stops a query that outruns the time limit, and rejects', async () => {
    const store = new FsObjectStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(execution('RUNNING'));
    athena.on(StopQueryExecutionCommand).resolves({});
    const { session, sleeps } = await openSession(store, { queryTimeoutMs: 1000 });
    await expect(session.unload(JOB)).rejects.toThrow(new QueryError(`Athena aggregate events_by_name for ${DAY}T05 (csv): query q-1 still RUNNING after 1 s: stopped`));
    expect(sleeps).toEqual([200, 400, 400]);
    expect(commandsSent().slice(-2)).toEqual([
      { command: 'GetQueryExecution', input: { QueryExecutionId: 'q-1' } },
      { command: 'StopQueryExecution', input: { QueryExecutionId: 'q-1' } },
    ]);
    expect(await store.exists(CSV_KEY)).toBe(false);
  });

  it('turns a failed Athena call into a QueryError that keeps the SDK error as its cause', async () => {
    const store = new FsObjectStore(tempRoot());
    const refused = new InvalidRequestException({ message: 'WorkGroup lakehouse is not found.', $metadata: {} });
    athena.on(StartQueryExecutionCommand).rejects(refused);
    const { session } = await openSession(store);
    const error = (await session.unload(JOB).catch((rejected: unknown) => rejected)) as QueryError;
    expect(error).toBeInstanceOf(QueryError);
    expect(error.message).toBe(`Athena aggregate events_by_name for ${DAY}T05 (csv): StartQueryExecution failed: InvalidRequestException: WorkGroup lakehouse is not found.`);
    expect(error.cause).toBe(refused);
  });

  it('writes the result as the local engine writes CSV: |, a header, NULL empty, "" for an empty string, quotes where needed, timestamps to the second', async () => {
    const store = new FsObjectStore(tempRoot()); // CSV needs no S3 location
    await store.put(CSV_KEY, 'the previous result');
    const columns: [string, string][] = [['hour', 'timestamp'], ['user_id', 'varchar'], ['country', 'varchar'], ['events', 'bigint'], ['revenue', 'decimal']];
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena
      .on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', MaxResults: 1000 })
      .resolves(
        resultPage(
          columns,
          [
            ['2021-07-12 05:00:00.000', 'u1', null, '3', '12.50'],
            ['2021-07-12 05:00:00.000', '', 'GB', '1', null],
          ],
          { next: 'page-2' },
        ),
      )
      .on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', MaxResults: 1000, NextToken: 'page-2' })
      .resolves(
        resultPage(
          columns,
          [
            ['2021-07-12 05:00:00', 'u|"8"', 'say "hi"', '2', '-0.25'],
            ['2021-07-12 05:00:00.123', 'two\nlines', 'a\r', '1', '0.00'],
          ],
          { labels: false },
        ),
      );
    const { session } = await openSession(store);
    expect(await session.unload(JOB)).toEqual([CSV_KEY]);
    expect((await store.get(CSV_KEY)).toString()).toBe(
      [
        'hour|user_id|country|events|revenue',
        '2021-07-12 05:00:00|u1||3|12.50',
        '2021-07-12 05:00:00|""|GB|1|',
        '2021-07-12 05:00:00|"u|""8"""|"say ""hi"""|2|-0.25',
        '2021-07-12 05:00:00|"two\nlines"|"a\r"|1|0.00',
        '',
      ].join('\n'),
    );
    expect(athena.commandCalls(GetQueryResultsCommand).map((call) => call.args[0].input)).toEqual([
      { QueryExecutionId: 'q-1', MaxResults: 1000 },
      { QueryExecutionId: 'q-1', MaxResults: 1000, NextToken: 'page-2' },
    ]);
  });

  it('writes a header alone for an empty result, as the local engine does, replacing the previous result', async () => {
    const store = new FsObjectStore(tempRoot());
    await store.put(CSV_KEY, 'the previous result');
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, []));
    expect(await (await openSession(store)).session.unload(JOB)).toEqual([CSV_KEY]);
    expect((await store.get(CSV_KEY)).toString()).toBe('hour|event_name|events\n');
  });

  it('takes a first row that is not the column labels for data, and refuses a value that is no timestamp in a timestamp column', async () => {
    const store = new FsObjectStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts());
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).resolvesOnce(resultPage(EVENTS_BY_NAME_COLUMNS, [['2021-07-12 05:00:00.000', 'Search', '4']], { labels: false }));
    await (await openSession(store)).session.unload(JOB);
    expect((await store.get(CSV_KEY)).toString()).toBe('hour|event_name|events\n2021-07-12 05:00:00|Search|4\n');
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, [['12/07/2021', 'Search', '4']]));
    await expect((await openSession(store)).session.unload(JOB)).rejects.toThrow('column hour holds "12/07/2021": expected a timestamp');
  });

  it('UNLOADs Parquet to a staging prefix of its query execution and moves the one file to its key', async () => {
    const store = new S3LocatedFsStore(tempRoot());
    await store.put(PARQUET_KEY, 'the previous result');
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts(store, (prefix) => `parquet staged at ${prefix}`));
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    const { session } = await openSession(store);
    expect(await session.unload(PARQUET_JOB)).toEqual([PARQUET_KEY]);
    const data = `${STAGING}${tokenOf('parquet').slice(0, 16)}/data/`;
    expect(commandsSent()).toEqual([
      { command: 'StartQueryExecution', input: { QueryString: athenaUnloadStatement(SELECT, `${BUCKET}${data}`), ClientRequestToken: tokenOf('parquet'), ...CONTEXT } },
      { command: 'GetQueryExecution', input: { QueryExecutionId: 'q-1' } },
    ]);
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.QueryString).toBe(
      `UNLOAD (\n${SELECT}\n)\nTO 's3://test-lake/_staging/aggregates/exec-1/events_by_name/${DAY}T05/parquet/${tokenOf('parquet').slice(0, 16)}/data/'\nWITH (format = 'PARQUET')`,
    );
    expect((await store.get(PARQUET_KEY)).toString()).toBe(`parquet staged at ${data}`);
    // only the marker that tells a retry of the step the file has moved
    expect(await keysUnder(store, '_staging/')).toEqual([`${STAGING}${tokenOf('parquet').slice(0, 16)}/moved`]);
  });

  it('keeps the moved Parquet when a retry of the step gets back the execution that wrote it', async () => {
    const store = new S3LocatedFsStore(tempRoot());
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts(store, () => 'the parquet'));
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    expect(await (await openSession(store)).session.unload(PARQUET_JOB)).toEqual([PARQUET_KEY]);
    expect(await (await openSession(store)).session.unload(PARQUET_JOB)).toEqual([PARQUET_KEY]);
    const starts = athena.commandCalls(StartQueryExecutionCommand).map((call) => call.args[0].input);
    expect(starts).toHaveLength(2);
    expect(starts[1]).toEqual(starts[0]);
    expect((await store.get(PARQUET_KEY)).toString()).toBe('the parquet');
  });

  it('deletes the previous Parquet when UNLOAD writes no file for an empty result', async () => {
    const store = new S3LocatedFsStore(tempRoot());
    await store.put(PARQUET_KEY, 'the previous result');
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts(store, () => undefined));
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    expect(await (await openSession(store)).session.unload(PARQUET_JOB)).toEqual([]);
    expect(await store.exists(PARQUET_KEY)).toBe(false);
    expect(await keysUnder(store, '_staging/')).toEqual([]);
  });

  it('refuses to pick one of several files UNLOAD wrote', async () => {
    const store = new S3LocatedFsStore(tempRoot());
    await store.put(PARQUET_KEY, 'the previous result');
    athena.on(StartQueryExecutionCommand).callsFake(athenaStarts(store, () => ['part one', 'part two']));
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    await expect((await openSession(store)).session.unload(PARQUET_JOB)).rejects.toThrow(new RegExp(`^Athena aggregate events_by_name for ${DAY}T05 \\(parquet\\): UNLOAD \\(query q-1\\) wrote 2 files under`));
    expect((await store.get(PARQUET_KEY)).toString()).toBe('the previous result');
  });

  it('needs a store that locates the staging prefix in S3 for Parquet only', async () => {
    const store = new FsObjectStore(tempRoot());
    await expect((await openSession(store)).session.unload(PARQUET_JOB)).rejects.toThrow(InvalidInputError);
    expect(commandsSent()).toEqual([]);
  });

  it('validates its settings when built', () => {
    const store = new FsObjectStore(tempRoot());
    const build = (props: Partial<AthenaAggregateEngineProps>) => () => newEngine(store, props);
    expect(build({ workGroup: '' })).toThrow(InvalidInputError);
    expect(build({ workGroup: 'lake house' })).toThrow('invalid workGroup "lake house"');
    expect(build({ database: 'Lake' })).toThrow('invalid Glue database "Lake"');
    expect(build({ catalog: '' })).toThrow(InvalidInputError);
    expect(build({ stagingPrefix: '_staging' })).toThrow('must be a key prefix ending with /');
    expect(build({ queryTimeoutMs: 0 })).toThrow('queryTimeoutMs is 0: expected a positive number');
    expect(build({ catalog: 'lake_catalog', stagingPrefix: 'tmp/', queryTimeoutMs: 1 })).not.toThrow();
  });
});

describe('runAggregate with the Athena engine', () => {
  it('writes, for every planned job, the very bytes the local engine writes, from the rows Athena would give', async () => {
    const lake = await buildLake();
    roots.push(lake.root);
    const input = { executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched };
    await runAggregate(input, lake); // the local engine
    const local = new Map<string, string>();
    for await (const { key } of lake.store.list('aggregates/')) local.set(key, (await lake.store.get(key)).toString());

    // Athena's answer to each query: the local result's rows as GetQueryResults gives them, timestamps with milliseconds, NULL without a value.
    const queries = new Map<string, string>();
    const starts = athenaStarts();
    athena.on(StartQueryExecutionCommand).callsFake(async (started: StartQueryExecutionInput) => {
      const { QueryExecutionId } = await starts(started);
      const sql = started.QueryString!;
      const query = /^-- ([a-z_0-9]+):/.exec(sql)![1]!;
      // the first literal is $hour_start, or $day_start for the day-level query
      const start = /TIMESTAMP '(\d{4}-\d{2}-\d{2}) (\d{2})/.exec(sql.replace(/--[^\n]*/g, ''))!;
      queries.set(QueryExecutionId, aggregateKey(query, query === 'funnel_daily' ? start[1]! : `${start[1]}T${start[2]}`, 'csv'));
      return { QueryExecutionId };
    });
    athena.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athena.on(GetQueryResultsCommand).callsFake(async ({ QueryExecutionId }: { QueryExecutionId: string }) => {
      const { header, rows } = parseCsv(local.get(queries.get(QueryExecutionId)!)!);
      const types = header.map((name): [string, string] => [name, ['hour', 'minute', 'day'].includes(name) ? 'timestamp' : 'varchar']);
      return resultPage(types, rows.map((row) => row.map((value, index) => (value !== null && types[index]![1] === 'timestamp' ? `${value}.000` : value))));
    });
    for (const key of local.keys()) await lake.store.delete(key);

    const { engine } = newEngine(lake.store);
    const result = await runAggregate(input, { ...lake, engine });

    expect(result.filesWritten).toBe(local.size);
    const tokens = athena.commandCalls(StartQueryExecutionCommand).map((call) => call.args[0].input.ClientRequestToken);
    expect(new Set(tokens).size).toBe(local.size); // one execution per job, none shared
    expect(new Set(queries.values()).size).toBe(local.size);
    for (const [key, text] of local) expect([key, (await lake.store.get(key)).toString()]).toEqual([key, text]);
    expect(await keysUnder(lake.store, '_staging/')).toEqual([]);
    // the fixture's awkward values went through: a user id that needs quoting, a NULL country
    expect(local.get(aggregateKey('customer_actions', `${DAY}T06`, 'csv'))).toContain('|"u|""8"""|');
    expect(local.get(aggregateKey('events_by_country', `${DAY}T05`, 'csv'))).toContain('\n2021-07-12 05:00:00||Search|1\n');
  });
});

describe('AthenaAggregateEngine concurrency', () => {
  it.each([1, 3])('runs at most %i of its queries at once', async (concurrency) => {
    const lake = await buildLake();
    roots.push(lake.root);
    const probe = concurrencyProbe(concurrency);
    const starts = athenaStarts();
    athena.on(StartQueryExecutionCommand).callsFake(async (input: StartQueryExecutionInput) => {
      const started = await starts(input);
      probe.started(started.QueryExecutionId);
      return started;
    });
    athena.on(GetQueryExecutionCommand).callsFake(async ({ QueryExecutionId }: { QueryExecutionId: string }) => execution(probe.finished(QueryExecutionId) ? 'SUCCEEDED' : 'RUNNING'));
    athena.on(GetQueryResultsCommand).resolves(resultPage(EVENTS_BY_NAME_COLUMNS, []));
    const { engine } = newEngine(lake.store, { concurrency, sleep: yieldingSleep });

    const result = await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, { ...lake, engine });

    expect(result.filesWritten).toBe(athena.commandCalls(StartQueryExecutionCommand).length);
    expect(probe.most).toBe(concurrency);
  });

  it('runs 8 queries at once unless told otherwise, and refuses a concurrency that is not a whole number of at least 1', async () => {
    expect((await openSession(new FsObjectStore(tempRoot()))).session.concurrency).toBe(8);
    expect(() => newEngine(new FsObjectStore(tempRoot()), { concurrency: 0 })).toThrow(/concurrency is 0/);
    expect(() => newEngine(new FsObjectStore(tempRoot()), { concurrency: 2.5 })).toThrow(InvalidInputError);
  });
});
