import { DuckDBInstance, timestampValue, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { EVENT_COLUMNS } from '../../tasks/curated/layout';
import { redshiftQuerySql } from '../../tasks/adapters/aws/redshift-unload-sql';
import { AGGREGATE_QUERIES, parametersOf, querySql, readWindowOf, statementOf, type AggregateQuery, type QueryParameterValues } from '../../tasks/aggregate/queries';
import { startPostgres, type PostgresServer } from './postgres-server';

/**
 * Cross-engine check of queries/*.sql: each query, in the very form the Redshift engine unloads
 * (redshiftQuerySql: every `$name` a literal, `events` and `users` bound to a schema, here `public`),
 * runs on a real PostgreSQL server, the closest engine to Redshift's SQL that runs here, and returns the
 * same rows, in the same order, as the DuckDB form (named prepared-statement parameters, as the DuckDB
 * aggregate engine binds them) over the same small dataset.
 *
 * PostgreSQL comes from Debian's `postgresql` package, which `.ci/run` installs; without it this test
 * fails (it does not skip).
 */

const DAY = '2021-07-12';
const HOURS = ['02', '03', '04', '05'].map((hour) => `${DAY} ${hour}:00:00`);
const Z_THRESHOLD = 1.5;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// ---------------------------------------------------------------------------------------------------
// The dataset: deterministic, a few hundred events over about three hours.

interface Event {
  click_id: string;
  user_id: string;
  ms: number;
  event_name: 'Search' | 'ViewContent' | 'AddToCart' | 'Purchase';
  product_id: number | null;
  price: number | null;
  percent_viewed: number | null;
  country: string | null;
  region: string | null;
}

/** mulberry32: a small seeded PRNG, so the dataset is the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PLACES: readonly [string | null, string | null][] = [
  ['GB', 'ENG'],
  ['GB', 'SCT'],
  ['US', 'CA'],
  ['US', 'NY'],
  ['US', null],
  ['DE', 'BE'],
  ['FR', 'IDF'],
  [null, null],
];
const SEGMENTS = ['loyal', 'new', 'returning'];
const FUNNEL = ['Search', 'ViewContent', 'AddToCart', 'Purchase'] as const;

function makeUsers(): { user_id: string; segment: string }[] {
  const users: { user_id: string; segment: string }[] = [];
  // u00 .. u23; every fifth one is missing from the users dimension (segment 'unknown')
  for (let index = 0; index < 24; index++) if (index % 5 !== 4) users.push({ user_id: `u${String(index).padStart(2, '0')}`, segment: SEGMENTS[index % 3]! });
  users.push({ user_id: 'u|"x"', segment: 'new' });
  return users;
}

function makeEvents(): Event[] {
  const next = random(20210712);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const start = Date.parse(`${DAY}T02:40:00Z`);
  const end = Date.parse(`${DAY}T05:50:00Z`);
  const events: Event[] = [];
  let clicks = 0;
  const userIds = [...Array.from({ length: 24 }, (_, index) => `u${String(index).padStart(2, '0')}`), 'u|"x"'];
  for (const user_id of userIds) {
    const [country, region] = pick(PLACES);
    let ms = start + Math.floor(next() * 60) * MINUTE + Math.floor(next() * 60) * 1000;
    while (ms < end) {
      // one session: mostly the funnel in order, sometimes out of order, skipping or repeating steps
      const length = 2 + Math.floor(next() * 7);
      let step = 0;
      for (let index = 0; index < length && ms < end; index++) {
        const roll = next();
        let event_name: Event['event_name'];
        if (roll < 0.6) event_name = FUNNEL[Math.min(step++, 3)]!;
        else if (roll < 0.8) event_name = pick(FUNNEL);
        else event_name = 'Search';
        const product_id = event_name === 'Search' && next() < 0.7 ? null : 100 + Math.floor(next() * 8);
        const price = event_name === 'Purchase' ? Math.round(1 + next() * 30000) / 100 : null;
        const percent_viewed = event_name === 'ViewContent' ? Math.round(next() * 1000) / 10 : null;
        events.push({ click_id: `c${String(clicks++).padStart(4, '0')}`, user_id, ms, event_name, product_id, price, percent_viewed, country, region });
        // gaps of 0 (same timestamp: click_id breaks the tie) to 6 minutes within a session
        const gap = next();
        ms += gap < 0.1 ? 0 : gap < 0.15 ? 30 * MINUTE : Math.floor(next() * 6 * MINUTE / 1000) * 1000 + 1000;
      }
      // between sessions: exactly 30 minutes (still the same session), just over 30 minutes, or longer
      const pause = next();
      ms += pause < 0.2 ? 30 * MINUTE : pause < 0.4 ? 30 * MINUTE + 1000 : 31 * MINUTE + Math.floor(next() * 40) * MINUTE;
    }
  }
  // a burst of searches in hour 05, an anomaly against the trailing hours
  for (let index = 0; index < 40; index++) {
    events.push({ click_id: `c${String(clicks++).padStart(4, '0')}`, user_id: `b${index % 7}`, ms: Date.parse(`${DAY}T05:10:00Z`) + index * 7000, event_name: 'Search', product_id: null, price: null, percent_viewed: null, country: 'US', region: 'NY' });
  }
  return events.sort((a, b) => a.ms - b.ms || (a.click_id < b.click_id ? -1 : 1));
}

const timestampText = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const sqlText = (value: string | null) => (value === null ? 'NULL' : `'${value.replaceAll("'", "''")}'`);
const sqlNumber = (value: number | null) => (value === null ? 'NULL' : String(value));

const PG_TYPES: Record<string, string> = { VARCHAR: 'text', TIMESTAMP: 'timestamp', BIGINT: 'bigint', DOUBLE: 'double precision', JSON: 'text', INTEGER: 'integer' };

/** DDL and INSERTs of `events` (every curated column) and `users`, for `engine`; the rows are the same text in both. */
function datasetSql(engine: 'duckdb' | 'postgres', events: readonly Event[], users: readonly { user_id: string; segment: string }[]): string {
  const type = (duckdb: string) => (engine === 'duckdb' ? duckdb : PG_TYPES[duckdb]!);
  const columns = EVENT_COLUMNS.map((column) => `${column.name} ${type(column.duckdb)}`);
  const rows = events.map((event) => {
    const time = `TIMESTAMP '${timestampText(event.ms)}'`;
    const hour = `TIMESTAMP '${timestampText(event.ms - (event.ms % HOUR))}'`;
    const values: Record<string, string> = {
      click_id: sqlText(event.click_id),
      event_time: time,
      sent_time: time,
      arrival_hour: hour,
      derived_time: time,
      event_name: sqlText(event.event_name),
      user_id: sqlText(event.user_id),
      pixel_id: sqlText('wjgao4w1oi'),
      product_id: sqlNumber(event.product_id),
      price: sqlNumber(event.price),
      percent_viewed: sqlNumber(event.percent_viewed),
      time_on_data: '5',
      country: sqlText(event.country),
      region: sqlText(event.region),
      dt: sqlText(timestampText(event.ms).slice(0, 10)),
      hr: sqlText(timestampText(event.ms).slice(11, 13)),
    };
    return `(${EVENT_COLUMNS.map((column) => (values[column.name] === undefined ? `CAST(NULL AS ${type(column.duckdb)})` : values[column.name])).join(', ')})`;
  });
  return [
    `CREATE TABLE events (${columns.join(', ')});`,
    `INSERT INTO events VALUES\n${rows.join(',\n')};`,
    `CREATE TABLE users (user_id ${type('VARCHAR')}, segment ${type('VARCHAR')});`,
    `INSERT INTO users VALUES ${users.map((user) => `(${sqlText(user.user_id)}, ${sqlText(user.segment)})`).join(', ')};`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Running a query on each engine, with its rows as text.

type Row = (string | null)[];
interface Result {
  header: string[];
  rows: Row[];
}
async function duckdbResult(connection: DuckDBConnection, name: string, values: QueryParameterValues): Promise<Result> {
  const sql = querySql(name, 'duckdb');
  const bound: Record<string, DuckDBValue> = {};
  for (const parameter of parametersOf(sql, name)) {
    const value = values[parameter];
    bound[parameter] = typeof value === 'number' ? value : timestampValue(BigInt(value.getTime()) * 1000n);
  }
  await connection.run(`CREATE OR REPLACE TEMP TABLE aggregate_result AS ${statementOf(sql)}`, bound);
  const described = (await connection.runAndReadAll('DESCRIBE aggregate_result')).getRows();
  const columns = described.map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  const texts = columns.map(({ name: column, type }) =>
    type.startsWith('TIMESTAMP') ? `strftime("${column}", '%Y-%m-%d %H:%M:%S')` : `CAST("${column}" AS VARCHAR)`,
  );
  // a table scan keeps insertion order, which is the query's ORDER BY (as run.ts relies on)
  const rows = (await connection.runAndReadAll(`SELECT ${texts.join(', ')} FROM aggregate_result`)).getRows();
  return { header: columns.map(({ name: column }) => column), rows: rows.map((row) => row.map((cell) => (cell === null ? null : String(cell)))) };
}

function postgresResult(server: PostgresServer, query: AggregateQuery, values: QueryParameterValues, period: { start: Date; end: Date }): Result {
  // Pruned to the partitions the query's window needs, as on Spectrum; DuckDB reads every partition here.
  return server.query(`${redshiftQuerySql(query.name, values, 'public', readWindowOf(query, period))};\n`);
}

/** Numbers to 6 significant digits ('12.500' and '12.5' alike), timestamps without fractions; text and NULL as they are. */
function normalise(cell: string | null): string | null {
  if (cell === null) return null;
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(cell)) return String(Number(Number(cell).toPrecision(6)));
  const timestamp = /^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(\.\d+)?$/.exec(cell);
  if (timestamp) return timestamp[1]!.replace('T', ' ');
  return cell;
}

// ---------------------------------------------------------------------------------------------------

const events = makeEvents();
const users = makeUsers();
let postgres: PostgresServer | undefined;
let instance: DuckDBInstance;
let duckdb: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  duckdb = await instance.connect();
  await duckdb.run("SET TimeZone = 'UTC'");
  await duckdb.run(datasetSql('duckdb', events, users));
  postgres = await startPostgres();
  postgres.exec(datasetSql('postgres', events, users));
});

