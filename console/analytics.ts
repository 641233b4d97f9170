import { AGGREGATES_PREFIX } from '../tasks/aggregate/queries';
import type { ObjectStore } from '../tasks/ports/object-store';
import type { LocalPricing } from '../tasks/runtime/local-pricing';
import type { AnalyticsData, CustomerActions, HourRange, PriceAdjustments, TrafficAnomaly } from './api-types';
import { unloadedCsvObjects } from './unloaded-csv';

/** Rows of the actions-per-customer table. */
export const CUSTOMER_ROWS = 50;
/** Rows of the latest price adjustments. */
export const PRICE_ROWS = 20;

type Row = Record<string, string | null>;

/**
 * The analytics page's data for the event hours of `range`, read from the unloaded aggregates
 * (`aggregates/<query>/dt=.../hr=.../<query>.csv`) and, for price adjustments, from the pricing
 * tables. Reads only.
 */
export async function readAnalytics(store: ObjectStore, pricing: LocalPricing, range: HourRange): Promise<AnalyticsData> {
  const read = (query: string) => readAggregate(store, query, range);
  const [eventsByName, perHour, perMinute, funnel, sessions, countries, topRegions, customers, anomalies] = await Promise.all([
    read('events_by_name'),
    read('active_users_per_hour'),
    read('active_users_per_minute'),
    read('funnel'),
    read('sessions'),
    read('events_by_country'),
    read('top_regions'),
    read('customer_actions'),
    read('traffic_anomalies'),
  ]);
  const hours = new Set([eventsByName, perHour, funnel, sessions].flatMap((result) => result.hours));
  return {
    range,
    hoursWithData: hours.size,
    eventMix: sumBy(eventsByName.rows, (row) => row['event_name'] ?? '(none)', 'events').map(([name, events]) => ({ name, events })),
    perHour: perHour.rows.map((row) => ({ time: isoTime(row['hour']), events: num(row['clicks']), users: num(row['users']) })).sort(byTime),
    perMinute: perMinute.rows.map((row) => ({ time: isoTime(row['minute']), events: num(row['clicks']), users: num(row['users']) })).sort(byTime),
    funnel: FUNNEL_STEPS.map(([column, step]) => ({ step, users: funnel.rows.reduce((sum, row) => sum + num(row[column]), 0) })),
    sessions: sessions.rows
      .map((row) => ({
        hour: isoTime(row['hour']),
        sessions: num(row['sessions']),
        meanLengthSeconds: num(row['mean_length_seconds']),
        meanEvents: num(row['mean_events']),
      }))
      .sort((a, b) => a.hour.localeCompare(b.hour)),
    countries: sumBy(countries.rows, (row) => row['country'] ?? '', 'events').map(([country, events]) => ({ country: country === '' ? null : country, events })),
    topRegions: sumBy(topRegions.rows, (row) => JSON.stringify([row['country'], row['region']]), 'requests')
      .slice(0, 10)
      .map(([key, requests]) => {
        const [country, region] = JSON.parse(key) as [string | null, string | null];
        return { country, region, requests };
      }),
    customers: customerActions(customers.rows),
    anomalies: {
      checked: anomalies.rows.length,
      flagged: anomalies.rows
        .filter((row) => row['is_anomaly'] === '1')
        .map((row): TrafficAnomaly => ({
          hour: isoTime(row['hour']),
          eventName: row['event_name'] ?? '',
          events: num(row['events']),
          trailingMean: num(row['trailing_mean']),
          trailingStddev: num(row['trailing_stddev']),
          zScore: num(row['z_score']),
        }))
        .sort((a, b) => b.hour.localeCompare(a.hour) || Math.abs(b.zScore) - Math.abs(a.zScore)),
    },
    prices: await readPriceAdjustments(pricing, range),
  };
}

const FUNNEL_STEPS: readonly (readonly [string, string])[] = [
  ['users_with_session', 'Session'],
  ['searched', 'Search'],
  ['viewed_after_search', 'ViewContent'],
  ['added_to_cart_after_view', 'AddToCart'],
  ['purchased_after_cart', 'Purchase'],
];

