/**
 * Property tests of the merge and the compaction (issue 3, "Done when"): over random raw data (late
 * events, duplicates re-sent in the same or later hours, later copies that differ, broken records,
 * records concatenated with and without newlines) and random schedules (hours in any order, reruns,
 * retries of an execution, compactions and click index trims in between), the lake holds every valid event exactly once,
 * as its earliest copy, in its event-time partition, in sorted files; every record is accounted for;
 * and the final content is the same as running the hours once, in order.
 *
 * FC_SEED / FC_PATH / FC_NUM_RUNS replay or widen a run (fast-check prints seed and path on failure);
 * FC_TIME_LIMIT_MS bounds the whole run including shrinking; FC_DEBUG=1 prints every schedule.
 */
import fc from 'fast-check';
import { runCompaction, type CompactionResult, type CompactionSettings } from '../../tasks/compact/run';
import { EVENTS_TABLE } from '../../tasks/curated/layout';
import { runMerge, type MergeResult } from '../../tasks/merge/run';
import { addHours, hourStartMs } from '../../tasks/shared/hours';
import { runVacuum } from '../../tasks/vacuum/run';
import { click, createLake } from '../tasks/merge/lake-fixture';
import {
  checkAccounting,
  checkCurated,
  checkRejects,
  checkWinnerPixels,
  curatedContent,
  deliverAll,
  expectedWinners,
  formatTimestamp,
  HOUR_US,
  removeLake,
  type Lake,
  type Placement,
  type RawItem,
} from './lake-model';

/** The first arrival hour; the hours after it cross midnight, and late events cross days. */
const FIRST_HOUR = '2021-07-11T22';
const MINUTE_US = 60_000_000;

/**
 * Small enough that a few rows make a partition worth compacting (more than 2 files, or 2 small ones);
 * a target of 4096 bytes splits a rewrite into several files, 65536 makes one.
 */
const COMPACTION: CompactionSettings = { targetFileBytes: 4096, maxFiles: 2, smallFileBytes: 4096, minSmallFiles: 2 };

const FORMATS = ['space', 'isoZ', 'offset'] as const;

/**
 * Items placed in object 3 of an hour are delivered only after that hour's first run, as Firehose
 * retries deliver into old prefixes; a later run (or the final rerun) must pick them up.
 */
const LATE_OBJECT = 3;

const copyArb = () =>
  fc.record({
    kind: fc.constantFrom('exact' as const, 'variant' as const),
    /** Arrival hours after the first copy's (clamped to the last hour): 0 re-sends into the same hour. */
    hourDelta: fc.nat(2),
    object: fc.nat(LATE_OBJECT),
    slot: fc.nat(20),
    glue: fc.boolean(),
    format: fc.constantFrom(...FORMATS),
    /** A variant copy re-stamped by the client, often into another event hour (0: the same time). */
    restampMinutes: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -180, max: -1 }) }),
  });

const eventArb = (hours: number) =>
  fc.record({
    hour: fc.nat(hours - 1),
    object: fc.nat(LATE_OBJECT),
    slot: fc.nat(20),
    glue: fc.boolean(),
    /** Event time relative to the start of its first arrival hour. */
    offsetMinutes: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 59 }) },
      // Late by minutes to hours: lands in the partitions of earlier arrival hours, next to their rows.
      { weight: 5, arbitrary: fc.integer({ min: -180, max: -1 }) },
      { weight: 1, arbitrary: fc.integer({ min: -2 * 24 * 60, max: -181 }) },
      // A client clock ahead: after the arrival hour, within the one-hour tolerance.
      { weight: 1, arbitrary: fc.integer({ min: 60, max: 119 }) },
      // A few shared times, so that rows tie on event_time and the sort falls to user_id and click_id.
      { weight: 2, arbitrary: fc.constantFrom(-61, -1, 0, 30) },
    ),
    second: fc.constantFrom(0, 0, 17, 59),
    micros: fc.constantFrom(0, 0, 1, 500_000, 999_999),
    format: fc.constantFrom(...FORMATS),
    userId: fc.oneof(fc.constantFrom('35', '7', 'u-1'), fc.integer({ min: 1, max: 40 }), fc.constant(null)),
    eventName: fc.constantFrom('Search', 'AddToCart', 'ProductView', 'Purchase', 'Wishlist'),
    ip: fc.constantFrom(null, '81.2.69.160', '2001:db8::1', 'not-an-ip'),
    stringifiedData: fc.boolean(),
    withSentTime: fc.boolean(),
    copies: fc.array(copyArb(), { maxLength: 2 }),
  });

