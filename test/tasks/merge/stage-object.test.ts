import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fc from 'fast-check';
import { STAGED_COLUMNS, STAGED_CSV_OPTIONS, stageObject, type StageObjectTask } from '../../../tasks/merge/stage-object';
import { createStagePool } from '../../../tasks/merge/stage-pool';
import { DEFAULT_VALIDATION_RULES, validateRecord, arrivalTimeOfKey, type ValidEvent } from '../../../tasks/merge/validate-record';
import { hourStartMs } from '../../../tasks/shared/hours';

const KEY = 'raw/2021/07/12/05/clickstream-1-2021-07-12-05-10-00-6f1c2a7e.gz';
const ARRIVAL_START_MS = hourStartMs('2021-07-12T05');

let dir: string;
let instance: DuckDBInstance;
let db: DuckDBConnection;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stage-object-'));
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
});

afterAll(async () => {
  db.closeSync();
  instance.closeSync();
  await fs.rm(dir, { recursive: true, force: true });
});

function task(records: readonly unknown[], overrides: Partial<StageObjectTask> = {}): StageObjectTask {
  const body = gzipSync(Buffer.from(records.map((record) => (typeof record === 'string' ? record : JSON.stringify(record))).join('\n')));
  return { body, key: KEY, index: 3, rules: DEFAULT_VALIDATION_RULES, maxRecordBytes: 1 << 20, ...overrides };
}