afterAll(() => {
  try {
    postgres?.stop();
  } finally {
    duckdb?.closeSync();
    instance?.closeSync();
  }
});

/** Every (query, period) the check runs: each hour of the dataset for hourly queries, the day for day-level ones. */
const CASES = AGGREGATE_QUERIES.flatMap((query) =>
  query.grain === 'hour'
    ? HOURS.map((hour) => ({ name: query.name, query, period: hour, start: Date.parse(`${hour.replace(' ', 'T')}Z`), length: HOUR }))
    : [{ name: query.name, query, period: DAY, start: Date.parse(`${DAY}T00:00:00Z`), length: 24 * HOUR }],
);

describe('aggregate queries on PostgreSQL (Redshift form) and DuckDB', () => {
  it('the dataset has a few hundred events over about three hours, with funnels and session gaps', async () => {
    expect(events.length).toBeGreaterThanOrEqual(200);
    expect(events.length).toBeLessThanOrEqual(1000);
    const count = (sql: string) => Number(postgres!.query(sql).rows[0]![0]);
    expect(count('select count(*) from events')).toBe(events.length);
    expect(Number((await duckdb.runAndReadAll('select count(*) from events')).getRows()[0]![0])).toBe(events.length);
    expect(count("select count(*) from events where event_name = 'Purchase'")).toBeGreaterThan(10);
    // exactly-30-minute gaps (same session) and gaps just over 30 minutes (a new session)
    const gaps = (condition: string) =>
      count(`select count(*) from (select event_time - lag(event_time) over (partition by user_id order by event_time, click_id) as gap from events) g where ${condition}`);
    expect(gaps("gap = interval '30 minutes'")).toBeGreaterThan(0);
    expect(gaps("gap > interval '30 minutes' and gap <= interval '31 minutes'")).toBeGreaterThan(0);
    expect(gaps("gap = interval '0 seconds'")).toBeGreaterThan(0);
  });

  it('PostgreSQL sorts text bytewise, as DuckDB does', () => {
    expect(postgres!.query("select x from (select 'b' as x union all select 'B' union all select 'a' union all select 'u|\"x\"' union all select 'u00') t order by x").rows.flat()).toEqual(['B', 'a', 'b', 'u00', 'u|"x"']);
  });

  const rowsPerQuery = new Map<string, number>();

  it.each(CASES)('$name for $period returns the same rows on both engines', async ({ name, query, start, length }) => {
    const values: QueryParameterValues = { hour_start: new Date(start), hour_end: new Date(start + length), day_start: new Date(start), day_end: new Date(start + length), z_threshold: Z_THRESHOLD };
    const expected = await duckdbResult(duckdb, name, values);
    const actual = postgresResult(postgres!, query, values, { start: new Date(start), end: new Date(start + length) });
    expect(actual.header).toEqual(expected.header);
    const norm = (rows: Row[]) => rows.map((row) => row.map(normalise));
    expect(norm(actual.rows)).toEqual(norm(expected.rows));
    rowsPerQuery.set(name, (rowsPerQuery.get(name) ?? 0) + expected.rows.length);
  });

  it.each(AGGREGATE_QUERIES.map(({ name }) => name))('%s returns rows on the dataset (the comparison is not vacuous)', (name) => {
    expect([name, rowsPerQuery.get(name) ?? 0]).not.toEqual([name, 0]);
  });

  it('traffic_anomalies flags the burst of searches in hour 05 on both engines', async () => {
    const hour = { start: new Date(`${DAY}T05:00:00Z`), end: new Date(`${DAY}T06:00:00Z`) };
    const values: QueryParameterValues = { hour_start: hour.start, hour_end: hour.end, day_start: new Date(0), day_end: new Date(0), z_threshold: Z_THRESHOLD };
    const flagged = (result: Result) => result.rows.filter((row) => row[result.header.indexOf('is_anomaly')] === '1').map((row) => row[result.header.indexOf('event_name')]);
    const anomalies = AGGREGATE_QUERIES.find(({ name }) => name === 'traffic_anomalies')!;
    expect(flagged(postgresResult(postgres!, anomalies, values, hour))).toContain('Search');
    expect(flagged(await duckdbResult(duckdb, 'traffic_anomalies', values))).toContain('Search');
  });
});
