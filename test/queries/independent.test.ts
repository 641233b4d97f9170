import { promises as fs } from 'node:fs';
import { runAggregate } from '../../tasks/aggregate/run';
import { aggregateKey } from '../../tasks/aggregate/queries';
import { buildLake, DAY, EXECUTION, geoOf, handEvents, parseCsv, USERS, type HandEvent } from './fixture';

/**
 * Every aggregate query's CSV equals a computation in plain TypeScript over the hand-made events
 * (sessions, funnel order, windows written as loops here, not as SQL).
 */

type Cell = string | number | null;
interface Event extends HandEvent {
  readonly ms: number;
  readonly country: string | null;
  readonly region: string | null;
}

const HOURS = [`${DAY}T04`, `${DAY}T05`, `${DAY}T06`];
const MINUTE = 60_000;
const HOUR = 3_600_000;
const STEPS = ['Search', 'ViewContent', 'AddToCart', 'Purchase'] as const;

let lake: Awaited<ReturnType<typeof buildLake>>;
let events: Event[];

beforeAll(async () => {
  lake = await buildLake();
  const geo = await geoOf(lake);
  events = handEvents().map((event) => ({ ...event, ms: Date.parse(`${event.time.replace(' ', 'T')}Z`), ...geo.get(event.click_id)! }));
  expect(geo.size).toBe(events.length);
  await runAggregate({ executionId: EXECUTION, hour: `${DAY}T06`, partitions: lake.merged.partitionsTouched }, lake);
});

afterAll(async () => {
  await fs.rm(lake.root, { recursive: true, force: true });
});

async function csvRows(query: string, period: string) {
  return parseCsv((await lake.store.get(aggregateKey(query, period, 'csv'))).toString('utf8'));
}

/** Numbers compare within half a unit of the third decimal (the SQL rounds decimals to 2 or 3 places). */
function expectRows(actual: (string | null)[][], expected: Cell[][]) {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, index) => {
    const want = expected[index]!;
    expect(row.length).toBe(want.length);
    row.forEach((cell, column) => {
      const value = want[column];
      if (typeof value === 'number') {
        expect(cell).not.toBeNull();
        expect(Math.abs(Number(cell) - value)).toBeLessThanOrEqual(0.0051);
      } else expect([index, column, cell]).toEqual([index, column, value]);
    });
  });
}

const ts = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const hourMs = (hour: string) => Date.parse(`${hour}:00:00Z`);
const inRange = (event: Event, start: number, end: number) => event.ms >= start && event.ms < end;
const cmp = (a: Cell, b: Cell): number => {
  if (a === b) return 0;
  if (a === null) return 1; // NULLs last
  if (b === null) return -1;
  return a < b ? -1 : 1;
};
const byKeys = (...indexes: number[]) => (a: Cell[], b: Cell[]) => {
  for (const index of indexes) {
    const order = cmp(a[index]!, b[index]!);
    if (order !== 0) return order;
  }
  return 0;
};
function groupCount<K>(items: readonly Event[], key: (event: Event) => K): Map<string, { key: K; events: Event[] }> {
  const groups = new Map<string, { key: K; events: Event[] }>();
  for (const item of items) {
    const id = JSON.stringify(key(item));
    const group = groups.get(id) ?? { key: key(item), events: [] };
    group.events.push(item);
    groups.set(id, group);
  }
  return groups;
}
const distinctUsers = (list: readonly Event[]) => new Set(list.map((event) => event.user_id)).size;
const hourEvents = (hour: string) => events.filter((event) => inRange(event, hourMs(hour), hourMs(hour) + HOUR));

/** Sessions over all events: per user, by (time, click_id); a gap of more than 30 minutes starts a new one. */
function sessions(): Event[][] {
  const byUser = new Map<string, Event[]>();
  for (const event of events) byUser.set(event.user_id, [...(byUser.get(event.user_id) ?? []), event]);
  const all: Event[][] = [];
  for (const list of byUser.values()) {
    list.sort((a, b) => a.ms - b.ms || (a.click_id < b.click_id ? -1 : 1));
    let current: Event[] = [];
    for (const event of list) {
      if (current.length > 0 && event.ms - current[current.length - 1]!.ms > 30 * MINUTE) {
        all.push(current);
        current = [];
      }
      current.push(event);
    }
    all.push(current);
  }
  return all;
}

/** How many funnel steps a session reached in order: a state machine over its events. */
function stepsReached(session: readonly Event[]): number {
  let reached = 0;
  for (const event of session) if (reached < STEPS.length && event.event_name === STEPS[reached]) reached++;
  return reached;
}

