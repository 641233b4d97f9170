import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { FsCatalog } from '../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { createCrawlHandler } from '../../../tasks/crawl/handler';
import { describeRawSchema, runCrawl, type CrawlPorts } from '../../../tasks/crawl/run';
import { InvalidInputError } from '../../../tasks/ports/errors';
import { rawPrefix } from '../../../tasks/shared/hours';

let lake: string;
let ports: CrawlPorts;

beforeEach(async () => {
  lake = await fs.mkdtemp(path.join(os.tmpdir(), 'crawl-'));
  const store = new FsObjectStore(lake);
  ports = { store, catalog: new FsCatalog(store) };
});

afterEach(async () => {
  await fs.rm(lake, { recursive: true, force: true });
});

const HOUR = '2021-07-12T05';
const NEXT_HOUR = '2021-07-12T06';
const clock = () => new Date('2021-07-12T07:05:00Z');

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: '2021-07-12 05:01:02.123456',
    user_id: 17,
    pixel_id: 'px-1',
    click_id: 'c-1',
    insertion_timestamp: '2021-07-12 05:01:03.000000',
    event_name: 'ViewContent',
    user_ip: '10.1.2.3',
    additional_data: { time_on_data: 12, percent_viewed: 50, product_id: 'p-1', price: 20 },
    ...overrides,
  };
}

/** Writes a raw object as Firehose does: gzip, newline-delimited; `name` ending in `.json` writes plain text. */
async function writeRaw(hour: string, name: string, lines: readonly string[], separator = '\n'): Promise<void> {
  const body = Buffer.from(lines.join(separator) + separator);
  await ports.store.put(`${rawPrefix(hour)}${name}`, name.endsWith('.gz') ? gzipSync(body) : body);
}

async function writeFirstHour(): Promise<void> {
  await writeRaw(HOUR, 'events-1-2021-07-12-05-00-00-a.gz', [
    JSON.stringify(event()),
    JSON.stringify(event({ click_id: 'c-2', additional_data: JSON.stringify({ time_on_data: 3, percent_viewed: 33.5, product_id: 'p-2', price: 9.99 }) })),
    '{"timestamp":"2021-07-12 05:0',
    'not json at all',
  ]);
  // Producers that add no newline: records concatenated with no separator, in a plain object.
  await writeRaw(HOUR, 'events-1-2021-07-12-05-30-00-b', [JSON.stringify(event({ click_id: 'c-3', user_ip: null })), JSON.stringify(event({ click_id: 'c-4' }))], '');
}

const FIRST_COLUMNS = [
  { name: 'additional_data', type: 'struct<percent_viewed:double,price:double,product_id:string,time_on_data:bigint>' },
  { name: 'click_id', type: 'string' },
  { name: 'event_name', type: 'string' },
  { name: 'insertion_timestamp', type: 'string' },
  { name: 'pixel_id', type: 'string' },
  { name: 'timestamp', type: 'string' },
  { name: 'user_id', type: 'bigint' },
  { name: 'user_ip', type: 'string' },
];

async function writeDriftingHour(): Promise<void> {
  await writeRaw(NEXT_HOUR, 'events-1-2021-07-12-06-00-00-c.gz', [
    JSON.stringify(event({ user_id: 'u-17', coupon: 'SUMMER' })),
    JSON.stringify(event({ additional_data: { time_on_data: 1, percent_viewed: 10, product_id: 'p-3', price: 5, discount: 0.5 } })),
    JSON.stringify(event({ additional_data: JSON.stringify({ product_id: 'p-4', price: 7, discount: 1 }) })),
  ]);
}

