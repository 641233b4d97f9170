import { setTimeout as sleep } from 'node:timers/promises';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { AttributeValue } from 'aws-lambda';
import { StreamLog } from '../../tasks/adapters/local/stream-log';
import type { ChangeCapture, ItemChange } from '../../tasks/ports/change-capture';
import type { TableSession } from '../../tasks/ports/operational-tables';
import { putChangedSignals } from '../../tasks/signals/signal-writer';
import type { PriceSignalItem } from '../../tasks/tables/items';
import { writeItems } from '../../tasks/tables/write-items';
import { createTestLake, holdTables, signal, type TestLake } from '../pricing/tables-fixture';

const HOUR = '2021-07-12T05';

describe('putChangedSignals', () => {
  let lake: TestLake;
  let session: TableSession;
  let release: () => Promise<void>;

  beforeEach(async () => {
    lake = createTestLake('signal-writer');
    ({ session, release } = await holdTables(lake.tables));
  });

  afterEach(async () => {
    await release();
    lake.remove();
  });

  const stored = async (productId: number) =>
    (await session.doc.send(new GetCommand({ TableName: session.names.priceSignals, Key: { product_id: productId, event_hour: HOUR }, ConsistentRead: true }))).Item;

  it('writes only the signals whose item does not hold them, each recorded before any is written', async () => {
    // Products 1-10 already hold their signal, 11-15 an older one; 16-60 have none: more than two batches.
    const signals = Array.from({ length: 60 }, (_, i) => signal(i + 1, HOUR, { views_24h: 120 }));
    await writeItems(session.doc, session.names.priceSignals, [...signals.slice(0, 10), ...signals.slice(10, 15).map((mine) => signal(mine.product_id, HOUR, { views_24h: 90 }))]);
    const recorded: ItemChange<object>[] = [];
    const capture: ChangeCapture = {
      exclusively: (write) => write(),
      record: async (changes) => {
        // Write-ahead: nothing of this call is in the table yet.
        expect(await stored(60)).toBeUndefined();
        recorded.push(...changes);
      },
    };

    await expect(putChangedSignals(session, signals, capture)).resolves.toEqual({ written: 50, unchanged: 10 });

    expect(recorded.map((change) => [change.eventName, (change.newImage as PriceSignalItem).product_id, (change.oldImage as PriceSignalItem | undefined)?.views_24h])).toEqual([
      ...signals.slice(10, 15).map((mine) => ['MODIFY', mine.product_id, 90]),
      ...signals.slice(15).map((mine) => ['INSERT', mine.product_id, undefined]),
    ]);
    for (const mine of signals) expect(await stored(mine.product_id)).toEqual(mine);
  });

  it('makes writers of one stream take turns, so that the last record of a key is the item the table holds', async () => {
    const log = new StreamLog(lake.store, { tableName: 'price_signals', prefix: '_streams/price_signals/' });
    const first = signal(1, HOUR, { views_24h: 90 });
    const second = signal(1, HOUR, { views_24h: 120 });

    // Started together: without turns, both would read no item and both record an INSERT.
    await expect(Promise.all([putChangedSignals(session, [first], log), putChangedSignals(session, [second], log)])).resolves.toEqual([
      { written: 1, unchanged: 0 },
      { written: 1, unchanged: 0 },
    ]);

    const image = (attributes: Record<string, AttributeValue> | undefined) => (attributes === undefined ? undefined : (unmarshall(attributes as never) as PriceSignalItem).signal_id);
    const records = await log.readAfter(undefined, 10);
    expect(records.map((record) => [record.eventName, image(record.dynamodb?.OldImage), image(record.dynamodb?.NewImage)])).toEqual([
      ['INSERT', undefined, first.signal_id],
      ['MODIFY', first.signal_id, second.signal_id],
    ]);
    expect(await stored(1)).toEqual(second);
  });

  it('gives the next writer of a stream its turn when the one before it fails', async () => {
    const log = new StreamLog(lake.store, { tableName: 'price_signals', prefix: '_streams/price_signals/' });
    const failing = log.exclusively(async () => {
      await sleep(20);
      throw new Error('the endpoint of the tables went away');
    });
    const waiting = putChangedSignals(session, [signal(1, HOUR)], log);

    await expect(failing).rejects.toThrow('went away');
    await expect(waiting).resolves.toEqual({ written: 1, unchanged: 0 });
  });
});
