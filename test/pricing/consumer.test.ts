import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { FsDeadLetterQueue } from '../../tasks/adapters/local/fs-dead-letter-queue';
import type { TableSession } from '../../tasks/ports/operational-tables';
import { InvalidInputError } from '../../tasks/ports/errors';
import { createPriceSignalsHandler } from '../../tasks/pricing/handler';
import { applyPriceSignals, type PricingSettings } from '../../tasks/pricing/run';
import type { PriceHistoryItem } from '../../tasks/tables/items';
import { recommend, startModelEndpointFixture, type ModelEndpointFixture } from './model-endpoint-fixture';
import { createTestLake, holdTables, product, productItem, seed, signal, streamRecordsOf, type TestLake } from './tables-fixture';

const H1 = '2021-07-12T05';
const H2 = '2021-07-12T06';

describe('applyPriceSignals', () => {
  let lake: TestLake;
  let model: ModelEndpointFixture;
  let session: TableSession;
  let release: () => Promise<void>;
  let deadLetters: FsDeadLetterQueue;

  beforeEach(async () => {
    lake = createTestLake('consumer');
    await seed(lake.tables, [product(1), product(2), product(3)]);
    model = await startModelEndpointFixture(recommend(1.05));
    ({ session, release } = await holdTables(lake.tables));
    deadLetters = new FsDeadLetterQueue(lake.store, 'dead-letters/');
  });

  afterEach(async () => {
    await release();
    await model.close();
    lake.remove();
  });

  function deliver(records: DynamoDBRecord[], settings: PricingSettings = {}, onDecision?: (decision: PriceHistoryItem) => void) {
    return applyPriceSignals({ Records: records }, { tables: session, model: model.endpoint, deadLetters, onDecision }, settings);
  }

  async function history(productId: number): Promise<PriceHistoryItem[]> {
    const { Items } = await session.doc.send(
      new QueryCommand({ TableName: session.names.priceHistory, KeyConditionExpression: 'product_id = :p', ExpressionAttributeValues: { ':p': productId }, ConsistentRead: true }),
    );
    return (Items ?? []) as PriceHistoryItem[];
  }

  async function prices(): Promise<number[]> {
    return Promise.all([1, 2, 3].map(async (id) => (await productItem(session, id)).current_price));
  }

  it('changes each price as the model recommends and records why in price_history', async () => {
    const records = await streamRecordsOf([signal(1, H1), signal(2, H1)]);

    await expect(deliver(records)).resolves.toEqual({ batchItemFailures: [] });

    expect(await prices()).toEqual([105, 105, 100]);
    expect(model.requests).toHaveLength(1);
    expect(model.requests[0]!.instances.map((instance) => [instance.product_id, instance.current_price, instance.views_24h])).toEqual([
      [1, 100, 100],
      [2, 100, 100],
    ]);
    const [row] = await history(1);
    expect(row).toMatchObject({
      signal_id: signal(1, H1).signal_id,
      event_hour: H1,
      decision: 'changed',
      old_price: 100,
      new_price: 105,
      recommended_price: 105,
      model_version: 'fixture-1',
      stream_sequence: records[0]!.dynamodb!.SequenceNumber,
    });
    expect(row!.reason).toBe('raised 100.00 -> 105.00: model fixture-1 recommends 105.00 (3 units/day expected)');
    expect(await productItem(session, 1)).toMatchObject({ price_version: 1, priced_through_hour: H1 });
  });

  it('changes prices once when the same batch is delivered twice', async () => {
    const records = await streamRecordsOf([signal(1, H1), signal(2, H1), signal(1, H2)]);

    const decisions: string[][] = [[], []];
    await deliver(records, {}, (decision) => decisions[0]!.push(decision.signal_id));
    await expect(deliver(records, {}, (decision) => decisions[1]!.push(decision.signal_id))).resolves.toEqual({ batchItemFailures: [] });

    expect(decisions).toEqual([[signal(1, H1).signal_id, signal(2, H1).signal_id, signal(1, H2).signal_id], []]);
    expect(await prices()).toEqual([110.25, 105, 100]);
    expect((await productItem(session, 1)).price_version).toBe(2);
    expect(await history(1)).toHaveLength(2);
    expect(await history(2)).toHaveLength(1);
    // The second delivery found every signal decided and asked the model nothing.
    expect(model.requests).toHaveLength(2);
  });

  it('keeps a change within the guardrails and says which one held it back', async () => {
    model.answer = recommend(2);
    await deliver(await streamRecordsOf([signal(1, H1)]));

    expect((await productItem(session, 1)).current_price).toBe(110);
    expect((await history(1))[0]!.reason).toBe('raised 100.00 -> 110.00: model fixture-1 recommends 200.00 (3 units/day expected), capped at +10 % a change');
  });

  it('changes nothing and fails every record when the endpoint fails, and applies them when it recovers', async () => {
    model.answer = () => ({ status: 500, body: 'model crashed' });
    const records = await streamRecordsOf([signal(1, H1), signal(2, H1)]);

    const response = await deliver(records);

    expect(response.batchItemFailures.map(({ itemIdentifier }) => itemIdentifier)).toEqual(records.map((record) => record.dynamodb!.SequenceNumber));
    expect(await prices()).toEqual([100, 100, 100]);
    expect(await history(1)).toEqual([]);

    model.answer = recommend(1.05);
    await expect(deliver(records)).resolves.toEqual({ batchItemFailures: [] });
    expect(await prices()).toEqual([105, 105, 100]);
  });

  it('changes nothing and fails every record when the endpoint does not answer in time', async () => {
    model.answer = () => 'hang';
    const records = await streamRecordsOf([signal(1, H1)]);
    const failures: string[] = [];

    const started = Date.now();
    const response = await applyPriceSignals(
      { Records: records },
      { tables: session, model: model.endpoint, deadLetters, onRecordFailed: (_record, error) => failures.push(error.message) },
      { modelTimeoutMs: 300 },
    );

    expect(Date.now() - started).toBeLessThan(5_000);
    expect(response.batchItemFailures).toHaveLength(1);
    expect(failures).toEqual([expect.stringContaining('no answer within 300 ms')]);
    expect(await prices()).toEqual([100, 100, 100]);
  });

  it('sends a record that holds no signal to the dead letters and applies the rest of its batch', async () => {
    const records = await streamRecordsOf([signal(1, H1), signal(2, H1), signal(3, H1)]);
    delete records[1]!.dynamodb!.NewImage!['views_24h'];

    await expect(deliver(records)).resolves.toEqual({ batchItemFailures: [] });

    expect(await prices()).toEqual([105, 100, 105]);
    const letters = await deadLetters.list();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ record: { dynamodb: { SequenceNumber: records[1]!.dynamodb!.SequenceNumber } }, error: { name: 'InvalidInputError' } });
    expect(letters[0]!.error.message).toContain('views_24h');
  });

  it('refuses invalid guardrail settings before reading any record: nothing goes to the dead letters', async () => {
    const records = await streamRecordsOf([signal(1, H1), signal(2, H1)]);

    await expect(deliver(records, { minMarginFraction: -0.1 })).rejects.toThrow(/invalid guardrail minMarginFraction -0.1/);

    expect(await deadLetters.list()).toEqual([]);
    expect(await prices()).toEqual([100, 100, 100]);
    expect(() => createPriceSignalsHandler({ tables: session, model: model.endpoint, deadLetters }, { maxChangeFraction: 1 })).toThrow(InvalidInputError);
  });

  it('sends a signal of a product missing from the catalog to the dead letters', async () => {
    await deliver(await streamRecordsOf([signal(99, H1), signal(1, H1)]));

    expect((await productItem(session, 1)).current_price).toBe(105);
    expect((await deadLetters.list()).map((letter) => letter.error)).toEqual([{ name: 'NotFoundError', message: 'product 99 is not in the catalog' }]);
  });

  it('re-reads and decides again against the new price when the price is edited meanwhile', async () => {
    const answer = recommend(1.05);
    model.answer = async (request) => {
      if (model.requests.length === 1) {
        // Someone edits the price between the consumer's read and its conditional write.
        await session.doc.send(
          new UpdateCommand({ TableName: session.names.products, Key: { product_id: 1 }, UpdateExpression: 'SET current_price = :price', ExpressionAttributeValues: { ':price': 120 } }),
        );
      }
      return answer(request);
    };

    await expect(deliver(await streamRecordsOf([signal(1, H1)]))).resolves.toEqual({ batchItemFailures: [] });

    expect(model.requests.map((request) => request.instances[0]!.current_price)).toEqual([100, 120]);
    expect((await productItem(session, 1)).current_price).toBe(126);
    expect(await history(1)).toEqual([expect.objectContaining({ old_price: 120, new_price: 126 })]);
  });

  it('fails the record after the price keeps changing under it', async () => {
    model.answer = async (request) => {
      const current = (await productItem(session, 1)).current_price;
      await session.doc.send(
        new UpdateCommand({ TableName: session.names.products, Key: { product_id: 1 }, UpdateExpression: 'SET current_price = :price', ExpressionAttributeValues: { ':price': current + 1 } }),
      );
      return recommend(1.05)(request);
    };
    const records = await streamRecordsOf([signal(1, H1)]);

    const response = await deliver(records, { conflictRetries: 2 });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.dynamodb!.SequenceNumber }]);
    expect(model.requests).toHaveLength(3);
    expect(await history(1)).toEqual([]);
  });

  it('holds the price for a signal not newer than the one behind it', async () => {
    await deliver(await streamRecordsOf([signal(1, H2)]));
    await deliver(await streamRecordsOf([signal(1, H1)]));

    expect((await productItem(session, 1)).current_price).toBe(105);
    const held = (await history(1)).find((row) => row.event_hour === H1);
    expect(held).toMatchObject({ decision: 'held', old_price: 105, new_price: 105 });
    expect(held!.reason).toContain(`already follows the signal of ${H2}`);
    expect(model.requests).toHaveLength(1);
  });

  it('records the audit of a change whose audit write was lost, without changing the price again', async () => {
    const records = await streamRecordsOf([signal(1, H1)]);
    await deliver(records);
    const [row] = await history(1);
    await session.doc.send(new DeleteCommand({ TableName: session.names.priceHistory, Key: { product_id: 1, signal_id: row!.signal_id } }));

    await deliver(records);

    expect(await history(1)).toEqual([row]);
    expect(await productItem(session, 1)).toMatchObject({ current_price: 105, price_version: 1 });
    expect(model.requests).toHaveLength(1);
  });
});
