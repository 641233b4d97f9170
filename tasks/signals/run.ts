import { createHash } from 'node:crypto';
import { paginateQuery } from '@aws-sdk/lib-dynamodb';
import { hourOfPartitionKey } from '../curated/layout';
import type { ChangeCapture } from '../ports/change-capture';
import type { ObjectStore } from '../ports/object-store';
import type { OperationalTables, TableSession } from '../ports/operational-tables';
import { addHours, hoursBetween, type Hour } from '../shared/hours';
import { mapInFlight } from '../shared/map-in-flight';
import { ORDERS_BY_PRODUCT_INDEX } from '../tables/definitions';
import { roundCents, type OrderItem, type PriceSignalItem, type ProductItem } from '../tables/items';
import { readItems } from '../tables/read-items';
import { tableCall } from '../tables/table-errors';
import { ProductDemandReader, type HourDemand } from './demand';
import { putChangedSignals } from './signal-writer';

export interface SignalsInput {
  /** The workflow execution (`$$.Execution.Id`), recorded in each signal it writes. */
  readonly executionId: string;
  /** The arrival hour the run processes, `YYYY-MM-DDTHH`. */
  readonly hour: string;
  /** Keys (`dt=YYYY-MM-DD/hr=HH`) of the event partitions this run's merge changed: the hours whose product_demand the aggregate step recomputed. */
  readonly partitions: readonly string[];
}

