import type { ChangeCapture, ItemChange } from '../ports/change-capture';
import type { TableSession } from '../ports/operational-tables';
import type { PriceSignalItem } from '../tables/items';
import { readItems } from '../tables/read-items';
import { writeItems } from '../tables/write-items';

export interface SignalWriteResult {
  /** Signals inserted or changed: one stream record each. */
  readonly written: number;
  /** Signals whose item already held the same signal: not written, so no stream record. */
  readonly unchanged: number;
}

/**
 * Puts each signal whose item does not already hold the same `signal_id`, so that a rerun over the
 * same demand writes nothing and makes no stream record. The puts go in batches (BatchWriteItem):
 * a run with late events writes thousands of signals, and a request each would take most of the
 * step. Two runs that write the same product and hour at once (neighbouring hours of a
 * backfill) each write whole signals, and the last write stays: on AWS, DynamoDB Streams records
 * both in the order they were made; with `capture`, the changes are recorded before they are
 * written (see ChangeCapture), and writers take turns so that the log keeps that order too.
 * `signals` holds at most one signal per product and hour.
 */
export async function putChangedSignals(session: TableSession, signals: readonly PriceSignalItem[], capture?: ChangeCapture): Promise<SignalWriteResult> {
  const write = async (): Promise<SignalWriteResult> => {
    const stored = await readSignals(session, signals);
    const changes: ItemChange<PriceSignalItem>[] = [];
    for (const signal of signals) {
      const old = stored.get(keyOf(signal));
      if (old?.signal_id === signal.signal_id) continue;
      changes.push({ eventName: old === undefined ? 'INSERT' : 'MODIFY', keys: { product_id: signal.product_id, event_hour: signal.event_hour }, newImage: signal, ...(old === undefined ? {} : { oldImage: old }) });
    }
    if (changes.length > 0) {
      await capture?.record(changes);
      await writeItems(session.doc, session.names.priceSignals, changes.map((change) => change.newImage));
    }
    return { written: changes.length, unchanged: signals.length - changes.length };
  };
  return capture === undefined ? write() : capture.exclusively(write);
}

async function readSignals(session: TableSession, signals: readonly PriceSignalItem[]): Promise<Map<string, PriceSignalItem>> {
  const keys = signals.map(({ product_id, event_hour }) => ({ product_id, event_hour }));
  const items = await readItems<PriceSignalItem>(session.doc, session.names.priceSignals, keys);
  return new Map(items.map((item) => [keyOf(item), item]));
}

function keyOf(signal: Pick<PriceSignalItem, 'product_id' | 'event_hour'>): string {
  return `${signal.product_id}/${signal.event_hour}`;
}