describe('runCrawl', () => {
  it('registers the hour, infers nested and stringified additional_data, and establishes the schema without drift', async () => {
    await writeFirstHour();
    const result = await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock);

    expect(result).toEqual({
      hour: HOUR,
      objects: 2,
      sampledObjects: 0,
      records: 6,
      bytes: expect.any(Number),
      malformedRecords: 2,
      columns: 8,
      schemaEstablished: true,
      drift: [],
      catalogVersion: 1,
    });
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    const table = (await ports.catalog.snapshot()).tables.raw_events!;
    expect(table.columns).toEqual(FIRST_COLUMNS);
    expect(table.drift).toEqual([]);
    const partition = table.partitions[HOUR]!;
    expect(partition.location).toBe('raw/2021/07/12/05/');
    expect(partition.files).toEqual([
      { key: 'raw/2021/07/12/05/events-1-2021-07-12-05-00-00-a.gz', size: expect.any(Number), records: 4 },
      { key: 'raw/2021/07/12/05/events-1-2021-07-12-05-30-00-b', size: expect.any(Number), records: 2 },
    ]);
    expect(result.bytes).toBe(partition.files[0]!.size + partition.files[1]!.size);
    expect(partition.properties).toEqual({
      records: 6,
      sampledObjects: 0,
      malformedRecords: 2,
      malformedByReason: { malformed_json: 2, invalid_encoding: 0, too_large: 0 },
      stringified: { additional_data: 1 },
      columns: FIRST_COLUMNS,
    });
  });

  it('records drift when a later hour adds fields (nested ones too) and changes a type', async () => {
    await writeFirstHour();
    await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock);
    await writeDriftingHour();
    const result = await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-2' }, ports, clock);

    const detectedAt = '2021-07-12T07:05:00.000Z';
    const expected = [
      { field: 'additional_data.discount', change: 'added', to: 'double', partition: NEXT_HOUR, detectedAt, records: 2 },
      { field: 'coupon', change: 'added', to: 'string', partition: NEXT_HOUR, detectedAt, records: 1 },
      { field: 'user_id', change: 'type_changed', from: 'bigint', to: 'string', partition: NEXT_HOUR, detectedAt, records: 3 },
    ];
    expect(result.drift).toEqual(expected);
    expect(result).toMatchObject({ schemaEstablished: false, columns: 9, catalogVersion: 2 });
    const table = (await ports.catalog.snapshot()).tables.raw_events!;
    expect(table.drift).toEqual(expected);
    expect(table.columns.find((column) => column.name === 'additional_data')!.type).toBe(
      'struct<discount:double,percent_viewed:double,price:double,product_id:string,time_on_data:bigint>',
    );
    expect(table.columns.find((column) => column.name === 'user_id')!.type).toBe('string');
  });

  it('converges on rerun: no new commit and no repeated drift, whatever the execution', async () => {
    await writeFirstHour();
    await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock);
    await writeDriftingHour();
    await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-2' }, ports, clock);
    const before = await ports.catalog.snapshot();

    const rerun = await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-3' }, ports, clock);
    const olderRerun = await runCrawl({ hour: HOUR, executionId: 'exec-4' }, ports, clock);

    expect(rerun).toMatchObject({ drift: [], catalogVersion: 2, columns: 9, objects: 1, records: 3 });
    expect(olderRerun).toMatchObject({ drift: [], catalogVersion: 2, columns: 9 });
    expect(await ports.catalog.snapshot()).toEqual(before);
    expect(await ports.catalog.history()).toHaveLength(2);
  });

  it('reports the drift of the commit made by an earlier attempt of the same execution', async () => {
    await writeFirstHour();
    await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock);
    await writeDriftingHour();
    const first = await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-2' }, ports, clock);
    const store = new FsObjectStore(lake);
    const retried = await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-2' }, { store, catalog: new FsCatalog(store) }, clock);
    expect(retried).toEqual(first);
  });

  it('updates the partition when objects arrive late in an hour already crawled', async () => {
    await writeFirstHour();
    await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock);
    await writeRaw(HOUR, 'events-1-2021-07-12-05-59-00-z.gz', [JSON.stringify(event({ click_id: 'c-9' }))]);
    const result = await runCrawl({ hour: HOUR, executionId: 'exec-2' }, ports, clock);

    expect(result).toMatchObject({ objects: 3, records: 7, drift: [], catalogVersion: 2 });
    const partition = (await ports.catalog.snapshot()).tables.raw_events!.partitions[HOUR]!;
    expect(partition.version).toBe(2);
    expect(partition.files).toHaveLength(3);
  });

  it('converges on the same columns whichever order the hours are crawled in', async () => {
    await writeFirstHour();
    await writeDriftingHour();
    await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-1' }, ports, clock);
    await runCrawl({ hour: HOUR, executionId: 'exec-2' }, ports, clock);
    const reversed = (await ports.catalog.snapshot()).tables.raw_events!.columns;

    const otherLake = await fs.mkdtemp(path.join(os.tmpdir(), 'crawl-order-'));
    try {
      await fs.cp(path.join(lake, 'raw'), path.join(otherLake, 'raw'), { recursive: true });
      const store = new FsObjectStore(otherLake);
      const inOrder = { store, catalog: new FsCatalog(store) };
      await runCrawl({ hour: HOUR, executionId: 'exec-1' }, inOrder, clock);
      await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-2' }, inOrder, clock);
      expect((await inOrder.catalog.snapshot()).tables.raw_events!.columns).toEqual(reversed);
    } finally {
      await fs.rm(otherLake, { recursive: true, force: true });
    }
  });

  it('reads only the start of an object larger than the sample, and drops the record the sample cuts', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify(event({ click_id: `c-${String(i).padStart(3, '0')}` })));
    // A field that only the end of the object has: past the sample, so not seen by the crawl.
    lines.push(JSON.stringify(event({ click_id: 'c-last', coupon: 'SAVE10' })));
    await writeRaw(HOUR, 'events-1-2021-07-12-05-00-00-a', lines);
    const sampleBytes = 16 * 1024;
    const result = await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock, { sampleBytes });

    const recordBytes = Buffer.byteLength(`${lines[0]}\n`);
    expect(result).toMatchObject({ objects: 1, sampledObjects: 1, malformedRecords: 0 });
    // Every whole record of the sample, and not the one it cuts.
    expect(result.records).toBe(Math.floor(sampleBytes / recordBytes));
    const table = (await ports.catalog.snapshot()).tables.raw_events!;
    expect(table.columns.map((column) => column.name)).not.toContain('coupon');
    expect(table.partitions[HOUR]!.files).toEqual([{ key: 'raw/2021/07/12/05/events-1-2021-07-12-05-00-00-a', size: expect.any(Number) }]);
    expect(table.partitions[HOUR]!.properties.sampledObjects).toBe(1);

    // The default sample reads this object whole.
    const whole = await runCrawl({ hour: HOUR, executionId: 'exec-2' }, ports, clock);
    expect(whole).toMatchObject({ sampledObjects: 0, records: 401 });
  });

  it('succeeds on an hour with no objects and registers nothing', async () => {
    const result = await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock);
    expect(result).toEqual({ hour: HOUR, objects: 0, sampledObjects: 0, records: 0, bytes: 0, malformedRecords: 0, columns: 0, schemaEstablished: false, drift: [], catalogVersion: 0 });
    expect(await ports.catalog.history()).toEqual([]);
  });

  it('rejects a malformed hour with InvalidInputError before touching the catalog', async () => {
    await expect(runCrawl({ hour: '2021-07-12 05', executionId: 'exec-1' }, ports, clock)).rejects.toThrow(InvalidInputError);
  });
});