/** The rows of one hourly aggregate for the event hours of `range`, and the hours that had a file. */
export async function readAggregate(store: ObjectStore, query: string, range: HourRange): Promise<{ rows: Row[]; hours: string[] }> {
  const prefix = `${AGGREGATES_PREFIX}${query}/`;
  const keys: { key: string; hour: string }[] = [];
  for await (const { key } of store.list(prefix)) {
    const match = /^dt=(\d{4}-\d{2}-\d{2})\/hr=(\d{2})\/([a-z_0-9]+)\.csv$/.exec(key.slice(prefix.length));
    if (match === null || match[3] !== query) continue;
    const hour = `${match[1]}T${match[2]}`;
    if (hour >= range.from && hour < range.to) keys.push({ key, hour });
  }
  const bodies = await Promise.all(keys.map(({ key }) => store.get(key).catch(() => Buffer.alloc(0))));
  return { rows: bodies.flatMap((body) => unloadedCsvObjects(body.toString('utf8'))), hours: keys.map(({ hour }) => hour) };
}

/** Price decisions on signals of the event hours of `range`; the catalog's counts are the lake's. */
async function readPriceAdjustments(pricing: LocalPricing, range: HourRange): Promise<PriceAdjustments> {
  const prices = await pricing.readPrices();
  if (prices === undefined) return { available: false, products: 0, offBase: 0, changed: 0, held: 0, latest: [], byHour: [] };
  const products = new Map(prices.products.map((product) => [product.product_id, product]));
  const inRange = prices.history.filter((row) => row.event_hour >= range.from && row.event_hour < range.to);
  const changes = inRange.filter((row) => row.decision === 'changed');
  const byHour = new Map<string, { hour: string; raised: number; lowered: number }>();
  for (const change of changes) {
    const hour = byHour.get(change.event_hour) ?? { hour: change.event_hour, raised: 0, lowered: 0 };
    if (change.new_price > change.old_price) hour.raised += 1;
    else hour.lowered += 1;
    byHour.set(change.event_hour, hour);
  }
  return {
    available: true,
    products: prices.products.length,
    offBase: prices.products.filter((product) => product.current_price !== product.base_price).length,
    changed: changes.length,
    held: inRange.length - changes.length,
    latest: changes
      .toSorted((a, b) => b.decided_at.localeCompare(a.decided_at) || b.signal_id.localeCompare(a.signal_id))
      .slice(0, PRICE_ROWS)
      .map((row) => ({
        decidedAt: row.decided_at,
        productId: row.product_id,
        product: products.get(row.product_id)?.name ?? '',
        category: products.get(row.product_id)?.category ?? '',
        eventHour: row.event_hour,
        oldPrice: row.old_price,
        newPrice: row.new_price,
        reason: row.reason,
      })),
    byHour: [...byHour.values()].sort((a, b) => a.hour.localeCompare(b.hour)),
  };
}

function customerActions(rows: readonly Row[]): AnalyticsData['customers'] {
  const byUser = new Map<string, CustomerActions>();
  for (const row of rows) {
    const userId = row['user_id'] ?? '';
    const now = byUser.get(userId) ?? { userId, searches: 0, views: 0, addToCarts: 0, purchases: 0, events: 0, hours: 0 };
    byUser.set(userId, {
      userId,
      searches: now.searches + num(row['searches']),
      views: now.views + num(row['views']),
      addToCarts: now.addToCarts + num(row['add_to_carts']),
      purchases: now.purchases + num(row['purchases']),
      events: now.events + num(row['events']),
      hours: now.hours + 1,
    });
  }
  const ranked = [...byUser.values()].sort((a, b) => b.events - a.events || b.purchases - a.purchases || a.userId.localeCompare(b.userId, 'en', { numeric: true }));
  return { rows: ranked.slice(0, CUSTOMER_ROWS), users: byUser.size };
}

/** Sums `column` by key, largest first (ties by key). */
function sumBy(rows: readonly Row[], keyOf: (row: Row) => string, column: string): [string, number][] {
  const sums = new Map<string, number>();
  for (const row of rows) sums.set(keyOf(row), (sums.get(keyOf(row)) ?? 0) + num(row[column]));
  return [...sums.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function num(value: string | null | undefined): number {
  const number = Number(value ?? 0);
  return Number.isFinite(number) ? number : 0;
}

/** `2021-07-12 05:00:00` (UTC, as the aggregates print it) as ISO 8601 with `Z`. */
function isoTime(value: string | null | undefined): string {
  return value ? `${value.replace(' ', 'T')}Z` : '';
}

function byTime(a: { time: string }, b: { time: string }): number {
  return a.time.localeCompare(b.time);
}
