import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { createAggregateHandler } from '../../../tasks/aggregate/handler';
import { AGGREGATE_QUERIES, AGGREGATE_QUERY_NAMES, aggregateKey } from '../../../tasks/aggregate/queries';
import { planAggregates, runAggregate } from '../../../tasks/aggregate/run';
import { csvField, csvLine } from '../../../tasks/aggregate/aggregate-csv';
import { DuckDbAggregateEngine, UNLOAD_CSV_OPTIONS } from '../../../tasks/adapters/local/duckdb-aggregate-engine';
import { DuckDbQueryEngine } from '../../../tasks/adapters/local/duckdb-query-engine';
import { createLakeViews } from '../../../tasks/adapters/local/lake-views';
import { InvalidInputError } from '../../../tasks/ports/errors';
import { buildLake, DAY, EXECUTION, parseCsv, rawRecord } from '../../queries/fixture';

type Lake = Awaited<ReturnType<typeof buildLake>>;
const lakes: Lake[] = [];

async function aggregatedLake(): Promise<Lake> {
  const lake = await buildLake();
  lakes.push(lake);
  await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, lake);
  return lake;
}

async function aggregateFiles(lake: Lake): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for await (const { key } of lake.store.list('aggregates/')) files.set(key, await lake.store.get(key));
  return files;
}

afterAll(async () => {
  for (const lake of lakes) await fs.rm(lake.root, { recursive: true, force: true });
});

