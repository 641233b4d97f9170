import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { PriceInstance, PricePrediction } from '../../models/contract';
import type { DeadLetterQueue } from '../ports/dead-letter-queue';
import { CommitConflictError, InvalidInputError, NotFoundError } from '../ports/errors';
import type { TableSession } from '../ports/operational-tables';
import { describeIssues } from '../shared/describe-issues';
import { parseTaskInput } from '../shared/task-input';
import { priceSignalItemSchema, productItemSchema, type PriceChange, type PriceHistoryItem, type PriceSignalItem, type ProductItem } from '../tables/items';
import { readItems } from '../tables/read-items';
import { conditionalWrite } from '../tables/table-errors';
import { checkGuardrails, DEFAULT_GUARDRAILS, guardPrice, type GuardrailSettings, type PriceLimit } from './guardrails';
import { predictPrices, type PriceModelEndpoint } from './price-model';

export interface PricingPorts {
  readonly tables: TableSession;
  readonly model: PriceModelEndpoint;
  /** Where records that can never apply go at once (not a signal, an unknown product). */
  readonly deadLetters: DeadLetterQueue;
  /** Told why each failed record failed, which a partial batch response cannot say (on AWS: a log line). @default none */
  readonly onRecordFailed?: (record: DynamoDBRecord, error: Error) => void;
  /** Told of each decision as its audit row is written (a duplicate delivery writes none). @default none */
  readonly onDecision?: (decision: PriceHistoryItem) => void;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export interface PricingSettings extends GuardrailSettings {
  /** How long one InvokeEndpoint may take. @default 10000 */
  readonly modelTimeoutMs?: number;
  /** How often a signal is re-read and re-decided after a concurrent price edit before its record fails. @default 3 */
  readonly conflictRetries?: number;
  /** How many of its latest changes a product keeps, for a retry to find its own change. @default 20 */
  readonly recentChangesKept?: number;
}

interface PendingSignal {
  readonly record: DynamoDBRecord;
  readonly sequence: string;
  readonly signal: PriceSignalItem;
  conflicts: number;
}

type Outcome = { readonly kind: 'done' } | { readonly kind: 'conflict' } | { readonly kind: 'failed'; readonly error: Error };

const DONE: Outcome = { kind: 'done' };

/**
 * The consumer of the price_signals stream (a Lambda handler's core): decides a price for each
 * inserted or modified signal and applies it, returning the records that failed as partial batch
 * failures, so that the stream retries from the first of them.
 *
 * Per signal, in stream order per product: a signal already in price_history is done (a duplicate
 * delivery); one whose change the product already carries (the audit write was lost) gets its audit
 * row; one for an event hour not newer than the one behind the current price is held; the rest go to
 * the model, one InvokeEndpoint per round for all of them, and its answer through the guardrails.
 * A change is an UpdateItem conditional on the price and version read; a concurrent edit fails the
 * condition, and the signal is re-read and re-decided against the new price. The product keeps the
 * change among its recent ones in the same write, and the audit row, keyed by the signal, is put only
 * if absent: so a signal changes a price at most once, without a transaction (the local server has
 * none). A record that can never apply goes to the dead-letter queue at once; any other failure
 * (the endpoint failed or timed out, a table call failed) fails the record and later records of its
 * product, and changes nothing. Invalid settings reject the whole batch before any record is read:
 * they are the deployment's fault, not the records', so the stream keeps the records for a fixed consumer.
 */
export async function applyPriceSignals(event: DynamoDBStreamEvent, ports: PricingPorts, settings: PricingSettings = {}): Promise<DynamoDBBatchResponse> {
  checkGuardrails(settings);
  const now = ports.now ?? (() => new Date());
  const failed: string[] = [];
  const fail = (item: { record: DynamoDBRecord; sequence: string }, error: Error) => {
    failed.push(item.sequence);
    ports.onRecordFailed?.(item.record, error);
  };
  let pending: PendingSignal[] = [];
  for (const record of event.Records) {
    const sequence = record.dynamodb?.SequenceNumber ?? record.eventID ?? '';
    if (record.eventName === 'REMOVE') continue;
    try {
      pending.push({ record, sequence, signal: signalOf(record), conflicts: 0 });
    } catch (error) {
      if (!(await sendToDeadLetters(ports, record, error as Error, now))) fail({ record, sequence }, error as Error);
    }
  }

  const conflictRetries = settings.conflictRetries ?? 3;
  while (pending.length > 0) {
    const firsts = new Map<number, PendingSignal>();
    for (const item of pending) if (!firsts.has(item.signal.product_id)) firsts.set(item.signal.product_id, item);
    const outcomes = await decideRound([...firsts.values()], ports, settings, now());
    const blocked = new Map<number, Error>();
    const next: PendingSignal[] = [];
    for (const item of pending) {
      const outcome = outcomes.get(item);
      const earlier = blocked.get(item.signal.product_id);
      if (earlier !== undefined) fail(item, new Error(`an earlier signal of product ${item.signal.product_id} in the batch failed: ${earlier.message}`));
      else if (outcome === undefined) next.push(item);
      else if (outcome.kind === 'conflict' && ++item.conflicts <= conflictRetries) next.push(item);
      else if (outcome.kind !== 'done') {
        const error = outcome.kind === 'failed' ? outcome.error : new CommitConflictError(`the price of product ${item.signal.product_id} changed under each of ${conflictRetries + 1} attempts`);
        const permanent = error instanceof InvalidInputError || error instanceof NotFoundError;
        if (!(permanent && (await sendToDeadLetters(ports, item.record, error, now)))) {
          fail(item, error);
          blocked.set(item.signal.product_id, error);
        }
      }
    }
    pending = next;
  }
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
}

/** Decides the first pending signal of each product; each gets an outcome. */
async function decideRound(signals: readonly PendingSignal[], ports: PricingPorts, settings: PricingSettings, decidedAt: Date): Promise<Map<PendingSignal, Outcome>> {
  const outcomes = new Map<PendingSignal, Outcome>();
  const { doc, names } = ports.tables;
  let audited: Set<string>;
  let products: Map<number, unknown>;
  try {
    const historyKeys = signals.map(({ signal }) => ({ product_id: signal.product_id, signal_id: signal.signal_id }));
    audited = new Set((await readItems<PriceHistoryItem>(doc, names.priceHistory, historyKeys)).map((row) => `${row.product_id}/${row.signal_id}`));
    const productKeys = [...new Set(signals.map(({ signal }) => signal.product_id))].map((product_id) => ({ product_id }));
    products = new Map((await readItems<{ product_id: number }>(doc, names.products, productKeys)).map((item) => [item.product_id, item]));
  } catch (error) {
    for (const item of signals) outcomes.set(item, { kind: 'failed', error: error as Error });
    return outcomes;
  }

  const toPredict: { readonly item: PendingSignal; readonly product: ProductItem }[] = [];
  for (const item of signals) {
    const { signal } = item;
    try {
      if (audited.has(`${signal.product_id}/${signal.signal_id}`)) {
        outcomes.set(item, DONE);
        continue;
      }
      const product = catalogProduct(products.get(signal.product_id), signal.product_id);
      const made = product.recent_changes.find((change) => change.signal_id === signal.signal_id);
      if (made !== undefined) {
        await putAudit(ports, { product_id: signal.product_id, decision: 'changed', ...made });
      } else if (product.priced_through_hour !== undefined && signal.event_hour <= product.priced_through_hour) {
        const reason = `held: the price already follows the signal of ${product.priced_through_hour}, not older than this one (${signal.event_hour})`;
        await putAudit(ports, holdOf(item, product, reason, decidedAt));
      } else {
        toPredict.push({ item, product });
        continue;
      }
      outcomes.set(item, DONE);
    } catch (error) {
      outcomes.set(item, { kind: 'failed', error: error as Error });
    }
  }
  if (toPredict.length === 0) return outcomes;

  let predictions: PricePrediction[];
  try {
    predictions = await predictPrices(ports.model, toPredict.map(({ item, product }) => instanceOf(item.signal, product)), settings.modelTimeoutMs ?? 10_000);
  } catch (error) {
    for (const { item } of toPredict) outcomes.set(item, { kind: 'failed', error: error as Error });
    return outcomes;
  }
  await Promise.all(
    toPredict.map(async ({ item, product }, index) => {
      try {
        outcomes.set(item, await applyPrediction(item, product, predictions[index]!, ports, settings, decidedAt));
      } catch (error) {
        outcomes.set(item, { kind: 'failed', error: error as Error });
      }
    }),
  );
  return outcomes;
}

async function applyPrediction(
  item: PendingSignal,
  product: ProductItem,
  prediction: PricePrediction,
  ports: PricingPorts,
  settings: PricingSettings,
  decidedAt: Date,
): Promise<Outcome> {
  const { signal } = item;
  const current = product.current_price;
  const guarded = guardPrice(prediction.recommended_price, { current, floor: product.floor_price, ceiling: product.ceiling_price, cost: product.cost }, settings);
  const model = { recommended_price: prediction.recommended_price, expected_units_per_day: prediction.expected_units_per_day, model_version: prediction.model_version };
  const recommends = `model ${prediction.model_version} recommends ${money(prediction.recommended_price)} (${prediction.expected_units_per_day} units/day expected)`;
  if (guarded.kind === 'hold') {
    const why =
      guarded.why === 'below_min_change'
        ? `within ${percent(settings.minChangeFraction ?? DEFAULT_GUARDRAILS.minChangeFraction)} of the current price`
        : `but no price within ${percent(settings.maxChangeFraction ?? DEFAULT_GUARDRAILS.maxChangeFraction)} of ${money(current)} lies within the floor ${money(product.floor_price)}, the ceiling ${money(product.ceiling_price)} and cost plus margin`;
    await putAudit(ports, { ...holdOf(item, product, `held at ${money(current)}: ${recommends}, ${why}`, decidedAt), ...model });
    return DONE;
  }
  const direction = guarded.price > current ? 'raised' : 'lowered';
  const limit = guarded.limitedBy === undefined ? '' : `, ${describeLimit(guarded.limitedBy, product, settings)}`;
  const change: PriceChange = {
    signal_id: signal.signal_id,
    event_hour: signal.event_hour,
    old_price: current,
    new_price: guarded.price,
    ...model,
    reason: `${direction} ${money(current)} -> ${money(guarded.price)}: ${recommends}${limit}`,
    decided_at: decidedAt.toISOString(),
    stream_sequence: item.sequence,
  };
  const changed = await conditionalWrite(`changing the price of product ${signal.product_id}`, () =>
    ports.tables.doc.send(
      new UpdateCommand({
        TableName: ports.tables.names.products,
        Key: { product_id: signal.product_id },
        UpdateExpression: 'SET current_price = :new, price_version = :next, priced_through_hour = :hour, recent_changes = :changes, updated_at = :now',
        ConditionExpression: 'current_price = :read AND price_version = :version',
        ExpressionAttributeValues: {
          ':new': change.new_price,
          ':next': product.price_version + 1,
          ':hour': signal.event_hour,
          ':changes': [change, ...product.recent_changes].slice(0, settings.recentChangesKept ?? 20),
          ':now': change.decided_at,
          ':read': current,
          ':version': product.price_version,
        },
      }),
    ),
  );
  if (!changed) return { kind: 'conflict' };
  await putAudit(ports, { product_id: signal.product_id, decision: 'changed', ...change });
  return DONE;
}

/** Puts the audit row unless the signal has one: a second decision of the same signal is a no-op. */
async function putAudit(ports: PricingPorts, row: PriceHistoryItem): Promise<void> {
  const { doc, names } = ports.tables;
  const recorded = await conditionalWrite(`recording the decision on ${row.signal_id} of product ${row.product_id}`, () =>
    doc.send(new PutCommand({ TableName: names.priceHistory, Item: row, ConditionExpression: 'attribute_not_exists(product_id)' })),
  );
  if (recorded) ports.onDecision?.(row);
}

function holdOf(item: PendingSignal, product: ProductItem, reason: string, decidedAt: Date): PriceHistoryItem {
  return {
    product_id: item.signal.product_id,
    signal_id: item.signal.signal_id,
    event_hour: item.signal.event_hour,
    decision: 'held',
    old_price: product.current_price,
    new_price: product.current_price,
    reason,
    decided_at: decidedAt.toISOString(),
    stream_sequence: item.sequence,
  };
}

/** What the model is asked about a signal: its demand, with the catalog's live price and facts. */
function instanceOf(signal: PriceSignalItem, product: ProductItem): PriceInstance {
  return {
    product_id: product.product_id,
    category: product.category,
    current_price: product.current_price,
    base_price: product.base_price,
    cost: product.cost,
    inventory: product.inventory,
    views_24h: signal.views_24h,
    add_to_carts_24h: signal.add_to_carts_24h,
    purchases_24h: signal.purchases_24h,
    revenue_24h: signal.revenue_24h,
  };
}

/** The signal a record carries; InvalidInputError for a record without one (it can never apply). */
function signalOf(record: DynamoDBRecord): PriceSignalItem {
  const image = record.dynamodb?.NewImage;
  const what = `stream record ${record.dynamodb?.SequenceNumber ?? record.eventID ?? '?'}`;
  if (image === undefined) throw new InvalidInputError(`${what} has no NewImage; the stream must carry new images`);
  let item: unknown;
  try {
    item = unmarshall(image as Record<string, AttributeValue>);
  } catch (error) {
    throw new InvalidInputError(`${what} has a NewImage that is not a DynamoDB item: ${(error as Error).message}`, { cause: error });
  }
  return parseTaskInput(priceSignalItemSchema, item, `price signal (${what})`, 'a price_signals item');
}

/** The catalog item; NotFoundError when the product is missing or unusable (it can never apply). */
function catalogProduct(item: unknown, productId: number): ProductItem {
  if (item === undefined) throw new NotFoundError(`product ${productId} is not in the catalog`);
  const parsed = productItemSchema.safeParse(item);
  if (!parsed.success) {
    throw new NotFoundError(`product ${productId} has no usable catalog item: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

async function sendToDeadLetters(ports: PricingPorts, record: DynamoDBRecord, error: Error, now: () => Date): Promise<boolean> {
  try {
    await ports.deadLetters.send({ record, error: { name: error.name, message: error.message }, attempts: 1, failedAt: now().toISOString() });
    return true;
  } catch {
    // The record then fails, and the stream retries it.
    return false;
  }
}

function describeLimit(limit: PriceLimit, product: ProductItem, settings: PricingSettings): string {
  const maxChange = percent(settings.maxChangeFraction ?? DEFAULT_GUARDRAILS.maxChangeFraction);
  switch (limit) {
    case 'max_increase':
      return `capped at +${maxChange} a change`;
    case 'max_decrease':
      return `capped at -${maxChange} a change`;
    case 'ceiling':
      return `capped at the ceiling ${money(product.ceiling_price)}`;
    case 'floor':
      return `kept at the floor ${money(product.floor_price)}`;
    case 'cost_margin':
      return `kept above cost ${money(product.cost)} plus ${percent(settings.minMarginFraction ?? DEFAULT_GUARDRAILS.minMarginFraction)}`;
  }
}

function money(value: number): string {
  return value.toFixed(2);
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10} %`;
}