const BAD_KINDS = [
  'truncated',
  'junk',
  'array',
  'missing_click_id',
  'missing_timestamp',
  'missing_event_name',
  'numeric_click_id',
  'zoneless_iso_timestamp',
  'future',
  'too_late',
  'boolean_user_id',
] as const;

const badArb = (hours: number) =>
  fc.record({
    hour: fc.nat(hours - 1),
    object: fc.nat(LATE_OBJECT),
    slot: fc.nat(20),
    glue: fc.boolean(),
    kind: fc.constantFrom(...BAD_KINDS),
    cut: fc.nat(),
  });

const extraArb = fc.record({
  /** Inserted after the (after % hours)-th first run, so there is always something to rerun or compact. */
  after: fc.nat(9),
  op: fc.oneof(
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('rerun' as const), pick: fc.nat(9) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const), pick: fc.nat(9) }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('compact' as const), mask: fc.nat(255), targetFileBytes: fc.constantFrom(4096, 65536) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('trim-index' as const) }) },
  ),
});

const scenarioArb = fc.integer({ min: 3, max: 5 }).chain((hours) =>
  fc.record({
    hours: fc.constant(hours),
    events: fc.array(eventArb(hours), { minLength: 1, maxLength: 16 }),
    bad: fc.array(badArb(hours), { maxLength: 6 }),
    order: fc.shuffledSubarray(
      Array.from({ length: hours }, (_, index) => index),
      { minLength: hours, maxLength: hours },
    ),
    extras: fc.array(extraArb, { maxLength: 6 }),
  }),
);

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function arrivalHour(index: number): string {
  return addHours(FIRST_HOUR, index);
}