/** Reads staging CSV back the way the merge does. */
async function readBack(csv: readonly Uint8Array[]): Promise<Record<string, unknown>[]> {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.csv`);
  await fs.writeFile(file, Buffer.concat(csv));
  const columns = Object.entries(STAGED_COLUMNS)
    .map(([name, type]) => `${name}: '${type}'`)
    .join(', ');
  const reader = await db.runAndReadAll(`SELECT * FROM read_csv('${file}', columns = {${columns}}, ${STAGED_CSV_OPTIONS}) ORDER BY record_number`);
  return reader.getRowObjectsJS().map((row) => Object.fromEntries(Object.entries(row).map(([name, value]) => [name, typeof value === 'bigint' ? Number(value) : value])));
}

/** What the staged row of an accepted event must hold. */
function expectedRow(event: ValidEvent, recordNumber: number): Record<string, unknown> {
  return {
    click_id: event.clickId,
    event_us: event.eventTimeMicros,
    sent_us: event.sentTimeMicros,
    derived_us: event.derivedTimeMicros,
    event_name: event.eventName,
    user_id: event.userId,
    pixel_id: event.pixelId,
    product_id: event.productId,
    price: event.price,
    percent_viewed: event.percentViewed,
    time_on_data: event.timeOnData,
    extra: event.extra,
    user_ip: event.userIp,
    object: 3,
    record_number: recordNumber,
  };
}

function validated(record: Record<string, unknown>, recordNumber: number): ValidEvent {
  const source = { key: KEY, recordNumber, arrivalHour: '2021-07-12T05', arrivalHourStartMs: ARRIVAL_START_MS, arrivalTimeMs: arrivalTimeOfKey(KEY)! };
  const validation = validateRecord(record, source);
  if (!validation.ok) throw new Error(`fixture record rejected: ${validation.reason}`);
  return validation.event;
}

/** Text a client may send: quotes, separators, line breaks, NUL, non-ASCII; not lone surrogates, which UTF-8 cannot hold. */
const clientText = fc.string({ unit: fc.oneof(fc.constantFrom('"', ',', '\n', '\r', '\t', '\0', '\\', 'é', '雪', '😀'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 })), maxLength: 20 });

describe('stageObject', () => {
  it('stages every accepted event so that DuckDB reads back exactly the validated values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            click_id: clientText.filter((text) => text.length > 0),
            event_name: clientText.filter((text) => text.length > 0),
            user_id: fc.option(fc.oneof(clientText, fc.integer({ min: -1e6, max: 1e6 }).map(String)), { nil: undefined }),
            pixel_id: fc.option(clientText, { nil: undefined }),
            microsAfterStart: fc.integer({ min: -30 * 24 * 3_600_000_000, max: 3_600_000_000 }),
            // -0 is staged as 0, which no price tells apart.
            price: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }).map((price) => price + 0), { nil: undefined }),
            product_id: fc.option(fc.maxSafeInteger(), { nil: undefined }),
            extra: fc.option(clientText, { nil: undefined }),
          }),
          { maxLength: 8 },
        ),
        async (generated) => {
          const records = generated.map(({ microsAfterStart, price, product_id, extra, ...fields }) => {
            const timestamp = new Date(ARRIVAL_START_MS + Math.floor(microsAfterStart / 1000)).toISOString().replace('Z', `${String(((microsAfterStart % 1000) + 1000) % 1000).padStart(3, '0')}Z`);
            const record: Record<string, unknown> = { ...fields, timestamp, user_ip: '81.2.69.160', additional_data: { price, product_id } };
            if (extra !== undefined) record.note = extra;
            return record;
          });
          const staged = stageObject(task(records));
          expect(staged).toMatchObject({ records: records.length, valid: records.length, rejects: [] });
          expect(await readBack(staged.csv)).toEqual(records.map((record, i) => expectedRow(validated(record, i + 1), i + 1)));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps null and the empty string apart, and formats timestamps before 1970 and after 2038', async () => {
    const records = [
      { click_id: 'a', timestamp: '2021-07-12 05:00:00', event_name: 'x', user_id: '', pixel_id: null },
      { click_id: 'b', timestamp: '1969-12-31T23:59:59.999999Z', event_name: 'x' },
      { click_id: 'c', timestamp: '2040-01-01 00:00:00.000001', event_name: 'x', insertion_timestamp: '2040-01-01 00:00:00.5' },
    ];
    const rules = { ...DEFAULT_VALIDATION_RULES, lateLimitMs: 100 * 365 * 24 * 3_600_000, futureToleranceMs: 100 * 365 * 24 * 3_600_000 };
    const staged = stageObject(task(records, { rules }));
    const rows = await readBack(staged.csv);
    expect(rows.map((row) => [row.click_id, row.event_us, row.sent_us, row.user_id, row.pixel_id])).toEqual([
      ['a', Date.UTC(2021, 6, 12, 5) * 1000, null, '', null],
      ['b', -1, null, null, null],
      ['c', Date.UTC(2040, 0, 1) * 1000 + 1, Date.UTC(2040, 0, 1) * 1000 + 500_000, null, null],
    ]);
  });

  it('keeps each rejected record whole, with its reason and record number', () => {
    const staged = stageObject(task(['{"click_id": "a", "timestamp": "2021-07-12 05:00:00", "event_name": "x"}', 'not json', '{"click_id": ""}']));
    expect(staged.valid).toBe(1);
    expect(staged.rejects).toEqual([
      { reason: 'malformed_json', source_key: KEY, record_number: 2, arrival_hour: '2021-07-12T05', record: 'not json', record_base64: null },
      { reason: 'invalid_field:click_id', source_key: KEY, record_number: 3, arrival_hour: '2021-07-12T05', record: '{"click_id": ""}', record_base64: null },
    ]);
    expect(staged.rejectedByReason).toEqual({ malformed_json: 1, 'invalid_field:click_id': 1 });
  });

  it('gives the same result on a worker thread as on this one, which the raw bytes move to instead of being copied', async () => {
    const pool = createStagePool(1);
    try {
      const records = task([{ click_id: 'a"b', timestamp: '2021-07-12 05:00:00', event_name: 'x', user_ip: '81.2.69.160' }, '{broken']);
      // A body read from a file owns its memory, as this copy does.
      const input = { ...records, body: new Uint8Array(records.body) };
      const onThisThread = stageObject({ ...input, body: Buffer.from(input.body) });
      const onWorker = await pool.stage(input);
      expect(input.body.byteLength).toBe(0);
      expect({ ...onWorker, csv: Buffer.concat(onWorker.csv).toString() }).toEqual({ ...onThisThread, csv: Buffer.concat(onThisThread.csv).toString() });
    } finally {
      await pool.close();
    }
  });

  it('leaves a body that shares its memory with other Buffers where it is', async () => {
    const pool = createStagePool(1);
    try {
      const body = Buffer.from(gzipSync(Buffer.from(JSON.stringify({ click_id: 'a', timestamp: '2021-07-12 05:00:00', event_name: 'x' }))));
      const neighbour = Buffer.from('shares the pool');
      expect(body.buffer).toBe(neighbour.buffer);
      const staged = await pool.stage(task([], { body }));
      expect(staged.valid).toBe(1);
      expect(body.byteLength).toBeGreaterThan(0);
      expect(neighbour.toString()).toBe('shares the pool');
    } finally {
      await pool.close();
    }
  });
});
