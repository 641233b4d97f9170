import fc from 'fast-check';
import { DuckDbQueryEngine } from '../../tasks/adapters/local/duckdb-query-engine';
import { computeAggregateResult } from '../../tasks/adapters/local/duckdb-aggregate-engine';
import type { QueryParameterValues } from '../../tasks/aggregate/queries';

/**
 * sessions, funnel and funnel_daily against a plain TypeScript reference, over random events: few users,
 * times on a coarse grid (so that gaps of exactly 30 minutes and events at the same instant are common),
 * step names in any order. The reference sorts each user's events by (time, click_id), splits them at
 * gaps of more than 30 minutes and runs the funnel as a state machine, over the events the query's
 * window holds (its look-back and look-ahead).
 */

const MINUTE_US = 60_000_000;
const HOUR_US = 60 * MINUTE_US;
const DAY_START_US = Date.parse('2021-07-12T00:00:00Z') * 1000;
const STEPS = ['Search', 'ViewContent', 'AddToCart', 'Purchase'] as const;

interface Event {
  readonly user_id: string | null;
  readonly click_id: string;
  /** Event time in microseconds since the epoch (exact: below 2^53). */
  readonly us: number;
  readonly event_name: string;
}

let engine: DuckDbQueryEngine;

beforeAll(async () => {
  engine = await DuckDbQueryEngine.open({ threads: 1 });
});

afterAll(async () => {
  await engine.close();
});

/**
 * Events around hour 04 of one day, of two users and of none: times on a grid of 7.5 minutes, sometimes a
 * few microseconds off it, and often the same user and instant as the event drawn before (ties that
 * click_id must order); dense enough that sessions often outlast the hour after their own.
 */
const eventsArbitrary = fc
  .array(
    fc.record({
      user: fc.constantFrom('u1', 'u2', null),
      slot: fc.integer({ min: 28, max: 64 }),
      nudgeUs: fc.constantFrom(0, 0, 0, 1, 500),
      tiedToPrevious: fc.boolean(),
      name: fc.constantFrom(...STEPS, 'Other'),
    }),
    { maxLength: 50, size: 'max' },
  )
  .map((drawn) => {
    const events: Event[] = [];
    for (const [index, { user, slot, nudgeUs, tiedToPrevious, name }] of drawn.entries()) {
      const previous = tiedToPrevious ? events.at(-1) : undefined;
      events.push({
        user_id: previous?.user_id ?? user,
        // click_ids in an order unrelated to the draw's
        click_id: `c${String((index * 37) % 101).padStart(3, '0')}`,
        us: previous?.us ?? DAY_START_US + slot * 7.5 * MINUTE_US + nudgeUs,
        event_name: name,
      });
    }
    return events;
  });

async function load(events: readonly Event[]): Promise<void> {
  await engine.run('CREATE OR REPLACE TEMP TABLE events (user_id VARCHAR, click_id VARCHAR, event_time TIMESTAMP, event_name VARCHAR)');
  for (const event of events) {
    const user = event.user_id === null ? 'NULL' : `'${event.user_id}'`;
    await engine.run(`INSERT INTO events VALUES (${user}, '${event.click_id}', make_timestamp(${event.us}), '${event.event_name}')`);
  }
}

async function resultOf(query: string, start: number, end: number): Promise<string[][]> {
  const [from, to] = [new Date(start / 1000), new Date(end / 1000)];
  const parameters: QueryParameterValues = { hour_start: from, hour_end: to, day_start: from, day_end: to, z_threshold: 3 };
  await computeAggregateResult(engine, { query, parameters });
  const described = await engine.query('DESCRIBE aggregate_result');
  const columns = described.rows.map((row) => `CAST("${String(row[0])}" AS VARCHAR)`);
  return (await engine.query(`SELECT ${columns.join(', ')} FROM aggregate_result`)).rows as string[][];
}

/**
 * The sessions starting in [start, end) among the events of [start - 30 minutes, end + 1 hour), each in
 * (time, click_id) order. The events without a user make sessions of their own, which sessions does not
 * count and funnel counts no user of.
 */