function funnelRow(period: string, list: Event[][]): Cell[] {
  const usersAt = (steps: number) => new Set(list.filter((session) => stepsReached(session) >= steps).map((session) => session[0]!.user_id)).size;
  return [period, usersAt(0), usersAt(1), usersAt(2), usersAt(3), usersAt(4)];
}

describe('aggregate queries against an independent computation', () => {
  it.each(HOURS)('events_by_name and events_by_country match for %s', async (hour) => {
    const byName = [...groupCount(hourEvents(hour), (event) => event.event_name).values()].map(({ key, events: list }): Cell[] => [ts(hourMs(hour)), key, list.length]);
    expectRows((await csvRows('events_by_name', hour)).rows, byName.sort(byKeys(1)));
    const byCountry = [...groupCount(hourEvents(hour), (event) => [event.country, event.event_name] as const).values()].map(({ key, events: list }): Cell[] => [ts(hourMs(hour)), key[0], key[1], list.length]);
    expectRows((await csvRows('events_by_country', hour)).rows, byCountry.sort(byKeys(1, 2)));
  });

  it.each(HOURS)('active users per minute, per hour and over the sliding 5 minutes match for %s', async (hour) => {
    const start = hourMs(hour);
    const perMinute = [...groupCount(hourEvents(hour), (event) => Math.floor(event.ms / MINUTE) * MINUTE).values()]
      .map(({ key, events: list }): Cell[] => [ts(key), distinctUsers(list), list.length])
      .sort(byKeys(0));
    expectRows((await csvRows('active_users_per_minute', hour)).rows, perMinute);
    const list = hourEvents(hour);
    expectRows((await csvRows('active_users_per_hour', hour)).rows, list.length === 0 ? [] : [[ts(start), distinctUsers(list), list.length]]);
    const sliding: Cell[][] = [];
    for (let minute = start; minute < start + HOUR; minute += MINUTE) {
      const window = events.filter((event) => inRange(event, minute - 4 * MINUTE, minute + MINUTE));
      if (window.length > 0) sliding.push([ts(minute), distinctUsers(window), window.length]);
    }
    expectRows((await csvRows('active_users_sliding_5min', hour)).rows, sliding);
  });

  it('the sliding window of 06:00 reaches back into hour 05', async () => {
    const { rows } = await csvRows('active_users_sliding_5min', `${DAY}T06`);
    // u7 at 05:57, u4 at 05:58, u6 at 06:00
    expect(rows[0]).toEqual([`${DAY} 06:00:00`, '3', '3']);
  });

  it.each(HOURS)('purchase_price_by_segment, high_interest_views, customer_actions and product_demand match for %s', async (hour) => {
    const segmentOf = (user: string) => USERS.find((row) => row.user_id === user)?.segment ?? 'unknown';
    const purchases = hourEvents(hour).filter((event) => event.event_name === 'Purchase');
    const bySegment = [...groupCount(purchases, (event) => [Math.floor(event.ms / MINUTE) * MINUTE, segmentOf(event.user_id)] as const).values()]
      .map(({ key, events: list }): Cell[] => [ts(key[0]), key[1], list.length, list.reduce((sum, event) => sum + event.price!, 0) / list.length])
      .sort(byKeys(0, 1));
    expectRows((await csvRows('purchase_price_by_segment', hour)).rows, bySegment);

    const interested = hourEvents(hour).filter((event) => event.event_name === 'ViewContent' && event.percent_viewed! > 60);
    const views = [...groupCount(interested, (event) => [event.product_id!, event.user_id] as const).values()]
      .map(({ key, events: list }): Cell[] => [ts(hourMs(hour)), String(key[0]), key[1], list.length, Math.max(...list.map((event) => event.percent_viewed!))])
      .sort((a, b) => Number(a[1]) - Number(b[1]) || cmp(a[2]!, b[2]!));
    expectRows((await csvRows('high_interest_views', hour)).rows, views);

    const count = (list: readonly Event[], name: string) => list.filter((event) => event.event_name === name).length;
    const actions = [...groupCount(hourEvents(hour), (event) => event.user_id).values()]
      .map(({ key, events: list }): Cell[] => [ts(hourMs(hour)), key, count(list, 'Search'), count(list, 'ViewContent'), count(list, 'AddToCart'), count(list, 'Purchase'), list.length])
      .sort(byKeys(1));
    expectRows((await csvRows('customer_actions', hour)).rows, actions);

    const demand = [...groupCount(hourEvents(hour), (event) => event.product_id!).values()]
      .map(({ key, events: list }): Cell[] => [
        ts(hourMs(hour)),
        String(key),
        count(list, 'ViewContent'),
        count(list, 'AddToCart'),
        count(list, 'Purchase'),
        list.filter((event) => event.event_name === 'Purchase').reduce((sum, event) => sum + event.price!, 0),
      ])
      .sort((a, b) => Number(a[1]) - Number(b[1]));
    expectRows((await csvRows('product_demand', hour)).rows, demand);
  });

  it.each(HOURS)('top_regions matches for %s', async (hour) => {
    const regions = [...groupCount(hourEvents(hour), (event) => [event.country, event.region] as const).values()]
      .map(({ key, events: list }): Cell[] => [key[0], key[1], list.length])
      .sort((a, b) => Number(b[2]) - Number(a[2]) || cmp(a[0]!, b[0]!) || cmp(a[1]!, b[1]!))
      .slice(0, 10)
      .map((row, index): Cell[] => [ts(hourMs(hour)), index + 1, ...row]);
    expectRows((await csvRows('top_regions', hour)).rows, regions);
  });

  it.each(HOURS)('sessions and funnel match for %s', async (hour) => {
    const start = hourMs(hour);
    const starting = sessions().filter((session) => inRange(session[0]!, start, start + HOUR));
    const expectedSessions: Cell[][] =
      starting.length === 0
        ? []
        : [
            [
              ts(start),
              starting.length,
              starting.reduce((sum, session) => sum + (session[session.length - 1]!.ms - session[0]!.ms) / 1000, 0) / starting.length,
              starting.reduce((sum, session) => sum + session.length, 0) / starting.length,
            ],
          ];
    expectRows((await csvRows('sessions', hour)).rows, expectedSessions);
    expectRows((await csvRows('funnel', hour)).rows, starting.length === 0 ? [] : [funnelRow(ts(start), starting)]);
  });

  it('funnel_daily matches over the whole day', async () => {
    const start = Date.parse(`${DAY}T00:00:00Z`);
    const starting = sessions().filter((session) => inRange(session[0]!, start, start + 24 * HOUR));
    const { header, rows } = await csvRows('funnel_daily', DAY);
    expect(header).toEqual(['day', 'users_with_session', 'searched', 'viewed_after_search', 'added_to_cart_after_view', 'purchased_after_cart']);
    expectRows(rows, [funnelRow(ts(start), starting)]);
  });

  it('counts the funnel in order, within sessions split by more than 30 minutes', async () => {
    // 04: u1 (session from 04:50 completes in 05), u2 (search only). 05: u2 out of order (no cart),
    // u3 split by 31 minutes (no purchase), u4 completes, u7 searches. 06: u6 completes across an exact 30-minute pause.
    expect((await csvRows('funnel', `${DAY}T04`)).rows).toEqual([[`${DAY} 04:00:00`, '2', '2', '1', '1', '1']]);
    expect((await csvRows('funnel', `${DAY}T05`)).rows).toEqual([[`${DAY} 05:00:00`, '4', '4', '3', '2', '1']]);
    expect((await csvRows('funnel', `${DAY}T06`)).rows[0]!.slice(4)).toEqual(['1', '1']);
    // u4's session runs 05:20 to 06:10, so it is one of hour 05's sessions, not 06's
    const { rows } = await csvRows('sessions', `${DAY}T05`);
    expect(rows[0]!.slice(0, 2)).toEqual([`${DAY} 05:00:00`, '5']);
  });

  it.each(HOURS)('traffic_anomalies matches for %s', async (hour) => {
    const start = hourMs(hour);
    const names = new Set(events.filter((event) => inRange(event, start - 24 * HOUR, start + HOUR)).map((event) => event.event_name));
    const expected = [...names].sort().map((name): Cell[] => {
      const countIn = (from: number) => events.filter((event) => event.event_name === name && inRange(event, from, from + HOUR)).length;
      const trailing = Array.from({ length: 24 }, (_, index) => countIn(start - (index + 1) * HOUR));
      const mean = trailing.reduce((sum, value) => sum + value, 0) / 24;
      const stddev = Math.sqrt(trailing.reduce((sum, value) => sum + (value - mean) ** 2, 0) / 24);
      const current = countIn(start);
      const z = stddev > 0 ? (current - mean) / stddev : null;
      return [ts(start), name, current, mean, stddev, z, z !== null && Math.abs(z) > 3 ? '1' : '0'];
    });
    expectRows((await csvRows('traffic_anomalies', hour)).rows, expected);
  });

  it('flags the burst of searches in hour 06', async () => {
    const { rows } = await csvRows('traffic_anomalies', `${DAY}T06`);
    expect(rows.find((row) => row[1] === 'Search')?.[6]).toBe('1');
  });
});
