import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDbQueryEngine } from '../../../../tasks/adapters/local/duckdb-query-engine';
import { sqlIdentifier, sqlString } from '../../../../tasks/shared/sql-text';
import { FsCatalog } from '../../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../../tasks/adapters/local/fs-object-store';
import { createLakeViews, REJECT_VIEW_COLUMNS } from '../../../../tasks/adapters/local/lake-views';
import { runCrawl } from '../../../../tasks/crawl/run';
import { type CuratedFile, EVENT_COLUMNS, EVENTS_TABLE, initialLocation, partitionKeyOfHour, REJECTS_TABLE, rejectsFileKey, type RejectLine } from '../../../../tasks/curated/layout';
import { rawPrefix } from '../../../../tasks/shared/hours';

const HOUR = '2021-07-12T05';
const PARTITION = partitionKeyOfHour(HOUR);
const BASE_KEY = `${initialLocation(PARTITION)}base-test.parquet`;
const UNREGISTERED_KEY = `${initialLocation(PARTITION)}delta-uncommitted.parquet`;
const RAW_KEY = `${rawPrefix(HOUR)}clickstream-1-2021-07-12-05-00-00-6f5b9f4e-1c8a-4c41-9d3b-6a1f0f0e2b11.gz`;

let lake: string;
let store: FsObjectStore;
let catalog: FsCatalog;
let engine: DuckDbQueryEngine;

beforeEach(async () => {
  lake = await fs.mkdtemp(path.join(os.tmpdir(), 'lake-views-'));
  store = new FsObjectStore(lake);
  catalog = new FsCatalog(store);
  engine = await DuckDbQueryEngine.open({ threads: 1 });
});

afterEach(async () => {
  await engine.close();
  await fs.rm(lake, { recursive: true, force: true });
});

type EventRow = Record<string, string | number | null>;

function event(clickId: string, minute: number): EventRow {
  const time = `2021-07-12 05:${String(minute).padStart(2, '0')}:00.123456`;
  return {
    click_id: clickId,
    event_time: time,
    sent_time: time,
    arrival_hour: '2021-07-12 05:00:00',
    derived_time: time,
    event_name: 'ViewContent',
    user_id: '42',
    pixel_id: 'px1',
    product_id: 802472,
    price: 19.5,
    percent_viewed: 45.3,
    time_on_data: 18,
    extra: '{"app_version":"2.1"}',
    ip_prefix: '1.157.52.0/24',
    country: 'AU',
    region: null,
    city: null,
    user_name: 'Ada',
    source_key: RAW_KEY,
    record_number: minute,
    dt: '2021-07-12',
    hr: '05',
  };
}

/** Writes curated rows to `key` as Parquet with DuckDB, typed as the layout says. */
async function writeParquet(key: string, rows: readonly EventRow[]): Promise<number> {
  const selects = rows.map(
    (row) =>
      `SELECT ${EVENT_COLUMNS.map(({ name, duckdb }) => {
        const value = row[name] ?? null;
        const literal = value === null ? 'NULL' : typeof value === 'number' ? String(value) : sqlString(value);
        return `CAST(${literal} AS ${duckdb}) AS ${sqlIdentifier(name)}`;
      }).join(', ')}`,
  );
  const target = store.locate(key);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await engine.run(`COPY (${selects.join(' UNION ALL ')}) TO ${sqlString(target)} (FORMAT parquet)`);
  return (await fs.stat(target)).size;
}

const token = (step: string) => ({ executionId: 'test', hour: HOUR, step });