/** The raw records of a scenario, each with where it goes. */
function rawItems(scenario: Scenario): { item: RawItem; at: Placement }[] {
  const items: { item: RawItem; at: Placement }[] = [];
  scenario.events.forEach((event, index) => {
    const clickId = `c${String(index).padStart(2, '0')}`;
    const micros = hourStartMs(arrivalHour(event.hour)) * 1000 + event.offsetMinutes * MINUTE_US + event.second * 1_000_000 + event.micros;
    const userId = event.userId === null ? null : String(event.userId);
    const record = (format: (typeof FORMATS)[number], variant: number, micros: number) => {
      const data = { time_on_data: 79 + variant, percent_viewed: 39.5, product_id: 557246, price: 417.97 + variant };
      const body: Record<string, unknown> = {
        ...click(clickId, formatTimestamp(micros, format)),
        event_name: variant === 0 ? event.eventName : 'Retried',
        pixel_id: variant === 0 ? 'px-first' : `px-variant-${variant}`,
        user_id: event.userId,
        additional_data: event.stringifiedData ? JSON.stringify(data) : data,
      };
      if (event.ip === null) delete body.user_ip;
      else body.user_ip = event.ip;
      if (event.withSentTime) body.insertion_timestamp = formatTimestamp(micros + 2_000_000, 'space');
      else delete body.insertion_timestamp;
      if (event.userId === null) delete body.user_id;
      return JSON.stringify(body);
    };
    const first = record(event.format, 0, micros);
    const valid = (text: string, variant: number, eventMicros: number): RawItem => ({
      kind: 'valid',
      clickId,
      eventMicros,
      userId,
      eventName: variant === 0 ? event.eventName : 'Retried',
      pixelId: variant === 0 ? 'px-first' : `px-variant-${variant}`,
      text,
    });
    items.push({ item: valid(first, 0, micros), at: { hour: arrivalHour(event.hour), object: event.object, slot: event.slot, glue: event.glue } });
    event.copies.forEach((copy, copyIndex) => {
      const hour = arrivalHour(Math.min(event.hour + copy.hourDelta, scenario.hours - 1));
      const variant = copy.kind === 'exact' ? 0 : copyIndex + 1;
      const copyMicros = copy.kind === 'exact' ? micros : micros + copy.restampMinutes * MINUTE_US;
      const text = copy.kind === 'exact' ? first : record(copy.format, variant, copyMicros);
      items.push({ item: valid(text, variant, copyMicros), at: { hour, object: copy.object, slot: copy.slot, glue: copy.glue } });
    });
  });
  scenario.bad.forEach((bad, index) => {
    const hour = arrivalHour(bad.hour);
    const start = hourStartMs(hour) * 1000;
    const clickId = `bad${String(index).padStart(2, '0')}`;
    const base = click(clickId, formatTimestamp(start + 10 * MINUTE_US, 'space'));
    const without = (field: string) => {
      const copy = { ...base };
      delete copy[field];
      return copy;
    };
    const object = (reason: string, value: object): RawItem => ({ kind: 'bad', reason, text: JSON.stringify(value), needsNewline: false });
    let item: RawItem;
    switch (bad.kind) {
      case 'truncated': {
        const whole = JSON.stringify(base);
        item = { kind: 'bad', reason: 'malformed_json', text: whole.slice(0, 1 + (bad.cut % (whole.length - 1))), needsNewline: true };
        break;
      }
      case 'junk':
        item = { kind: 'bad', reason: 'malformed_json', text: 'not json at all', needsNewline: true };
        break;
      case 'array':
        item = { kind: 'bad', reason: 'malformed_json', text: '[1,2,3]', needsNewline: true };
        break;
      case 'missing_click_id':
        item = object('missing_field:click_id', without('click_id'));
        break;
      case 'missing_timestamp':
        item = object('missing_field:timestamp', without('timestamp'));
        break;
      case 'missing_event_name':
        item = object('missing_field:event_name', without('event_name'));
        break;
      case 'numeric_click_id':
        item = object('invalid_field:click_id', { ...base, click_id: 12345 });
        break;
      case 'zoneless_iso_timestamp':
        item = object('invalid_field:timestamp', { ...base, timestamp: formatTimestamp(start, 'isoZ').slice(0, -1) });
        break;
      case 'future':
        item = object('future_timestamp', { ...base, timestamp: formatTimestamp(start + 2 * HOUR_US + 1, 'space') });
        break;
      case 'too_late':
        item = object('too_late', { ...base, timestamp: formatTimestamp(start - 30 * 24 * HOUR_US - 1, 'space') });
        break;
      case 'boolean_user_id':
        item = object('invalid_field:user_id', { ...base, user_id: true });
        break;
    }
    items.push({ item, at: { hour, object: bad.object, slot: bad.slot, glue: bad.glue } });
  });
  return items;
}

type Step =
  | { readonly kind: 'run'; readonly hour: string }
  | { readonly kind: 'rerun'; readonly pick: number }
  | { readonly kind: 'retry'; readonly pick: number }
  | { readonly kind: 'compact'; readonly mask: number; readonly targetFileBytes: number }
  | { readonly kind: 'trim-index' }
  | { readonly kind: 'final-rerun'; readonly hour: string };

function scheduleOf(scenario: Scenario): Step[] {
  const steps: Step[] = [];
  scenario.order.forEach((hourIndex, position) => {
    steps.push({ kind: 'run', hour: arrivalHour(hourIndex) });
    for (const extra of scenario.extras) if (extra.after % scenario.hours === position) steps.push(extra.op);
  });
  // A compaction of whatever has several files, then, as late deliveries into the hour that ran last
  // have no later run to pick them up, a rerun of the last hour (appending to compacted partitions).
  steps.push({ kind: 'compact', mask: 255, targetFileBytes: 4096 });
  steps.push({ kind: 'final-rerun', hour: arrivalHour(scenario.hours - 1) });
  return steps;
}

const EXECUTION_PREFIX = 'arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:';

/**
 * Runs a schedule against `lake`, delivering each hour's late object right after that hour's first
 * run; returns the result of every merge execution (retries excluded) and a log for failures.
 */
