import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ChangeCapture, ItemChange } from '../ports/change-capture';
import { CommitConflictError } from '../ports/errors';
import { mapInFlight } from '../shared/map-in-flight';
import type { TableSession } from '../ports/operational-tables';
import type { PriceSignalItem } from '../tables/items';
import { readItems } from '../tables/read-items';
import { conditionalWrite } from '../tables/table-errors';

export interface SignalWriteResult {
  /** Signals inserted or changed: one stream record each. */
  readonly written: number;
  /** Signals whose item already held the same signal: not written, so no stream record. */
  readonly unchanged: number;
}

const PARALLEL_PUTS = 16;
const ATTEMPTS = 3;

/**
 * Puts each signal whose item does not already hold the same `signal_id`, so that a rerun over the
 * same demand writes nothing and makes no stream record. Each put is conditional on the item it
 * replaces being the one read (optimistic: a concurrent writer of the same product and hour makes
 * this one re-read, and skip if that writer wrote the same signal). With `capture`, the changes are
 * recorded before they are written (see ChangeCapture).
 */
export async function putChangedSignals(session: TableSession, signals: readonly PriceSignalItem[], capture?: ChangeCapture): Promise<SignalWriteResult> {
  let pending = signals;
  let written = 0;
  let unchanged = 0;
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > ATTEMPTS) {
      throw new CommitConflictError(`${pending.length} price signal(s) were rewritten by another writer on each of ${ATTEMPTS} attempts, e.g. ${describe(pending[0]!)}`);
    }
    const stored = await readSignals(session, pending);
    const changes: ItemChange<PriceSignalItem>[] = [];
    for (const signal of pending) {
      const old = stored.get(keyOf(signal));
      if (old?.signal_id === signal.signal_id) unchanged += 1;
      else changes.push({ eventName: old === undefined ? 'INSERT' : 'MODIFY', keys: { product_id: signal.product_id, event_hour: signal.event_hour }, newImage: signal, ...(old === undefined ? {} : { oldImage: old }) });
    }
    if (changes.length > 0) await capture?.record(changes);
    const conflicted: PriceSignalItem[] = [];
    const applied = await mapInFlight(changes, PARALLEL_PUTS, (change) => putIfUnchanged(session, change));
    applied.forEach((put, index) => {
      if (put) written += 1;
      else conflicted.push(changes[index]!.newImage);
    });
    pending = conflicted;
  }
  return { written, unchanged };
}

async function putIfUnchanged(session: TableSession, change: ItemChange<PriceSignalItem>): Promise<boolean> {
  const condition =
    change.oldImage === undefined
      ? { ConditionExpression: 'attribute_not_exists(product_id)' }
      : { ConditionExpression: 'signal_id = :read', ExpressionAttributeValues: { ':read': change.oldImage.signal_id } };
  return conditionalWrite(`putting ${describe(change.newImage)}`, () => session.doc.send(new PutCommand({ TableName: session.names.priceSignals, Item: change.newImage, ...condition })));
}

async function readSignals(session: TableSession, signals: readonly PriceSignalItem[]): Promise<Map<string, PriceSignalItem>> {
  const keys = signals.map(({ product_id, event_hour }) => ({ product_id, event_hour }));
  const items = await readItems<PriceSignalItem>(session.doc, session.names.priceSignals, keys);
  return new Map(items.map((item) => [keyOf(item), item]));
}

function keyOf(signal: Pick<PriceSignalItem, 'product_id' | 'event_hour'>): string {
  return `${signal.product_id}/${signal.event_hour}`;
}

function describe(signal: PriceSignalItem): string {
  return `the signal of product ${signal.product_id} for ${signal.event_hour}`;
}