export interface SignalsPorts {
  /** The lake, holding `aggregates/product_demand/`. */
  readonly store: ObjectStore;
  readonly tables: OperationalTables;
  /** Locally, the stream of price_signals (see ChangeCapture); on AWS, none. @default none */
  readonly capture?: ChangeCapture;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** The signals step's report; JSON-serialisable, it becomes the Step Functions state output. */
export interface SignalsResult {
  /** The event hours whose demand was read. */
  readonly hours: string[];
  /** Signals computed: products with demand in one of the hours and in the catalog. */
  readonly signals: number;
  /** Signals inserted or changed (one stream record each). */
  readonly written: number;
  /** Signals identical to the stored ones, not written. */
  readonly unchanged: number;
  /** Products with demand but not in the catalog (or no catalog at all): no signal. */
  readonly withoutCatalog: number;
}

/** A signal covers its event hour and the hours before it, 24 in all. */
const SIGNAL_WINDOW_HOURS = 24;
const PARALLEL_QUERIES = 16;

/**
 * Writes one hydrated signal per (product, event hour) for every product with demand in an event
 * hour this run changed: its product_demand in the hour and over the 24 hours ending with it, its
 * orders over the same 24 hours, and its catalog facts. A signal's `signal_id` is a digest of those
 * inputs, so that a rerun computes the same signal and writes nothing (see putChangedSignals): the
 * price a signal records is the catalog's when it was first written, left out of the digest, since
 * otherwise every price change the consumer makes would turn a rerun into new signals. An hour
 * without demand or a catalog without the product writes nothing.
 */
export async function runSignals(input: SignalsInput, ports: SignalsPorts): Promise<SignalsResult> {
  const hours = [...new Set(input.partitions.map(hourOfPartitionKey))].sort();
  const demand = new ProductDemandReader(ports.store);
  const demandOf = async (of: readonly Hour[]) => new Map(await Promise.all(of.map(async (hour) => [hour, await demand.demandOf(hour)] as const)));
  const demandByHour = await demandOf(hours);
  const wanted: { readonly hour: Hour; readonly productId: number }[] = [];
  for (const hour of hours) for (const productId of demandByHour.get(hour)!.keys()) wanted.push({ hour, productId });
  const nothing = { hours, signals: 0, written: 0, unchanged: 0, withoutCatalog: wanted.length };
  if (wanted.length === 0) return nothing;
  // Each touched hour's signal window, the hour and the 23 before it; every hour's demand read once.
  const windows = new Map(hours.map((hour) => [hour, hoursBetween(addHours(hour, 1 - SIGNAL_WINDOW_HOURS), addHours(hour, 1))]));
  for (const [hour, rows] of await demandOf([...new Set([...windows.values()].flat())].filter((hour) => !demandByHour.has(hour)))) demandByHour.set(hour, rows);

  const written = await ports.tables.use(async (session) => {
    const products = await readProducts(session, [...new Set(wanted.map(({ productId }) => productId))]);
    const cataloged = wanted.filter(({ productId }) => products.has(productId));
    if (cataloged.length === 0) return nothing;
    const orders = await readOrdersByProduct(session, orderWindowsOf(cataloged));
    const computedAt = (ports.now ?? (() => new Date()))().toISOString();
    const signals: PriceSignalItem[] = [];
    for (const { hour, productId } of cataloged) {
      const window = windows.get(hour)!;
      const [windowStart, windowEnd] = [window[0]!, addHours(hour, 1)];
      const windowDemand = window.map((windowHour) => demandByHour.get(windowHour)!.get(productId));
      signals.push(
        buildSignal({
          hour,
          product: products.get(productId)!,
          demand: demandByHour.get(hour)!.get(productId)!,
          windowDemand: windowDemand.filter((row) => row !== undefined),
          orders: ordersBetween(orders.get(productId) ?? [], windowStart, windowEnd),
          computedBy: input.executionId,
          computedAt,
        }),
      );
    }
    const result = await putChangedSignals(session, signals, ports.capture);
    return { hours, signals: signals.length, ...result, withoutCatalog: wanted.length - cataloged.length };
  });
  return written ?? nothing;
}

interface SignalInputs {
  readonly hour: Hour;
  readonly product: ProductItem;
  readonly demand: HourDemand;
  readonly windowDemand: readonly HourDemand[];
  readonly orders: readonly WindowOrder[];
  readonly computedBy: string;
  readonly computedAt: string;
}

function buildSignal({ hour, product, demand, windowDemand, orders, computedBy, computedAt }: SignalInputs): PriceSignalItem {
  const total = (field: keyof HourDemand) => windowDemand.reduce((sum, row) => sum + row[field], 0);
  const views24h = total('views');
  const rate = (count: number) => (views24h === 0 ? 0 : Math.round((count / views24h) * 10_000) / 10_000);
  const facts = {
    product_id: product.product_id,
    event_hour: hour,
    category: product.category,
    views: demand.views,
    add_to_carts: demand.add_to_carts,
    purchases: demand.purchases,
    revenue: roundCents(demand.revenue),
    views_24h: views24h,
    add_to_carts_24h: total('add_to_carts'),
    purchases_24h: total('purchases'),
    revenue_24h: roundCents(total('revenue')),
    add_to_cart_rate_24h: rate(total('add_to_carts')),
    conversion_rate_24h: rate(total('purchases')),
    units_ordered_24h: orders.reduce((sum, order) => sum + order.quantity, 0),
    order_revenue_24h: roundCents(orders.reduce((sum, order) => sum + order.quantity * order.unit_price, 0)),
    inventory: product.inventory,
    base_price: product.base_price,
    cost: product.cost,
  };
  const digest = createHash('sha256').update(JSON.stringify(facts)).digest('hex').slice(0, 16);
  return {
    ...facts,
    signal_id: `${hour}#${digest}`,
    current_price: product.current_price,
    price_vs_base: Math.round((product.current_price / product.base_price) * 10_000) / 10_000,
    computed_by: computedBy,
    computed_at: computedAt,
  };
}

async function readProducts(session: TableSession, productIds: readonly number[]): Promise<Map<number, ProductItem>> {
  const items = await readItems<ProductItem>(
    session.doc,
    session.names.products,
    productIds.map((product_id) => ({ product_id })),
  );
  return new Map(items.map((item) => [item.product_id, item]));
}

/** Each product's orders window: [its first signal hour's window start, its last signal hour's end). */
function orderWindowsOf(signals: readonly { readonly hour: Hour; readonly productId: number }[]): Map<number, { readonly fromHour: Hour; readonly toHour: Hour }> {
  const windows = new Map<number, { fromHour: Hour; toHour: Hour }>();
  for (const { hour, productId } of signals) {
    const fromHour = addHours(hour, 1 - SIGNAL_WINDOW_HOURS);
    const toHour = addHours(hour, 1);
    const known = windows.get(productId);
    if (known === undefined) windows.set(productId, { fromHour, toHour });
    else windows.set(productId, { fromHour: fromHour < known.fromHour ? fromHour : known.fromHour, toHour: toHour > known.toHour ? toHour : known.toHour });
  }
  return windows;
}

/** What a signal takes from an order. */
type WindowOrder = Pick<OrderItem, 'ordered_at' | 'quantity' | 'unit_price'>;

/**
 * Each product's orders placed in its window [fromHour, toHour), in `ordered_at` order, through the
 * orders index by product and time. The bounds are hour prefixes of the ISO 8601 `ordered_at`, so
 * BETWEEN takes every order from the first hour's start and none of `toHour` (a longer string sorts
 * after its prefix).
 */
async function readOrdersByProduct(session: TableSession, windows: ReadonlyMap<number, { readonly fromHour: Hour; readonly toHour: Hour }>): Promise<Map<number, WindowOrder[]>> {
  const orders = new Map<number, WindowOrder[]>();
  const productIds = [...windows.keys()];
  const readOne = (productId: number) =>
    tableCall(`reading the orders of product ${productId}`, async () => {
      const items: WindowOrder[] = [];
      const pages = paginateQuery(
        { client: session.doc },
        {
          TableName: session.names.orders,
          IndexName: ORDERS_BY_PRODUCT_INDEX,
          KeyConditionExpression: 'product_id = :product AND ordered_at BETWEEN :from AND :to',
          // Only what a signal uses: a product's orders over days are most of what this step reads.
          ProjectionExpression: '#at, #quantity, #price',
          ExpressionAttributeNames: { '#at': 'ordered_at', '#quantity': 'quantity', '#price': 'unit_price' },
          ExpressionAttributeValues: { ':product': productId, ':from': windows.get(productId)!.fromHour, ':to': windows.get(productId)!.toHour },
        },
      );
      for await (const page of pages) items.push(...((page.Items ?? []) as WindowOrder[]));
      orders.set(productId, items);
    });
  await mapInFlight(productIds, PARALLEL_QUERIES, readOne);
  return orders;
}

/** The orders of `sorted` (in `ordered_at` order) placed in [from, to), found by bisection: a product has dozens of signals over the same orders. */
function ordersBetween(sorted: readonly WindowOrder[], from: string, to: string): readonly WindowOrder[] {
  const firstAtOrAfter = (bound: string) => {
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sorted[middle]!.ordered_at < bound) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  return sorted.slice(firstAtOrAfter(from), firstAtOrAfter(to));
}