describe('describeRawSchema', () => {
  it('says when nothing was crawled yet', async () => {
    expect(describeRawSchema(await ports.catalog.snapshot())).toMatch(/no arrival hour crawled yet/);
  });

  it('lists the columns with nested fields and the drift history', async () => {
    await writeFirstHour();
    await runCrawl({ hour: HOUR, executionId: 'exec-1' }, ports, clock);
    await writeDriftingHour();
    await runCrawl({ hour: NEXT_HOUR, executionId: 'exec-2' }, ports, clock);
    const text = describeRawSchema(await ports.catalog.snapshot());

    expect(text).toMatch(/^raw_events: 9 columns, 2 arrival hours \(2021-07-12T05 to 2021-07-12T06\), 9 records read of which 2 malformed$/m);
    expect(text).toMatch(/^ {2}additional_data +struct$/m);
    expect(text).toMatch(/^ {4}discount +double$/m);
    expect(text).toMatch(/^ {2}user_id +string$/m);
    expect(text).toMatch(/2021-07-12T06 {2}added additional_data\.discount double {2}\(2 records/);
    expect(text).toMatch(/2021-07-12T06 {2}user_id changed type bigint -> string {2}\(3 records/);
  });
});

describe('createCrawlHandler', () => {
  it('parses the event and runs the crawl', async () => {
    await writeFirstHour();
    const handler = createCrawlHandler(ports);
    await expect(handler({ hour: HOUR, executionId: 'arn:aws:states:::execution:hourly:1', extra: true })).resolves.toMatchObject({ objects: 2 });
  });

  it.each([
    [{ hour: '2021-07-12T24', executionId: 'x' }, /hour: expected an existing hour/],
    [{ hour: HOUR }, /executionId/],
    ['2021-07-12T05', /invalid crawl input/],
  ])('rejects %p with a one-line InvalidInputError', async (event, message) => {
    const attempt = createCrawlHandler(ports)(event);
    await expect(attempt).rejects.toThrow(InvalidInputError);
    await expect(attempt).rejects.toThrow(message);
    await expect(attempt).rejects.toThrow(/^[^\n]*$/);
  });
});