async function runSchedule(lake: Lake, steps: readonly Step[], deliverLate: (hour: string) => Promise<number>): Promise<{ results: MergeResult[]; log: string[] }> {
  const executions: { input: { hour: string; executionId: string }; result: MergeResult }[] = [];
  const ran: string[] = [];
  const log: string[] = [];
  let compactions = 0;
  let vacuums = 0;
  for (const step of steps) {
    switch (step.kind) {
      case 'run':
      case 'rerun':
      case 'final-rerun': {
        const hour = step.kind === 'rerun' ? (ran[step.pick % ran.length] as string) : step.hour;
        const input = { hour, executionId: `${EXECUTION_PREFIX}m${executions.length}-${hour}` };
        const result = await runMerge(input, lake.ports);
        executions.push({ input, result });
        log.push(`${step.kind} ${hour}: objects ${result.objects}, accepted ${result.accepted}, duplicates ${result.duplicates}, superseded ${result.supersededRows}, touched ${result.partitionsTouched.join(' ')}`);
        if (step.kind === 'run') {
          ran.push(hour);
          const late = await deliverLate(hour);
          if (late > 0) log.push(`late delivery into ${hour}: ${late} records`);
        }
        break;
      }
      case 'retry': {
        // The same execution again (a retry after an unknown outcome): it reads its commit back and applies nothing.
        const earlier = executions[step.pick % executions.length]!;
        const before = (await lake.catalog.snapshot()).version;
        const again = await runMerge(earlier.input, lake.ports);
        expect(again).toEqual(earlier.result);
        expect((await lake.catalog.snapshot()).version).toBe(before);
        log.push(`retry ${earlier.input.executionId.slice(EXECUTION_PREFIX.length)}`);
        break;
      }
      case 'compact': {
        // A random subset of the partitions that have several files (any partition when none has).
        const states = Object.entries((await lake.catalog.snapshot()).tables[EVENTS_TABLE]?.partitions ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
        const several = states.filter(([, state]) => state.files.length > 1).map(([partition]) => partition);
        const partitions = several.length > 0 ? several : states.map(([partition]) => partition);
        const chosen = partitions.filter((_, index) => (step.mask >> index % 8) & 1);
        const target = chosen.length > 0 ? chosen : partitions;
        if (target.length === 0) break;
        const result: CompactionResult = await runCompaction(
          { executionId: `${EXECUTION_PREFIX}c${compactions++}`, hour: ran[ran.length - 1] as string, partitions: target },
          { store: lake.store, catalog: lake.catalog },
          { ...COMPACTION, targetFileBytes: step.targetFileBytes },
        );
        log.push(`compact ${target.join(' ')}: ${result.partitionsCompacted} compacted, files ${result.filesBefore} -> ${result.filesAfter}`);
        break;
      }
      case 'trim-index': {
        const result = await trimWholeClickIndex(lake, `${EXECUTION_PREFIX}v${vacuums++}`);
        log.push(`vacuum a year on: click index of ${result.clickIndexHoursTrimmed} hours trimmed, ${result.filesDeleted} files deleted`);
        break;
      }
    }
  }
  return { results: executions.map((execution) => execution.result), log };
}

const NUM_RUNS = Number(process.env.FC_NUM_RUNS ?? 20);
const TIME_LIMIT_MS = Number(process.env.FC_TIME_LIMIT_MS ?? 75_000);

describe('merge and compaction invariants over random arrivals and schedules', () => {
  it('holds every valid event once, as its earliest copy, in its event-hour partition, sorted, accounted for, whatever the order', async () => {
    const started = Date.now();
    let compactionsThatRewrote = 0;
    let supersedingRuns = 0;
    let runsPastTrims = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const lake = createLake();
        const reference = createLake();
        try {
          const items = rawItems(scenario);
          const late = (entry: { at: Placement }) => entry.at.object === LATE_OBJECT;
          // The reference gets every object up front; the scheduled lake gets late objects after their hour ran.
          const raw = await deliverAll([reference], items);
          await deliverAll([lake], items.filter((entry) => !late(entry)));
          const deliverLate = async (hour: string) => {
            const due = items.filter((entry) => late(entry) && entry.at.hour === hour);
            if (due.length > 0) await deliverAll([lake], due);
            return due.length;
          };
          const winners = expectedWinners(raw);

          // The reference: every hour once, in order.
          for (let index = 0; index < scenario.hours; index += 1) await reference.merge(arrivalHour(index));

          const { results, log } = await runSchedule(lake, scheduleOf(scenario), deliverLate);
          try {
            const files = await checkCurated(lake, winners);
            await checkRejects(lake, raw);
            checkAccounting(
              results,
              raw,
              files.reduce((sum, file) => sum + file.rows.length, 0),
            );
            const content = await curatedContent(lake);
            checkWinnerPixels(content, winners);
            expect(content).toEqual(await curatedContent(reference));
          } catch (error) {
            (error as Error).message += `\nschedule:\n  ${log.join('\n  ')}`;
            throw error;
          }
          if (process.env.FC_DEBUG) process.stdout.write(`${log.join('\n')}\n---\n`);
          if (log.some((line) => /^compact .*: [1-9]/.test(line))) compactionsThatRewrote += 1;
          if (results.some((result) => result.supersededRows > 0)) supersedingRuns += 1;
          if (results.some((result) => result.notes.some((note) => note.includes('was trimmed')))) runsPastTrims += 1;
        } finally {
          await Promise.all([removeLake(lake), removeLake(reference)]);
        }
      }),
      {
        numRuns: NUM_RUNS,
        // Each run costs about a second of merges: bound the shrinking, which then reports the smallest failure found so far.
        interruptAfterTimeLimit: TIME_LIMIT_MS,
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
        ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
      },
    );
    // The generator must reach the interesting paths, or the property proves little (a replay runs one case only).
    if (!process.env.FC_PATH) {
      expect(compactionsThatRewrote).toBeGreaterThan(0);
      expect(supersedingRuns).toBeGreaterThan(0);
      expect(runsPastTrims).toBeGreaterThan(0);
    }
    process.stdout.write(
      `merge invariants: ${NUM_RUNS} runs in ${((Date.now() - started) / 1000).toFixed(1)} s (${compactionsThatRewrote} with compactions, ${supersedingRuns} with superseded rows, ${runsPastTrims} merging past click index trims)\n`,
    );
  }, TIME_LIMIT_MS + 60_000);
});