describe('runAggregate', () => {
  it('writes every query for every touched hour, and the day-level queries per day, at their keys', async () => {
    const lake = await aggregatedLake();
    const keys = [...(await aggregateFiles(lake)).keys()].sort();
    const expected = AGGREGATE_QUERY_NAMES.flatMap((query) =>
      query === 'funnel_daily' ? [`aggregates/funnel_daily/dt=${DAY}/funnel_daily.csv`] : ['04', '05', '06'].map((hr) => `aggregates/${query}/dt=${DAY}/hr=${hr}/${query}.csv`),
    ).sort();
    expect(keys).toEqual(expected);
  });

  it('writes UNLOAD-style CSV: | delimited, a header, quoted fields, empty NULLs, plain timestamps', async () => {
    const lake = await aggregatedLake();
    const actions = (await lake.store.get(aggregateKey('customer_actions', `${DAY}T06`, 'csv'))).toString('utf8');
    expect(actions.split('\n')[0]).toBe('hour|user_id|searches|views|add_to_carts|purchases|events');
    expect(actions).toContain('\n2021-07-12 06:00:00|"u|""8"""|1|1|0|0|2\n');
    expect(actions.endsWith('\n')).toBe(true);
    // the private IP has no country: NULL is an empty field
    const countries = (await lake.store.get(aggregateKey('events_by_country', `${DAY}T05`, 'csv'))).toString('utf8');
    expect(countries).toContain('\n2021-07-12 05:00:00||Search|1\n');
    const demand = parseCsv((await lake.store.get(aggregateKey('product_demand', `${DAY}T05`, 'csv'))).toString('utf8'));
    expect(demand.rows.find((row) => row[1] === '104')).toEqual(['2021-07-12 05:00:00', '104', '2', '1', '1', '200.50']);
  });

  it('quotes fields the way UNLOAD does', () => {
    expect(csvField(null)).toBe('');
    expect(csvField('')).toBe('""');
    expect(csvField('a|b')).toBe('"a|b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('plain')).toBe('plain');
  });

  it("writes through DuckDB's CSV writer the lines csvLine writes, the header alone for no rows", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'unload-csv-'));
    const engine = await DuckDbQueryEngine.open();
    const field = fc.option(fc.string({ unit: fc.constantFrom('a', 'ü', ' ', ',', '|', '"', "'", '\\', '\n', '\r', '\t', 'N', 'U', 'L') }), { nil: null });
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(field, field), { maxLength: 8 }), async (rows) => {
          const file = path.join(dir, 'out.csv');
          const values = rows.map((row) => `(${row.map((value) => (value === null ? 'NULL' : `'${value.replaceAll("'", "''")}'`)).join(', ')})`);
          const table = values.length > 0 ? `(VALUES ${values.join(', ')}) AS t ("a b", c)` : `(SELECT 'x' AS "a b", 'y' AS c WHERE false)`;
          await engine.run(`COPY (SELECT * FROM ${table}) TO '${file}' (${UNLOAD_CSV_OPTIONS})`);
          expect(await fs.readFile(file, 'utf8')).toBe(csvLine(['a b', 'c']) + rows.map((row) => csvLine(row)).join(''));
        }),
        { numRuns: 200 },
      );
    } finally {
      await engine.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('writes identical bytes when rerun', async () => {
    const lake = await aggregatedLake();
    const before = await aggregateFiles(lake);
    const result = await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, lake);
    expect(result.filesWritten).toBe(before.size);
    expect(await aggregateFiles(lake)).toEqual(before);
  });

  it('writes the same bytes whether its jobs run side by side (the default) or one at a time', async () => {
    const lake = await aggregatedLake();
    const sideBySide = await aggregateFiles(lake);
    const session = await new DuckDbAggregateEngine(lake.store).open({ snapshot: await lake.catalog.snapshot(), executionName: 'probe', reads: [] });
    await session.close();
    expect(session.concurrency).toBe(2);
    const result = await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, { ...lake, engine: new DuckDbAggregateEngine(lake.store, { connections: 1 }) });
    expect(result.filesWritten).toBe(sideBySide.size);
    expect(await aggregateFiles(lake)).toEqual(sideBySide);
  });

  it('writes the same bytes whether its small windows are read from one table in memory (the default) or each from its Parquet files', async () => {
    const lake = await aggregatedLake();
    await lake.deliver(`${DAY}T07`, 'late', [rawRecord({ click_id: 'late1', user_id: 'u9', time: `${DAY} 04:45:00`, event_name: 'Purchase', product_id: 104, price: 5, percent_viewed: 20, ip: '8.8.8.8' })]);
    const merged = await lake.merge(`${DAY}T07`);
    const input = { executionId: EXECUTION, hour: `${DAY}T07`, partitions: [...merged.partitionsTouched, ...lake.merged.partitionsTouched] };
    const inMemory = await runAggregate(input, lake);
    const held = await aggregateFiles(lake);
    for (const key of held.keys()) await lake.store.delete(key);
    const fromParquet = await runAggregate(input, { ...lake, engine: new DuckDbAggregateEngine(lake.store, { smallWindowsRows: 0 }) });
    expect(inMemory.hours.length).toBeGreaterThan(1);
    expect(fromParquet).toEqual(inMemory);
    expect(await aggregateFiles(lake)).toEqual(held);
  });

  it('cuts each hour of a query with an hour column from one run over all the small hours, byte for byte what a run over that hour alone writes', async () => {
    const lake = await aggregatedLake();
    const cut = await aggregateFiles(lake);
    for (const key of cut.keys()) await lake.store.delete(key);
    await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, { ...lake, engine: new DuckDbAggregateEngine(lake.store, { smallWindowsRows: 0 }) });
    const alone = await aggregateFiles(lake);
    const withHourColumn = AGGREGATE_QUERIES.filter(({ hourColumn }) => hourColumn !== undefined);
    expect(withHourColumn.map(({ name }) => name)).toEqual(expect.arrayContaining(['events_by_name', 'active_users_sliding_5min', 'sessions', 'funnel', 'product_demand']));
    for (const query of withHourColumn) {
      expect(query.grain).toBe('hour');
      for (const hour of ['04', '05', '06']) {
        const key = aggregateKey(query.name, `${DAY}T${hour}`, 'csv');
        expect([key, cut.get(key)?.toString('utf8')]).toEqual([key, alone.get(key)?.toString('utf8')]);
      }
    }
    // An hour without rows still gets its header.
    expect(cut.get(aggregateKey('purchase_price_by_segment', `${DAY}T04`, 'csv'))?.toString('utf8')).toBe('minute|segment|purchases|avg_price\n');
  });

  it('changes exactly the late hour\'s aggregates when a late event is merged into it', async () => {
    const lake = await aggregatedLake();
    const before = await aggregateFiles(lake);
    await lake.deliver(`${DAY}T07`, 'late', [rawRecord({ click_id: 'late1', user_id: 'u9', time: `${DAY} 06:45:00`, event_name: 'Purchase', product_id: 104, price: 5, percent_viewed: 20, ip: '8.8.8.8' })]);
    const merged = await lake.merge(`${DAY}T07`);
    expect(merged.partitionsTouched).toEqual([`dt=${DAY}/hr=06`]);
    const result = await runAggregate({ executionId: EXECUTION, hour: `${DAY}T07`, partitions: merged.partitionsTouched }, lake);
    // hour 05's sessions may run into 06, so they are recomputed (and come out the same)
    expect(result.hours).toEqual([`${DAY}T05`, `${DAY}T06`]);
    const after = await aggregateFiles(lake);
    expect([...after.keys()]).toEqual([...before.keys()]);
    const changed = [...after.keys()].filter((key) => !after.get(key)!.equals(before.get(key)!)).sort();
    const sixOClock = [
      'active_users_per_hour',
      'active_users_per_minute',
      'active_users_sliding_5min',
      'customer_actions',
      'events_by_country',
      'events_by_name',
      'funnel',
      'product_demand',
      'purchase_price_by_segment',
      'sessions',
      'top_regions',
      'traffic_anomalies',
    ].map((query) => aggregateKey(query, `${DAY}T06`, 'csv'));
    expect(changed).toEqual([aggregateKey('funnel_daily', DAY, 'csv'), ...sixOClock].sort());
    const names = parseCsv(after.get(aggregateKey('events_by_name', `${DAY}T06`, 'csv'))!.toString('utf8'));
    expect(names.rows.find((row) => row[1] === 'Purchase')?.[2]).toBe('3');
  });

  it('recomputes the hours whose look-back or look-ahead reads a touched hour', () => {
    const existing = new Set([`${DAY}T04`, `${DAY}T05`, `${DAY}T06`, `${DAY}T07`, '2021-07-13T05']);
    const jobs = planAggregates([`${DAY}T05`], existing);
    const periods = (query: string) => jobs.filter((job) => job.query.name === query).map((job) => job.period);
    expect(periods('events_by_name')).toEqual([`${DAY}T05`]);
    expect(periods('active_users_sliding_5min')).toEqual([`${DAY}T05`, `${DAY}T06`]);
    expect(periods('sessions')).toEqual([`${DAY}T04`, `${DAY}T05`, `${DAY}T06`]);
    expect(periods('traffic_anomalies')).toEqual([`${DAY}T05`, `${DAY}T06`, `${DAY}T07`, '2021-07-13T05']);
    expect(periods('funnel_daily')).toEqual([DAY]);
  });

  it('also writes Parquet when asked', async () => {
    const lake = await aggregatedLake();
    const result = await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: [`dt=${DAY}/hr=06`] }, lake, { parquet: true });
    expect(result.filesWritten).toBeGreaterThan(0);
    const engine = await DuckDbQueryEngine.open();
    try {
      const key = aggregateKey('events_by_name', `${DAY}T06`, 'parquet');
      const { rows } = await engine.query(`SELECT event_name, events FROM read_parquet('${lake.store.locate(key)}') ORDER BY event_name`);
      const csv = parseCsv((await lake.store.get(aggregateKey('events_by_name', `${DAY}T06`, 'csv'))).toString('utf8'));
      expect(rows.map((row) => row.map(String))).toEqual(csv.rows.map((row) => row.slice(1)));
    } finally {
      await engine.close();
    }
  });

  it('exposes the aggregates as views whose files are among the files a confined query may read', async () => {
    const lake = await aggregatedLake();
    const engine = await DuckDbQueryEngine.open();
    try {
      const views = await createLakeViews(engine, await lake.catalog.snapshot(), lake.store);
      expect(views.files).toContain(lake.store.locate(aggregateKey('sessions', `${DAY}T05`, 'csv')));
      await engine.confineTo(views.files);
      const { rows } = await engine.queryReadOnly(`SELECT CAST(hour AS VARCHAR), user_id, events FROM customer_actions WHERE user_id = 'u|"8"'`);
      expect(rows).toEqual([['2021-07-12 06:00:00', 'u|"8"', 2]]);
      const funnel = await engine.queryReadOnly('SELECT count(*) FROM funnel');
      expect(funnel.rows).toEqual([[3]]);
    } finally {
      await engine.close();
    }
  });
});

describe('createAggregateHandler', () => {
  it('rejects malformed input with InvalidInputError before touching the lake', async () => {
    const lake = await buildLake([]);
    lakes.push(lake);
    const handler = createAggregateHandler(lake);
    await expect(handler({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: ['hr=06'] })).rejects.toThrow(InvalidInputError);
    await expect(handler({ executionId: EXECUTION, hour: 'yesterday', partitions: [] })).rejects.toThrow(InvalidInputError);
  });

  it('runs the aggregation for the step input', async () => {
    const lake = await buildLake();
    lakes.push(lake);
    const result = (await createAggregateHandler(lake)({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: [`dt=${DAY}/hr=04`], extra: true })) as { hours: string[] };
    // 04 itself; 05 (sliding window, session starts); 06 (the trailing 24 hours of traffic_anomalies); no 03 exists
    expect(result.hours).toEqual([`${DAY}T04`, `${DAY}T05`, `${DAY}T06`]);
  });
});