async function buildLake(): Promise<void> {
  const size = await writeParquet(BASE_KEY, [event('c1', 1), event('c2', 2)]);
  // Written next to the committed file, but never committed: as a merge that crashed before its commit leaves it.
  await writeParquet(UNREGISTERED_KEY, [event('ghost', 3)]);

  const raw = [
    JSON.stringify({ timestamp: '2021-07-12 05:01:00', user_id: '42', click_id: 'r1', event_name: 'Search', additional_data: { price: 19.5, product_id: 802472 } }),
    // Cut short where a JSON parser would read on into the next line: the next record must still show.
    '{"timestamp":"2021-07-12 05:02:00","user_id":',
    JSON.stringify({ timestamp: '2021-07-12 05:03:00', user_id: 43, click_id: 'r2', event_name: 'AddToCart', additional_data: '{"price":7}' }),
    '[1, 2]',
    Buffer.concat([Buffer.from('{"click_id":"bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('","event_name":"Search"}')]).toString('latin1'),
    JSON.stringify({ timestamp: '2021-07-12 05:04:00', user_id: '44', click_id: 'r3', event_name: 'Purchase', new_field: true }),
  ];
  await store.put(RAW_KEY, gzipSync(Buffer.from(`${raw.join('\n')}\n`, 'latin1')));
  // The raw table is registered as production registers it: by the crawl, which also records its columns.
  await runCrawl({ hour: HOUR, executionId: 'test' }, { store, catalog });

  const rejects: RejectLine[] = [
    { reason: 'malformed_json', source_key: RAW_KEY, record_number: 2, arrival_hour: HOUR, record: `{"timestamp":"${'x'.repeat(600)}`, record_base64: null },
    { reason: 'invalid_encoding', source_key: RAW_KEY, record_number: 5, arrival_hour: HOUR, record: null, record_base64: 'A'.repeat(700) },
  ];
  const rejectsKey = rejectsFileKey(HOUR, RAW_KEY);
  await store.put(rejectsKey, rejects.map((line) => `${JSON.stringify(line)}\n`).join(''));

  const base: CuratedFile = { key: BASE_KEY, size, records: 2, kind: 'base' };
  const { version } = await catalog.snapshot();
  await catalog.commit(version, token('merge'), [
    {
      kind: 'putPartition',
      table: EVENTS_TABLE,
      partition: PARTITION,
      location: initialLocation(PARTITION),
      files: [base],
      properties: {},
    },
    {
      kind: 'putPartition',
      table: REJECTS_TABLE,
      partition: HOUR,
      location: `rejects/arrival_hour=${HOUR}/`,
      files: [{ key: rejectsKey, size: (await fs.stat(store.locate(rejectsKey))).size, records: 2 }],
      properties: {},
    },
  ]);
}

describe('createLakeViews', () => {
  it('shows exactly the curated rows of the committed files, typed and ordered as the layout says', async () => {
    await buildLake();
    await createLakeViews(engine, await catalog.snapshot(), store);

    const result = await engine.query('SELECT * FROM events ORDER BY click_id');
    expect(result.columns).toEqual(EVENT_COLUMNS.map(({ name, duckdb }) => ({ name, type: duckdb })));
    expect(result.rows.map((row) => row[0])).toEqual(['c1', 'c2']);
    expect(Object.fromEntries(result.columns.map(({ name }, index) => [name, result.rows[0]![index]]))).toEqual({
      ...event('c1', 1),
      event_time: '2021-07-12T05:01:00.123456Z',
      sent_time: '2021-07-12T05:01:00.123456Z',
      arrival_hour: '2021-07-12T05:00:00.000Z',
      derived_time: '2021-07-12T05:01:00.123456Z',
    });
  });

  it('does not show a file that is in the directory but not in the snapshot', async () => {
    await buildLake();
    const views = await createLakeViews(engine, await catalog.snapshot(), store);

    expect((await engine.query(`SELECT count(*) FROM events WHERE click_id = 'ghost'`)).rows).toEqual([[0]]);
    expect(views.files).toContain(store.locate(BASE_KEY));
    expect(views.files).not.toContain(store.locate(UNREGISTERED_KEY));
    await expect(fs.access(store.locate(UNREGISTERED_KEY))).resolves.toBeUndefined();
  });

  it('shows a snapshot as it was, whatever is committed after it', async () => {
    await buildLake();
    const before = await catalog.snapshot();
    const partition = before.tables[EVENTS_TABLE]!.partitions[PARTITION]!;
    await catalog.commit(before.version, token('compact'), [
      {
        kind: 'putPartition',
        table: EVENTS_TABLE,
        partition: PARTITION,
        location: partition.location,
        files: [...partition.files, { key: UNREGISTERED_KEY, size: 1, records: 1 }],
        properties: {},
      },
    ]);

    await createLakeViews(engine, before, store);
    expect((await engine.query('SELECT count(*) FROM events')).rows).toEqual([[2]]);
    await createLakeViews(engine, await catalog.snapshot(), store);
    expect((await engine.query('SELECT count(*) FROM events')).rows).toEqual([[3]]);
  });

  it('shows rejects with their reason, source and arrival hour, and the record cut to 500 characters', async () => {
    await buildLake();
    await createLakeViews(engine, await catalog.snapshot(), store);

    const result = await engine.query('SELECT * FROM rejects ORDER BY record_number');
    expect(result.columns).toEqual(REJECT_VIEW_COLUMNS.map(({ name, duckdb }) => ({ name, type: duckdb })));
    expect(result.rows).toEqual([
      ['malformed_json', RAW_KEY, 2, '2021-07-12T05:00:00.000Z', `{"timestamp":"${'x'.repeat(600)}`.slice(0, 500)],
      ['invalid_encoding', RAW_KEY, 5, '2021-07-12T05:00:00.000Z', `base64:${'A'.repeat(500)}`],
    ]);
  });

  it('shows the raw records of the registered objects with their source key, skipping broken ones', async () => {
    await buildLake();
    await createLakeViews(engine, await catalog.snapshot(), store);

    const result = await engine.query('SELECT click_id, user_id, event_name, additional_data, new_field, source_key FROM raw_events ORDER BY click_id');
    expect(result.rows).toEqual([
      ['r1', '42', 'Search', '{"price":19.5,"product_id":802472}', null, RAW_KEY],
      ['r2', '43', 'AddToCart', '"{\\"price\\":7}"', null, RAW_KEY],
      ['r3', '44', 'Purchase', null, true, RAW_KEY],
    ]);
    expect(result.columns.map(({ type }) => type)).toEqual(['VARCHAR', 'VARCHAR', 'VARCHAR', 'JSON', 'BOOLEAN', 'VARCHAR']);
  });

  it('does not show raw objects that no crawl registered', async () => {
    await buildLake();
    await store.put(`${rawPrefix(HOUR)}clickstream-1-2021-07-12-05-30-00-late.gz`, gzipSync(`${JSON.stringify({ click_id: 'unseen', event_name: 'Search' })}\n`));
    await createLakeViews(engine, await catalog.snapshot(), store);

    expect((await engine.query(`SELECT count(*) FROM raw_events`)).rows).toEqual([[3]]);
  });

  it('gives an empty lake empty views with the same columns', async () => {
    const views = await createLakeViews(engine, await catalog.snapshot(), store);

    expect(views.files).toEqual([]);
    const events = await engine.query('SELECT * FROM events');
    expect(events.rows).toEqual([]);
    expect(events.columns).toEqual(EVENT_COLUMNS.map(({ name, duckdb }) => ({ name, type: duckdb })));
    const rejects = await engine.query('SELECT * FROM rejects');
    expect(rejects.rows).toEqual([]);
    expect(rejects.columns).toEqual(REJECT_VIEW_COLUMNS.map(({ name, duckdb }) => ({ name, type: duckdb })));
    expect(await engine.query('SELECT * FROM raw_events')).toEqual({ columns: [{ name: 'source_key', type: 'VARCHAR' }], rows: [] });
  });

  it('keeps working once the engine is confined to the files the views read', async () => {
    await buildLake();
    const views = await createLakeViews(engine, await catalog.snapshot(), store);
    await engine.confineTo(views.files);

    expect((await engine.query('SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM rejects), (SELECT count(*) FROM raw_events)')).rows).toEqual([[2, 2, 3]]);
    expect((await engine.query(`SELECT count(*) FROM read_parquet(${sqlString(store.locate(UNREGISTERED_KEY))})`).catch((error: Error) => error.message))).toMatch(
      /^Permission Error/,
    );
  });
});
