import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ChangeCapture, ItemChange } from '../../tasks/ports/change-capture';
import { CommitConflictError } from '../../tasks/ports/errors';
import type { TableSession } from '../../tasks/ports/operational-tables';
import { putChangedSignals } from '../../tasks/signals/signal-writer';
import type { PriceSignalItem } from '../../tasks/tables/items';
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

  /** Records changes; before the first `racing` recordings, another writer puts `rival` in the meantime. */
  function racingCapture(rival: PriceSignalItem, racing = 1): ChangeCapture & { readonly recorded: ItemChange<object>[][] } {
    const recorded: ItemChange<object>[][] = [];
    return {
      recorded,
      record: async (changes) => {
        recorded.push([...changes]);
        if (recorded.length <= racing) await session.doc.send(new PutCommand({ TableName: session.names.priceSignals, Item: { ...rival } }));
      },
    };
  }

  const stored = async () =>
    (await session.doc.send(new GetCommand({ TableName: session.names.priceSignals, Key: { product_id: 1, event_hour: HOUR }, ConsistentRead: true }))).Item;

  it('skips a signal that a concurrent writer wrote the same', async () => {
    const mine = signal(1, HOUR);
    const capture = racingCapture(mine);

    await expect(putChangedSignals(session, [mine], capture)).resolves.toEqual({ written: 0, unchanged: 1 });

    expect(capture.recorded).toHaveLength(1);
    expect(await stored()).toEqual(mine);
  });

  it('re-reads and writes its signal over a different one a concurrent writer put, recording the change again', async () => {
    const mine = signal(1, HOUR, { views_24h: 120 });
    const rival = signal(1, HOUR, { views_24h: 90 });
    const capture = racingCapture(rival);

    await expect(putChangedSignals(session, [mine], capture)).resolves.toEqual({ written: 1, unchanged: 0 });

    expect(capture.recorded.map((changes) => changes.map((change) => [change.eventName, (change.oldImage as PriceSignalItem | undefined)?.signal_id]))).toEqual([
      [['INSERT', undefined]],
      [['MODIFY', rival.signal_id]],
    ]);
    expect(await stored()).toEqual(mine);
  });

  it('gives up with CommitConflictError when it loses every race', async () => {
    let rivals = 0;
    const alwaysRacing: ChangeCapture = {
      record: async () => {
        rivals += 1;
        await session.doc.send(new PutCommand({ TableName: session.names.priceSignals, Item: signal(1, HOUR, { views_24h: 90 + rivals }) }));
      },
    };

    await expect(putChangedSignals(session, [signal(1, HOUR, { views_24h: 120 })], alwaysRacing)).rejects.toBeInstanceOf(CommitConflictError);
    expect(rivals).toBe(3);
  });
});
