import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FsObjectStore } from '../../tasks/adapters/local/fs-object-store';
import { InvalidInputError } from '../../tasks/ports/errors';
import { generateTraffic } from '../../generator/generate';
import type { FaultRates, GenerationReport } from '../../generator/generate';
import { isWellFormed, KNOWN_FIELDS, listKeys, readJsonLines, readRawLines, timestampMs, withTempLake } from './lake-reader';
import type { RawLine } from './lake-reader';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const NO_FAULTS: FaultRates = { late: 0, duplicate: 0, malformed: 0, stringifiedAdditionalData: 0, extraFields: 0, clockAhead: 0 };
const KEY_PATTERN =
  /^raw\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/clickstream-1-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.gz$/;

/** How long after its client send time a record may arrive (the simulated network delay is at most 5 s). */
const MAX_DELIVERY_MS = 5_000;

function sendLagMs(record: Record<string, unknown>): number {
  return timestampMs(record.insertion_timestamp) - timestampMs(record.timestamp);
}

describe('generateTraffic', () => {
  describe('with every fault raised', () => {
    const faults: FaultRates = { late: 0.1, duplicate: 0.1, malformed: 0.06, stringifiedAdditionalData: 0.1, extraFields: 0.2, clockAhead: 0.05 };
    let root: string;
    let store: FsObjectStore;
    let report: GenerationReport;
    let lines: RawLine[];
    let valid: (RawLine & { record: Record<string, unknown> })[];

    beforeAll(async () => {
      root = await mkdtemp(path.join(tmpdir(), 'generator-test-'));
      store = new FsObjectStore(root);
      report = await generateTraffic({ store, from: '2021-07-12T12', to: '2021-07-12T16', rate: 2, seed: 7, faults });
      lines = await readRawLines(store);
      valid = lines.filter((line): line is RawLine & { record: Record<string, unknown> } => isWellFormed(line.record));
    });

    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('reports the lines it wrote', () => {
      expect(report.hours).toBe(4);
      expect(report.records).toBe(lines.length);
      expect(report.objects).toBe(new Set(lines.map((line) => line.key)).size);
      // About 2 on-time events a second over 4 afternoon hours, where the daily curve runs above average.
      expect(report.events).toBeGreaterThan(25_000);
      expect(report.events).toBeLessThan(50_000);
      expect(report.users).toBe(2_000);
      expect(report.products).toBe(200);
    });

    it('writes the event schema of the seed sample, keys in the same order', () => {
      const plain = valid.find((line) => typeof line.record.additional_data === 'object' && !('app_version' in line.record));
      expect(plain).toBeDefined();
      const record = plain?.record as Record<string, unknown>;
      expect(Object.keys(record)).toEqual(KNOWN_FIELDS);
      expect(Object.keys(record.additional_data as object)).toEqual(['time_on_data', 'percent_viewed', 'product_id', 'price']);
      expect(record.user_id).toMatch(/^\d+$/);
      expect(record.pixel_id).toMatch(/^[a-z0-9]{10}$/);
      expect(record.click_id).toMatch(/^[0-9a-f]{32}$/);
      expect(['Search', 'ViewContent', 'AddToCart', 'Purchase']).toContain(record.event_name);
      expect(record.user_ip).toMatch(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
      timestampMs(record.timestamp);
      const data = record.additional_data as Record<string, number>;
      expect(Number.isInteger(data.time_on_data)).toBe(true);
      expect(Number.isInteger(data.product_id)).toBe(true);
      expect(data.price).toBeGreaterThan(0);
    });

    it('names objects as Firehose does, at most one per 5-minute window, under the window\'s hour', () => {
      const keys = [...new Set(lines.map((line) => line.key))];
      const windows = new Set<string>();
      for (const key of keys) {
        const match = KEY_PATTERN.exec(key);
        expect(match).not.toBeNull();
        const [, y, mo, d, h, ky, kmo, kd, kh, kmi, ks] = match as unknown as string[];
        expect(`${ky}-${kmo}-${kd}T${kh}`).toBe(`${y}-${mo}-${d}T${h}`);
        expect(Number(kmi) % 5).toBe(0);
        expect(ks).toBe('00');
        windows.add(`${kh}:${kmi}`);
      }
      expect(windows.size).toBe(keys.length);
      expect(keys.length).toBe(48);
    });

    it('counts each malformation kind exactly, in roughly the configured share', () => {
      const truncated = lines.filter((line) => line.record === undefined).length;
      const wrongType = lines.filter(
        (line) => line.record && (typeof line.record.timestamp === 'number' || typeof line.record.click_id === 'number'),
      ).length;
      const missing = lines.filter(
        (line) => line.record && ['click_id', 'timestamp', 'event_name'].some((field) => !(field in (line.record as object))),
      ).length;
      expect(report.injected.malformed).toEqual({ truncated_json: truncated, wrong_type: wrongType, missing_field: missing });
      const share = (truncated + wrongType + missing) / lines.length;
      expect(share).toBeGreaterThan(faults.malformed * 0.8);
      expect(share).toBeLessThan(faults.malformed * 1.2);
      for (const kind of [truncated, wrongType, missing]) expect(kind).toBeGreaterThan(0);
    });

    it('sends stringified additional_data that parses to the object', () => {
      const stringified = valid.filter((line) => typeof line.record.additional_data === 'string');
      expect(stringified.length).toBe(report.injected.stringifiedAdditionalData);
      expect(stringified.length / lines.length).toBeGreaterThan(0.08);
      expect(stringified.length / lines.length).toBeLessThan(0.12);
      for (const line of stringified) {
        const data: unknown = JSON.parse(line.record.additional_data as string);
        expect(Object.keys(data as object)).toEqual(['time_on_data', 'percent_viewed', 'product_id', 'price']);
      }
    });

    it('adds unknown fields only from the middle of the range on', () => {
      const drifted = valid.filter((line) => Object.keys(line.record).some((key) => !KNOWN_FIELDS.includes(key)));
      expect(drifted.length).toBe(report.injected.extraFields);
      const midMs = Date.UTC(2021, 6, 12, 14);
      expect(drifted.every((line) => line.hourStartMs >= midMs)).toBe(true);
      const secondHalf = lines.filter((line) => line.hourStartMs >= midMs).length;
      expect(drifted.length / secondHalf).toBeGreaterThan(0.15);
      expect(drifted.length / secondHalf).toBeLessThan(0.25);
      expect(drifted.every((line) => typeof line.record.app_version === 'string' && typeof line.record.screen === 'object')).toBe(true);
    });

    it('re-sends duplicates with the same bytes, in the same hour and in later hours', () => {
      const firstSeen = new Map<string, RawLine>();
      let duplicates = 0;
      let sameHour = 0;
      let laterHour = 0;
      let hoursLater = 0;
      for (const line of valid) {
        const first = firstSeen.get(line.record.click_id as string);
        if (!first) {
          firstSeen.set(line.record.click_id as string, line);
          continue;
        }
        duplicates++;
        expect(line.text).toBe(first.text);
        if (line.arrivalHour === first.arrivalHour) sameHour++;
        else laterHour++;
        if (line.hourStartMs - first.hourStartMs >= 2 * HOUR_MS) hoursLater++;
      }
      expect(duplicates).toBe(report.injected.duplicates);
      expect(report.events).toBe(firstSeen.size);
      expect(sameHour).toBeGreaterThan(0);
      expect(laterHour).toBeGreaterThan(0);
      // Some are retried on reconnect hours later, not only across an hour boundary.
      expect(hoursLater).toBeGreaterThan(0);
      // Retries that would arrive after the range are not written, so fewer than the configured share appear.
      expect(duplicates / report.events).toBeGreaterThan(faults.duplicate * 0.35);
      expect(duplicates / report.events).toBeLessThan(faults.duplicate * 1.1);
    });

    it('sends late sessions long after they happened, in about the configured share', () => {
      const late = valid.filter((line) => sendLagMs(line.record) > MINUTE_MS).length;
      const malformed = Object.values(report.injected.malformed).reduce((sum, n) => sum + n, 0);
      expect(late).toBeLessThanOrEqual(report.injected.late);
      expect(late).toBeGreaterThanOrEqual(report.injected.late - malformed);
      expect(report.injected.late / lines.length).toBeGreaterThan(0.07);
      expect(report.injected.late / lines.length).toBeLessThan(0.13);
    });

    it('runs some client clocks ahead of the server, a share of them by more than an hour', () => {
      const hourEndMs = (line: RawLine): number => line.hourStartMs + HOUR_MS;
      const ahead = valid.filter((line) => timestampMs(line.record.insertion_timestamp) > hourEndMs(line) + MAX_DELIVERY_MS);
      const farAhead = valid.filter((line) => timestampMs(line.record.timestamp) > hourEndMs(line) + HOUR_MS);
      expect(ahead.length).toBeLessThanOrEqual(report.injected.clockAhead);
      expect(farAhead.length).toBeGreaterThan(report.injected.clockAhead * 0.15);
      expect(farAhead.length).toBeLessThan(report.injected.clockAhead * 0.5);
      expect(report.injected.clockAhead / lines.length).toBeGreaterThan(0.03);
      expect(report.injected.clockAhead / lines.length).toBeLessThan(0.07);
    });

    it('writes an order for every purchase, once, in the partition of its hour', async () => {
      const orderKeys = await listKeys(store, 'dims/orders/');
      const orders = (await Promise.all(orderKeys.map(async (key) => (await readJsonLines(store, key)).map((order) => ({ key, order }))))).flat();
      expect(orders.length).toBe(report.orders);
      const byClick = new Map(orders.map(({ key, order }) => [order.click_id as string, { key, order }]));
      expect(byClick.size).toBe(orders.length);
      for (const { key, order } of orders) {
        const at = order.ordered_at as string;
        expect(at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
        expect(key).toBe(`dims/orders/dt=${at.slice(0, 10)}/hr=${at.slice(11, 13)}/orders.jsonl`);
        expect([1, 2, 3]).toContain(order.quantity);
      }
      const purchases = new Map(
        valid.filter((line) => line.record.event_name === 'Purchase').map((line) => [line.record.click_id as string, line.record]),
      );
      for (const [clickId, purchase] of purchases) {
        const order = byClick.get(clickId)?.order;
        expect(order).toBeDefined();
        const data = typeof purchase.additional_data === 'string' ? JSON.parse(purchase.additional_data) : purchase.additional_data;
        expect(order?.user_id).toBe(purchase.user_id);
        expect(order?.product_id).toBe(data.product_id);
        expect(order?.unit_price).toBe(data.price);
        // The order system keeps server time; a client clock may only run ahead of it.
        expect(timestampMs(purchase.timestamp)).toBeGreaterThanOrEqual(Date.parse(order?.ordered_at as string) - 1);
      }
      // The rest are purchases whose click record was malformed.
      const malformed = Object.values(report.injected.malformed).reduce((sum, n) => sum + n, 0);
      expect(orders.length - purchases.size).toBeGreaterThanOrEqual(0);
      expect(orders.length - purchases.size).toBeLessThanOrEqual(malformed);
      expect(purchases.size).toBeGreaterThan(report.events * 0.02);
    });
  });

  describe('arrival-hour placement', () => {
    it('puts every record in the object of the hour it was sent in, late ones with older client times', async () => {
      await withTempLake(async (store) => {
        await generateTraffic({ store, from: '2021-07-12T20', to: '2021-07-12T23', rate: 1, seed: 3, faults: { ...NO_FAULTS, late: 0.2 } });
        const lines = await readRawLines(store);
        let lateCount = 0;
        let beforeTheHour = 0;
        let maxLatenessMs = 0;
        for (const line of lines) {
          const record = line.record as Record<string, unknown>;
          const sentMs = timestampMs(record.insertion_timestamp);
          // With server-true client clocks, the send time is the arrival time less a few seconds.
          expect(sentMs).toBeGreaterThanOrEqual(line.hourStartMs - MAX_DELIVERY_MS);
          expect(sentMs).toBeLessThan(line.hourStartMs + HOUR_MS);
          const lagMs = sendLagMs(record);
          expect(lagMs).toBeGreaterThanOrEqual(0);
          if (lagMs <= 3_000) continue;
          lateCount++;
          expect(lagMs).toBeGreaterThanOrEqual(2 * MINUTE_MS);
          if (timestampMs(record.timestamp) < line.hourStartMs) beforeTheHour++;
          maxLatenessMs = Math.max(maxLatenessMs, lagMs);
        }
        expect(lateCount / lines.length).toBeGreaterThan(0.15);
        expect(lateCount / lines.length).toBeLessThan(0.25);
        expect(beforeTheHour / lateCount).toBeGreaterThan(0.4);
        expect(maxLatenessMs).toBeGreaterThan(24 * HOUR_MS);
        expect(maxLatenessMs).toBeLessThanOrEqual(72 * HOUR_MS);
      });
    });

    it('closes windows at the hour when the buffer interval does not divide it', async () => {
      await withTempLake(async (store) => {
        await generateTraffic({ store, from: '2021-07-12T10', to: '2021-07-12T12', rate: 1, bufferSeconds: 420, streamName: 'clicks.v2' });
        const keys = await listKeys(store, 'raw/');
        const minutes = keys.map((key) => /clicks\.v2-1-2021-07-12-(\d{2})-(\d{2})-00-/.exec(key)?.slice(1).join(':'));
        expect(minutes).toEqual(
          ['10', '11'].flatMap((hour) => ['00', '07', '14', '21', '28', '35', '42', '49', '56'].map((minute) => `${hour}:${minute}`)),
        );
      });
    });
  });

  describe('dimensions', () => {
    it('writes users and products with their true elasticities', async () => {
      await withTempLake(async (store) => {
        await generateTraffic({ store, from: '2021-07-12T10', to: '2021-07-12T11', rate: 1 });
        const users = await readJsonLines(store, 'dims/users/users.jsonl');
        expect(users).toHaveLength(2_000);
        expect(Object.keys(users[0] as object)).toEqual(['user_id', 'name', 'segment']);
        expect(new Set(users.map((user) => user.user_id)).size).toBe(2_000);
        expect(users.every((user) => /^\S+ \S+$/.test(user.name as string))).toBe(true);
        const products = await readJsonLines(store, 'dims/products.jsonl');
        expect(products).toHaveLength(200);
        for (const product of products) {
          expect(Object.keys(product)).toEqual(['product_id', 'name', 'category', 'base_price', 'cost', 'inventory', 'true_elasticity']);
          expect(product.cost as number).toBeLessThan(product.base_price as number);
          expect(product.true_elasticity as number).toBeLessThan(0);
        }
        const elasticityByCategory = new Map(products.map((product) => [product.category, product.true_elasticity]));
        expect(elasticityByCategory.size).toBe(5);
        expect(new Set(elasticityByCategory.values()).size).toBe(5);
      });
    });

    it('merges orders into partitions that an earlier run wrote, and a rerun changes nothing', async () => {
      await withTempLake(async (store) => {
        const options = { store, rate: 1, faults: { late: 0.3 } };
        const countOrders = async (): Promise<Map<string, number>> => {
          const counts = new Map<string, number>();
          for (const key of await listKeys(store, 'dims/orders/')) counts.set(key, (await readJsonLines(store, key)).length);
          return counts;
        };
        const first = await generateTraffic({ ...options, from: '2021-07-12T10', to: '2021-07-12T12' });
        const afterFirst = await countOrders();
        const second = await generateTraffic({ ...options, from: '2021-07-12T12', to: '2021-07-12T14' });
        const afterSecond = await countOrders();
        // Late purchases of the second run fall into hours the first run wrote.
        expect([...afterFirst].some(([key, count]) => (afterSecond.get(key) ?? 0) > count)).toBe(true);
        const sum = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);
        expect(sum(afterSecond)).toBe(first.orders + second.orders);
        const rerun = await generateTraffic({ ...options, from: '2021-07-12T12', to: '2021-07-12T14' });
        expect(rerun).toEqual(second);
        expect(await countOrders()).toEqual(afterSecond);
      });
    });
  });

  it('reports each arrival hour in order once its objects are stored', async () => {
    await withTempLake(async (store) => {
      const calls: [string, number, number, number][] = [];
      await generateTraffic({
        store,
        from: '2021-07-12T22',
        to: '2021-07-13T01',
        rate: 1,
        onProgress: (hour, done, total) => calls.push([hour, done, total, 0]),
      });
      expect(calls.map(([hour, done, total]) => [hour, done, total])).toEqual([
        ['2021-07-12T22', 1, 3],
        ['2021-07-12T23', 2, 3],
        ['2021-07-13T00', 3, 3],
      ]);
    });
  });

  describe('option validation', () => {
    const base = { from: '2021-07-12T10', to: '2021-07-12T11' };
    it.each([
      [{ from: '2021-07-12T12', to: '2021-07-12T11' }, /after/],
      [{ from: '2021-07-12 10' }, /invalid hour "2021-07-12 10"/],
      [{ to: '2021-02-30T00' }, /no such date/],
      [{ rate: 0 }, /invalid rate 0/],
      [{ rate: -1 }, /invalid rate -1/],
      [{ rate: Number.NaN }, /invalid rate NaN/],
      [{ seed: 1.5 }, /invalid seed 1.5/],
      [{ bufferSeconds: 0 }, /invalid buffer interval 0/],
      [{ streamName: 'a/b' }, /invalid stream name "a\/b"/],
      [{ faults: { duplicate: 1.5 } }, /fault "duplicate": got 1.5, expected a number from 0 to 1/],
      [{ faults: { malformed: -0.1 } }, /fault "malformed": got -0.1/],
      [{ faults: { late: 1 } }, /fault "late": got 1, expected below 1/],
      [{ faults: { typo: 0.1 } as Partial<FaultRates> }, /unknown fault "typo"/],
    ])('rejects %p with InvalidInputError before writing anything', async (override, message) => {
      const root = await mkdtemp(path.join(tmpdir(), 'generator-test-'));
      try {
        const attempt = generateTraffic({ store: new FsObjectStore(root), ...base, ...override });
        await expect(attempt).rejects.toThrow(InvalidInputError);
        await expect(attempt).rejects.toThrow(message);
        expect(await readdir(root)).toEqual([]);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });

    it('accepts an empty range and writes only the dimensions', async () => {
      await withTempLake(async (store) => {
        const report = await generateTraffic({ store, from: '2021-07-12T10', to: '2021-07-12T10' });
        expect(report).toMatchObject({ hours: 0, objects: 0, records: 0, events: 0, orders: 0 });
        expect(await listKeys(store, '')).toEqual(['dims/products.jsonl', 'dims/users/users.jsonl']);
      });
    });
  });
});

describe('generateTraffic lateness window', () => {
  it('keeps late events within maxLatenessHours of their arrival hour', async () => {
    await withTempLake(async (store) => {
      await generateTraffic({ store, from: '2021-07-12T10', to: '2021-07-12T12', rate: 2, faults: { late: 0.3, malformed: 0 }, maxLatenessHours: 6 });
      const times = (await readRawLines(store)).map((line) => timestampMs(line.record?.timestamp));
      expect(Math.min(...times)).toBeGreaterThanOrEqual(Date.parse('2021-07-12T04:00:00Z'));
      expect(Math.min(...times)).toBeLessThan(Date.parse('2021-07-12T09:00:00Z'));
      await expect(generateTraffic({ store, from: '2021-07-12T10', to: '2021-07-12T11', maxLatenessHours: 1 })).rejects.toThrow(/maximum lateness/);
    });
  });
});