describe('deduplication across event partitions', () => {
  it('keeps only the first copy of a click_id even when a later copy carries another event hour', async () => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], restampedCopy('2021-07-12 04:10:00'));
      await lake.merge('2021-07-12T05');
      await lake.merge('2021-07-12T06');
      await checkCurated(lake, expectedWinners(raw));
    } finally {
      await removeLake(lake);
    }
  });

  it.each([
    ['the first copy was merged first', ['2021-07-12T05', '2021-07-12T06']],
    ['the later copy was merged first', ['2021-07-12T06', '2021-07-12T05']],
  ])('finds the copy in another event partition after the vacuum trimmed the click index (%s)', async (_, [first, second]) => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], restampedCopy('2021-07-01 04:10:00'));
      await lake.merge(first!);
      expect((await trimWholeClickIndex(lake, `${EXECUTION_PREFIX}v0`)).clickIndexHoursTrimmed).toBe(1);
      const result = await lake.merge(second!);
      expect(result.notes).toContainEqual(expect.stringMatching(new RegExp(`^the click index of arrival hour ${first} was trimmed: looked for copies in every event partition its entries could name \\(1 in all\\)$`)));
      await checkCurated(lake, expectedWinners(raw));
    } finally {
      await removeLake(lake);
    }
  });
});

/** Click `a` at 05:10 arriving in hour 05, and a copy the client re-stamped to `timestamp` (UTC) arriving in hour 06. */
function restampedCopy(timestamp: string): { item: RawItem; at: Placement }[] {
  const copy = (at: string, pixelId: string, hour: string) => ({
    item: { kind: 'valid' as const, clickId: 'a', eventMicros: Date.parse(`${at.replace(' ', 'T')}Z`) * 1000, userId: '35', eventName: 'Search', pixelId, text: JSON.stringify(click('a', at, { pixel_id: pixelId })) },
    at: { hour, object: 0, slot: 0, glue: false },
  });
  return [copy('2021-07-12 05:10:00', 'first', '2021-07-12T05'), copy(timestamp, 'second', '2021-07-12T06')];
}

/** A vacuum run a year from now with the shortest click index retention: it trims every index partition, and deletes the files it dropped. */
function trimWholeClickIndex(lake: Lake, executionId: string) {
  const aYearOn = new Date(Date.now() + 365 * 24 * 3_600_000);
  return runVacuum({ executionId }, { store: lake.store, catalog: lake.catalog }, { now: () => aYearOn, clickIndexRetentionHours: 72 });
}
