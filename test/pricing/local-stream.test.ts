import { utimesSync } from 'node:fs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { FsDeadLetterQueue } from '../../tasks/adapters/local/fs-dead-letter-queue';
import { sequenceOf, StreamLog } from '../../tasks/adapters/local/stream-log';
import type { TableSession } from '../../tasks/ports/operational-tables';
import { createPriceSignalsHandler } from '../../tasks/pricing/handler';
import type { PriceSignalItem } from '../../tasks/tables/items';
import { LocalEventSourceMapping, type EventSourceMappingSettings } from '../../tasks/runtime/local-event-source-mapping';
import { keysUnder } from '../tasks/adapters/object-store-contract';
import { recommend, startModelEndpointFixture, type ModelEndpointFixture } from './model-endpoint-fixture';
import { createTestLake, holdTables, product, productItem, seed, signal, type TestLake } from './tables-fixture';

const HOURS = ['2021-07-12T05', '2021-07-12T06'];
const PRODUCTS = [1, 2, 3, 4, 5];

function inserts(signals: readonly PriceSignalItem[]) {
  return signals.map((item) => ({ eventName: 'INSERT' as const, keys: { product_id: item.product_id, event_hour: item.event_hour }, newImage: item }));
}

describe('the local price_signals stream', () => {
  let lake: TestLake;
  let log: StreamLog;
  let deadLetters: FsDeadLetterQueue;

  beforeEach(() => {
    lake = createTestLake('stream');
    log = new StreamLog(lake.store, { tableName: 'price_signals', prefix: '_streams/price_signals/' });
    deadLetters = new FsDeadLetterQueue(lake.store, '_streams/price_signals/dead-letters/');
  });

  afterEach(() => lake.remove());

  const mapping = (settings: EventSourceMappingSettings = {}) => new LocalEventSourceMapping(log, deadLetters, { batchSize: 4, maxRetries: 2, retryDelayMs: 5, ...settings });

  describe('with a stand-in handler', () => {
    const event = (n: number) => inserts([signal(n, HOURS[0]!)]);

    beforeEach(async () => {
      for (const n of [1, 2, 3, 4, 5, 6]) await log.record(event(n));
    });

    it('numbers records in log order and shapes them as DynamoDB Streams does', async () => {
      const records = await log.readAfter(undefined, 10);
      expect(records.map(sequenceOf)).toEqual([...records.map(sequenceOf)].sort());
      expect(records[0]).toMatchObject({
        eventName: 'INSERT',
        eventSource: 'aws:dynamodb',
        eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/price_signals/stream/local',
        dynamodb: { Keys: { product_id: { N: '1' }, event_hour: { S: HOURS[0] } }, StreamViewType: 'NEW_AND_OLD_IMAGES', NewImage: { views_24h: { N: '100' } } },
      });
      expect(typeof records[0]!.dynamodb!.ApproximateCreationDateTime).toBe('number');
    });

    it('acknowledges what precedes a reported failure and redelivers from the failed record on', async () => {
      const batches: string[][] = [];
      let failed = false;
      const report = await mapping().drain(async (delivered: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
        const sequences = delivered.Records.map(sequenceOf);
        batches.push(sequences);
        if (!failed) {
          failed = true;
          return { batchItemFailures: [{ itemIdentifier: sequences[2]! }, { itemIdentifier: sequences[3]! }] };
        }
        return { batchItemFailures: [] };
      });

      const all = (await log.readAfter(undefined, 10)).map(sequenceOf);
      expect(batches).toEqual([all.slice(0, 4), all.slice(2, 4), all.slice(4, 6)]);
      expect(report).toEqual({ invocations: 3, delivered: 6, deadLettered: 0 });
      expect(await log.checkpoint()).toBe(all[5]);
      expect(await log.pendingCount()).toBe(0);
    });

    it('retries a batch whose handler threw, and a failure naming no record of the batch fails all of it', async () => {
      const calls: number[] = [];
      await mapping().drain(async (delivered) => {
        calls.push(delivered.Records.length);
        if (calls.length === 1) throw new Error('cold start');
        if (calls.length === 2) return { batchItemFailures: [{ itemIdentifier: 'no such record' }] };
        return { batchItemFailures: [] };
      });

      expect(calls).toEqual([4, 4, 4, 2]);
      expect(await deadLetters.list()).toEqual([]);
    });

    it('splits a batch that keeps failing and sends only the record that fails alone to the dead letters', async () => {
      const all = (await log.readAfter(undefined, 10)).map(sequenceOf);
      const poison = all[1]!;
      const seen: string[][] = [];
      const report = await mapping().drain(async (delivered) => {
        seen.push(delivered.Records.map(sequenceOf));
        if (delivered.Records.some((record) => sequenceOf(record) === poison)) throw new Error('poison');
        return { batchItemFailures: [] };
      });

      // The batch and its two retries, then one more try of each part as it is halved, then the next batch.
      const batch = all.slice(0, 4);
      expect(seen).toEqual([batch, batch, batch, all.slice(0, 2), [all[0]], [poison], all.slice(2, 4), all.slice(4, 6)]);
      expect(report).toEqual({ invocations: 8, delivered: 5, deadLettered: 1 });
      const letters = await deadLetters.list();
      expect(letters.map((letter) => [sequenceOf(letter.record), letter.error])).toEqual([[poison, { name: 'Error', message: 'poison' }]]);
      expect(await log.pendingCount()).toBe(0);
    });

    it('delivers nothing twice once acknowledged, and later records after them', async () => {
      const delivered: string[] = [];
      const handler = async (batch: DynamoDBStreamEvent) => {
        delivered.push(...batch.Records.map(sequenceOf));
        return { batchItemFailures: [] };
      };
      await mapping().drain(handler);
      await log.record(event(7));
      await mapping().drain(handler);

      const all = (await log.readAfter(undefined, 10)).map(sequenceOf);
      expect(delivered).toEqual(all);
      expect(all).toHaveLength(7);
    });

    it('trims acknowledged segments past the retention, never unacknowledged ones, and numbers on after them', async () => {
      const segmentKeys = async () => await keysUnder(lake.store, '_streams/price_signals/records/');
      const ageAll = async (hours: number) => {
        const then = new Date(Date.now() - hours * 3_600_000);
        for (const key of await segmentKeys()) utimesSync(lake.store.locate(key), then, then);
      };
      const sequences = (await log.readAfter(undefined, 10)).map(sequenceOf);
      const keys = await segmentKeys();
      await ageAll(25);
      utimesSync(lake.store.locate(keys[1]!), new Date(), new Date());
      await log.acknowledge(sequences[3]!);

      expect(await log.trimAcknowledged()).toBe(2);
      // Segment 2 is younger than the retention; 4 holds the checkpoint; 5 and 6 wait for delivery although old.
      expect(await segmentKeys()).toEqual([keys[1], keys[3], keys[4], keys[5]]);
      expect(await new StreamLog(lake.store, { tableName: 'price_signals', prefix: '_streams/price_signals/', retentionHours: 0 }).trimAcknowledged()).toBe(1);

      const delivered: string[] = [];
      await mapping().drain(async (batch) => {
        delivered.push(...batch.Records.map(sequenceOf));
      });
      expect(delivered).toEqual(sequences.slice(4));
      // The drain trimmed after delivering: only the checkpoint's segment, the last, is left.
      await ageAll(25);
      await mapping().drain(async () => {});
      expect(await segmentKeys()).toEqual([keys[5]]);

      const later = new StreamLog(lake.store, { tableName: 'price_signals', prefix: '_streams/price_signals/' });
      await later.record(event(7));
      const after = await later.readAfter(await later.checkpoint(), 10);
      expect(after.map((record) => record.dynamodb?.NewImage?.product_id)).toEqual([{ N: '7' }]);
      expect(sequenceOf(after[0]!) > sequences[5]!).toBe(true);
    });
  });

  describe('with the consumer', () => {
    let model: ModelEndpointFixture;
    let session: TableSession;
    let release: () => Promise<void>;

    beforeEach(async () => {
      await seed(lake.tables, PRODUCTS.map((id) => product(id)));
      model = await startModelEndpointFixture(recommend(1.05));
      ({ session, release } = await holdTables(lake.tables));
      for (const hour of HOURS) await log.record(inserts(PRODUCTS.map((id) => signal(id, hour))));
    });

    afterEach(async () => {
      await release();
      await model.close();
    });

    function drain(settings: EventSourceMappingSettings = {}) {
      const esm = mapping(settings);
      return esm.drain(createPriceSignalsHandler({ tables: session, model: model.endpoint, deadLetters, onRecordFailed: esm.noteFailure }));
    }

    it('applies every signal once, in order per product, in batches', async () => {
      await expect(drain()).resolves.toEqual({ invocations: 3, delivered: 10, deadLettered: 0 });
      await expect(drain()).resolves.toEqual({ invocations: 0, delivered: 0, deadLettered: 0 });

      for (const id of PRODUCTS) expect(await productItem(session, id)).toMatchObject({ current_price: 110.25, price_version: 2, priced_through_hour: HOURS[1] });
    });

    it('retries while the endpoint fails and applies the records once it answers', async () => {
      const answer = recommend(1.05);
      model.answer = (request) => (model.requests.length <= 2 ? { status: 503, body: 'warming up' } : answer(request));

      await expect(drain()).resolves.toMatchObject({ delivered: 10, deadLettered: 0 });

      for (const id of PRODUCTS) expect((await productItem(session, id)).current_price).toBe(110.25);
    });

    it('sends a record the endpoint always refuses to the dead letters with its error, and applies the rest', async () => {
      const answer = recommend(1.05);
      const refusal = { status: 400, body: JSON.stringify({ message: 'cannot price product 3' }) };
      model.answer = (request) => (request.instances.some((instance) => instance.product_id === 3) ? refusal : answer(request));

      const report = await drain();

      expect(report).toMatchObject({ deadLettered: 2, delivered: 8 });
      const letters = await deadLetters.list();
      expect(letters.map((letter) => [letter.record.dynamodb!.Keys, letter.error.name])).toEqual([
        [{ product_id: { N: '3' }, event_hour: { S: HOURS[0] } }, 'ModelEndpointError'],
        [{ product_id: { N: '3' }, event_hour: { S: HOURS[1] } }, 'ModelEndpointError'],
      ]);
      expect(letters[0]!.error.message).toContain('HTTP 400: cannot price product 3');
      for (const id of [1, 2, 4, 5]) expect((await productItem(session, id)).current_price).toBe(110.25);
      expect((await productItem(session, 3)).current_price).toBe(100);
      const { Items } = await session.doc.send(
        new QueryCommand({ TableName: session.names.priceHistory, KeyConditionExpression: 'product_id = :p', ExpressionAttributeValues: { ':p': 3 } }),
      );
      expect(Items).toEqual([]);
    });
  });
});