function sessionsStarting(events: readonly Event[], start: number, end: number): Event[][] {
  const seen = events.filter((event) => event.us >= start - 30 * MINUTE_US && event.us < end + HOUR_US);
  const sessions: Event[][] = [];
  for (const user of new Set(seen.map((event) => event.user_id))) {
    const own = seen.filter((event) => event.user_id === user).sort((a, b) => a.us - b.us || (a.click_id < b.click_id ? -1 : 1));
    let current: Event[] = [];
    for (const event of own) {
      if (current.length > 0 && event.us - current.at(-1)!.us > 30 * MINUTE_US) {
        sessions.push(current);
        current = [];
      }
      current.push(event);
    }
    if (current.length > 0) sessions.push(current);
  }
  return sessions.filter((session) => session[0]!.us >= start && session[0]!.us < end);
}

const timestamp = (us: number) => new Date(us / 1000).toISOString().slice(0, 19).replace('T', ' ');

/** The mean of `count` values summing to `sum` units, in wholes of `unitsPerWhole` units, half rounded up to three decimals, as the queries round it. */
function mean(sum: number, count: number, unitsPerWhole: number): string {
  return (Math.floor((2000 * sum + unitsPerWhole * count) / (2 * unitsPerWhole * count)) / 1000).toFixed(3);
}

function expectedSessions(events: readonly Event[], start: number): string[][] {
  const sessions = sessionsStarting(events, start, start + HOUR_US).filter((session) => session[0]!.user_id !== null);
  if (sessions.length === 0) return [];
  const lengthUs = sessions.reduce((sum, session) => sum + (session.at(-1)!.us - session[0]!.us), 0);
  const events_ = sessions.reduce((sum, session) => sum + session.length, 0);
  return [[timestamp(start), String(sessions.length), mean(lengthUs, sessions.length, 1_000_000), mean(events_, sessions.length, 1)]];
}

function expectedFunnel(events: readonly Event[], start: number, end: number): string[][] {
  const sessions = sessionsStarting(events, start, end);
  if (sessions.length === 0) return [];
  const reached = sessions.map((session) => {
    let steps = 0;
    for (const event of session) if (steps < STEPS.length && event.event_name === STEPS[steps]) steps += 1;
    return { user: session[0]!.user_id, steps };
  });
  const usersAt = (steps: number) => String(new Set(reached.filter((session) => session.user !== null && session.steps >= steps).map(({ user }) => user)).size);
  return [[timestamp(start), usersAt(0), usersAt(1), usersAt(2), usersAt(3), usersAt(4)]];
}

describe('sessions and funnels against a reference over random events', () => {
  it('sessions and funnel of an hour, and funnel_daily of the day, match the reference', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArbitrary, async (events) => {
        await load(events);
        const hour = DAY_START_US + 4 * HOUR_US;
        expect(await resultOf('sessions', hour, hour + HOUR_US)).toEqual(expectedSessions(events, hour));
        expect(await resultOf('funnel', hour, hour + HOUR_US)).toEqual(expectedFunnel(events, hour, hour + HOUR_US));
        expect(await resultOf('funnel_daily', DAY_START_US, DAY_START_US + 24 * HOUR_US)).toEqual(expectedFunnel(events, DAY_START_US, DAY_START_US + 24 * HOUR_US));
      }),
      { numRuns: 150 },
    );
  });

  // What lets an engine run them over many hours at once and cut each hour's rows from the result.
  it('give each hour of a run over several hours the row of a run over that hour alone', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArbitrary, async (events) => {
        await load(events);
        const [first, last] = [DAY_START_US + 3 * HOUR_US, DAY_START_US + 8 * HOUR_US];
        for (const query of ['sessions', 'funnel']) {
          const alone: string[][] = [];
          for (let hour = first; hour < last; hour += HOUR_US) alone.push(...(await resultOf(query, hour, hour + HOUR_US)));
          expect(await resultOf(query, first, last)).toEqual(alone);
        }
      }),
      { numRuns: 100 },
    );
  });
});
