/**
 * Concurrent writers on the same partitions (issue 3, "Done when"): two runs touching the same
 * partitions either both succeed with exactly the right data, or one fails with CommitConflictError
 * and, rerun, leaves exactly the right data; never a lost or duplicated event.
 *
 * In process, each writer has its own catalog instance over the same directory, as separate processes
 * would. Two timings are used: a barrier that holds every writer at its first commit until all have
 * read and written (the worst overlap, on purpose), and random delays around catalog calls. The last
 * test runs the real CLI in two OS processes at once.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { FsCatalog } from '../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../tasks/adapters/local/fs-object-store';
import { runCompaction, type CompactionResult, type CompactionSettings } from '../../tasks/compact/run';
import { EVENTS_TABLE } from '../../tasks/curated/layout';
import { GeoLocator } from '../../tasks/enrich/geo';
import { DEFAULT_MERGE_SETTINGS, runMerge, type MergeResult } from '../../tasks/merge/run';
import type { Catalog, CatalogChange, CommitToken } from '../../tasks/ports/catalog';
import { click, createLake } from '../tasks/merge/lake-fixture';
import {
  checkAccounting,
  checkCurated,
  checkRejects,
  deliverAll,
  expectedWinners,
  removeLake,
  timestampMicros,
  type Lake,
  type Placement,
  type RawData,
  type RawItem,
} from '../properties/lake-model';

const H1 = '2021-07-12T05';
const H2 = '2021-07-12T06';
const H3 = '2021-07-12T07';
const EXECUTION_PREFIX = 'arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:';
const COMPACTION: CompactionSettings = { targetFileBytes: 4096, maxFiles: 2, smallFileBytes: 4096, minSmallFiles: 2 };

let geo: Promise<GeoLocator> | undefined;
const openGeo = () => (geo ??= GeoLocator.open());

/** A small deterministic PRNG (mulberry32): each round gets different event times from its seed. */
function prng(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function validItem(clickId: string, time: string, variant?: string): RawItem {
  const fields = variant === undefined ? {} : { pixel_id: variant, event_name: 'Retried' };
  return {
    kind: 'valid',
    clickId,
    eventMicros: timestampMicros(time),
    userId: '35',
    eventName: variant === undefined ? 'Search' : 'Retried',
    pixelId: variant ?? 'wjgao4w1oi',
    text: JSON.stringify(click(clickId, time, fields)),
  };
}

/**
 * Three arrival hours whose events overlap in event partitions hr=04..07: H1 has events of hr=04 and
 * hr=05; H2 has late events into those, copies of H1's events (exact and differing) and its own;
 * H3 has late events into hr=05/06, copies of H1's and H2's events, and its own. Some copies are
 * re-stamped into another event hour, so only the click index can tell they are copies.
 */
function roundData(seed: number, hours: readonly string[]): { item: RawItem; at: Placement }[] {
  const random = prng(seed);
  const time = (hour: string) => `2021-07-12 ${hour}:${String(random(60)).padStart(2, '0')}:${String(random(60)).padStart(2, '0')}`;
  const at = (hour: string, object: number, slot = random(10)): Placement => ({ hour, object, slot, glue: random(2) === 0 });
  const items: { item: RawItem; at: Placement }[] = [];
  const a = Array.from({ length: 8 }, (_, i) => validItem(`a${i}`, time(random(2) === 0 ? '04' : '05')));
  const b = Array.from({ length: 6 }, (_, i) => validItem(`b${i}`, time(['04', '05', '06'][random(3)]!)));
  const c = Array.from({ length: 4 }, (_, i) => validItem(`c${i}`, time(['05', '06', '07'][random(3)]!)));
  const variantOf = (item: RawItem, label: string) => {
    if (item.kind !== 'valid') throw new Error('not a valid item');
    return validItem(item.clickId, JSON.parse(item.text).timestamp as string, label);
  };
  // A retry the client re-stamped: the copy lands in another event partition than the first.
  const restampedOf = (item: RawItem, label: string, hour: string) => {
    if (item.kind !== 'valid') throw new Error('not a valid item');
    return validItem(item.clickId, time(hour), label);
  };
  if (hours.includes(H1)) {
    a.forEach((item, i) => items.push({ item, at: at(H1, i % 2) }));
    items.push({ item: a[0]!, at: at(H1, 1) });
    items.push({ item: { kind: 'bad', reason: 'malformed_json', text: '{"click_id": "cut', needsNewline: true }, at: at(H1, 0) });
  }
  if (hours.includes(H2)) {
    b.forEach((item, i) => items.push({ item, at: at(H2, i % 2) }));
    items.push({ item: a[1]!, at: at(H2, 0) });
    items.push({ item: variantOf(a[2]!, 'h2-variant'), at: at(H2, 1) });
    items.push({ item: variantOf(a[3]!, 'h2-variant'), at: at(H2, 0) });
    items.push({ item: restampedOf(a[6]!, 'h2-restamped', '07'), at: at(H2, 1) });
    items.push({ item: { kind: 'bad', reason: 'missing_field:event_name', text: JSON.stringify({ ...click('x', time('06')), event_name: null }), needsNewline: false }, at: at(H2, 1) });
  }
  if (hours.includes(H3)) {
    c.forEach((item, i) => items.push({ item, at: at(H3, i % 2) }));
    items.push({ item: a[4]!, at: at(H3, 0) });
    items.push({ item: variantOf(a[5]!, 'h3-variant'), at: at(H3, 1) });
    items.push({ item: variantOf(b[0]!, 'h3-variant'), at: at(H3, 0) });
    items.push({ item: b[1]!, at: at(H3, 1) });
    items.push({ item: restampedOf(a[7]!, 'h3-restamped', '06'), at: at(H3, 0) });
    items.push({ item: restampedOf(b[2]!, 'h3-restamped', '03'), at: at(H3, 1) });
  }
  return items;
}

/** A catalog of its own over the lake's directory: what a separate process would open. */
function separateCatalog(lake: Lake): { store: FsObjectStore; catalog: FsCatalog } {
  const store = new FsObjectStore(lake.root);
  return { store, catalog: new FsCatalog(store) };
}

/**
 * Holds each writer at its first commit until every writer got there (or finished without committing):
 * all of them read the lake before any of them changed it. Then it lets them commit together, or one
 * after another in `order`, each one once the previous one's commit returned or failed.
 */
class Barrier {
  private readonly arrived = new Set<number>();
  private readonly done = new Set<number>();
  private readonly gates: { promise: Promise<void>; release: () => void }[];

  constructor(
    private readonly parties: number,
    private readonly order?: readonly number[],
  ) {
    this.gates = Array.from({ length: parties }, () => {
      let release!: () => void;
      const promise = new Promise<void>((resolve) => (release = resolve));
      return { promise, release };
    });
  }

  /** Resolves when `party` may commit. */
  arrive(party: number): Promise<void> {
    this.arrived.add(party);
    if (this.arrived.size === this.parties) this.releaseNext();
    return this.gates[party]!.promise;
  }

  /** `party` committed (or failed, or finished without a commit). */
  finish(party: number): void {
    this.arrived.add(party);
    this.done.add(party);
    if (this.arrived.size === this.parties) this.releaseNext();
  }

  private releaseNext(): void {
    if (!this.order) {
      for (const gate of this.gates) gate.release();
      return;
    }
    const next = this.order.find((party) => !this.done.has(party));
    if (next !== undefined) this.gates[next]!.release();
  }
}

type Timing = { kind: 'barrier'; barrier: Barrier; party: number } | { kind: 'jitter'; random: (n: number) => number };

/** Wraps a catalog to impose a timing on one writer; `finish` must be called when the writer is done. */
function timed(inner: Catalog, timing: Timing): Catalog & { finish(): void } {
  let first = true;
  const finish = () => {
    first = false;
    if (timing.kind === 'barrier') timing.barrier.finish(timing.party);
  };
  const pause = () => (timing.kind === 'jitter' ? new Promise((resolve) => setTimeout(resolve, timing.random(25))) : Promise.resolve());
  return {
    finish,
    async snapshot() {
      await pause();
      return inner.snapshot();
    },
    async commit(base: number, token: CommitToken, changes: readonly CatalogChange[]) {
      if (timing.kind === 'barrier' && first) {
        first = false;
        await timing.barrier.arrive(timing.party);
        try {
          return await inner.commit(base, token, changes);
        } finally {
          timing.barrier.finish(timing.party);
        }
      }
      await pause();
      return inner.commit(base, token, changes);
    },
    async findCommit(token: CommitToken) {
      await pause();
      return inner.findCommit(token);
    },
    history: (after?: number) => inner.history(after),
    historyFrom: (instant: Date) => inner.historyFrom(instant),
  };
}

interface Writer {
  readonly label: string;
  /** Runs once with the timing imposed; `retry` runs it again plainly, as an operator would after a failure. */
  run(timing: Timing, loud: boolean): Promise<MergeResult | CompactionResult>;
  retry(): Promise<MergeResult | CompactionResult>;
}

let executions = 0;

function mergeWriter(lake: Lake, hour: string): Writer {
  return {
    label: `merge ${hour}`,
    async run(timing, loud) {
      const { store, catalog } = separateCatalog(lake);
      const gated = timed(catalog, timing);
      try {
        const settings = loud ? { ...DEFAULT_MERGE_SETTINGS, attempts: 1 } : DEFAULT_MERGE_SETTINGS;
        return await runMerge({ hour, executionId: `${EXECUTION_PREFIX}race-${++executions}` }, { store, catalog: gated, geo: openGeo }, settings);
      } finally {
        gated.finish();
      }
    },
    async retry() {
      const { store, catalog } = separateCatalog(lake);
      return runMerge({ hour, executionId: `${EXECUTION_PREFIX}rerun-${++executions}` }, { store, catalog, geo: openGeo });
    },
  };
}

function compactionWriter(lake: Lake, hour: string): Writer {
  const partitions = async (catalog: Catalog) => Object.keys((await catalog.snapshot()).tables[EVENTS_TABLE]?.partitions ?? {});
  return {
    label: `compaction`,
    async run(timing, loud) {
      const { store, catalog } = separateCatalog(lake);
      const gated = timed(catalog, timing);
      try {
        const settings = loud ? { ...COMPACTION, rebaseAttempts: 0, commitAttempts: 1 } : COMPACTION;
        return await runCompaction({ executionId: `${EXECUTION_PREFIX}race-${++executions}`, hour, partitions: await partitions(catalog) }, { store, catalog: gated }, settings);
      } finally {
        gated.finish();
      }
    },
    async retry() {
      const { store, catalog } = separateCatalog(lake);
      return runCompaction({ executionId: `${EXECUTION_PREFIX}rerun-${++executions}`, hour, partitions: await partitions(catalog) }, { store, catalog }, COMPACTION);
    },
  };
}

/**
 * How the writers of a round meet: `together` holds both at their first commit and lets them race for
 * it; `first-commits-first` / `second-commits-first` let one commit strictly before the other (both
 * having read the lake already); `jitter` adds random delays around catalog calls; `loud` is
 * `together` with no retry inside the writers, so the loser must fail with CommitConflictError.
 */
type Mode = 'together' | 'first-commits-first' | 'second-commits-first' | 'jitter' | 'loud';

interface RaceOutcome {
  readonly conflicts: string[];
  readonly results: (MergeResult | CompactionResult)[];
}

/**
 * Runs the writers at once. Each either succeeds or fails with CommitConflictError (anything else
 * fails the test); the ones that failed are then rerun, one after another, and must succeed.
 */
async function race(writers: readonly Writer[], mode: Mode, seed: number): Promise<RaceOutcome> {
  const order = mode === 'first-commits-first' ? [0, 1] : mode === 'second-commits-first' ? [1, 0] : undefined;
  const barrier = new Barrier(writers.length, order);
  const random = prng(seed * 7919);
  const settled = await Promise.allSettled(
    writers.map((writer, party) => writer.run(mode === 'jitter' ? { kind: 'jitter', random } : { kind: 'barrier', barrier, party }, mode === 'loud')),
  );
  const conflicts: string[] = [];
  const results: (MergeResult | CompactionResult)[] = [];
  for (const [index, outcome] of settled.entries()) {
    const writer = writers[index]!;
    if (outcome.status === 'fulfilled') {
      results.push(outcome.value);
      continue;
    }
    const error = outcome.reason as Error;
    if (error?.name !== 'CommitConflictError') throw new Error(`${writer.label} failed with ${error?.name}, not a CommitConflictError: ${error?.message}`, { cause: error });
    // A clear error: it names the hour or the partition it lost on.
    expect(error.message).toMatch(/2021-07-12/);
    conflicts.push(writer.label);
    results.push(await writer.retry());
  }
  return { conflicts, results };
}

function isMerge(result: MergeResult | CompactionResult): result is MergeResult {
  return 'accepted' in result;
}

/** Exactly the right data: each event once, earliest copy, right partition, sorted; every record accounted for. */
async function checkLake(lake: Lake, raw: RawData, results: readonly MergeResult[]): Promise<void> {
  const files = await checkCurated(lake, expectedWinners(raw));
  await checkRejects(lake, raw);
  checkAccounting(
    results,
    raw,
    files.reduce((sum, file) => sum + file.rows.length, 0),
  );
}

/**
 * Each scenario is played with every timing; random delays with several seeds (the seed also varies
 * the event times). CONCURRENCY_SEEDS=1,2,3,... plays every timing with each seed.
 */
const SEEDS = (process.env.CONCURRENCY_SEEDS ?? '').split(',').filter(Boolean).map(Number);
const ROUNDS: (readonly [number, Mode])[] =
  SEEDS.length > 0
    ? SEEDS.flatMap((seed) => (['together', 'first-commits-first', 'second-commits-first', 'jitter', 'loud'] as const).map((mode) => [seed, mode] as const))
    : [
        [1, 'together'],
        [1, 'first-commits-first'],
        [1, 'second-commits-first'],
        [1, 'loud'],
        [2, 'jitter'],
        [3, 'jitter'],
      ];

describe('concurrent merges of different arrival hours into the same event partitions', () => {
  const outcomes: string[] = [];
  afterAll(() => process.stdout.write(`merge vs merge outcomes:\n  ${outcomes.join('\n  ')}\n`));

  it.each(ROUNDS)('two first runs (seed %i, %s): both succeed or one conflicts, and the data is exact', async (seed, mode) => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], roundData(seed, [H1, H2]));
      const { conflicts, results } = await race([mergeWriter(lake, H1), mergeWriter(lake, H2)], mode, seed);
      outcomes.push(`first runs, seed ${seed}, ${mode}: ${conflicts.length === 0 ? 'both succeeded' : `conflict in ${conflicts.join(', ')}, rerun`}`);
      // Held at the commit, each merge read the lake before the other wrote: the second to commit
      // must notice that its deduplication is stale; allowed no retry, it must fail loudly.
      if (mode === 'loud') expect(conflicts).toHaveLength(1);
      await checkLake(lake, raw, results.filter(isMerge));
    } finally {
      await removeLake(lake);
    }
  });

  it.each(ROUNDS)('an out-of-order backfill racing a later hour (seed %i, %s): earlier copies still win, nothing lost or doubled', async (seed, mode) => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], roundData(seed, [H1, H2, H3]));
      const first = await lake.merge(H2);
      const { conflicts, results } = await race([mergeWriter(lake, H1), mergeWriter(lake, H3)], mode, seed);
      outcomes.push(`backfill, seed ${seed}, ${mode}: ${conflicts.length === 0 ? 'both succeeded' : `conflict in ${conflicts.join(', ')}, rerun`}`);
      const merges = results.filter(isMerge);
      expect(merges.reduce((sum, result) => sum + result.supersededRows, 0)).toBeGreaterThan(0);
      await checkLake(lake, raw, [first, ...merges]);
    } finally {
      await removeLake(lake);
    }
  });
});

describe('a copy re-stamped into another event partition, merged at the same time as its first copy', () => {
  it.each(ROUNDS)('seed %i, %s: only the click index links the two merges, and the earlier copy wins', async (seed, mode) => {
    const lake = createLake();
    try {
      const random = prng(seed);
      const time = (hour: string) => `2021-07-12 ${hour}:${String(random(60)).padStart(2, '0')}:${String(random(60)).padStart(2, '0')}`;
      const first = validItem('x', time('04'));
      const raw = await deliverAll(
        [lake],
        [
          { item: first, at: { hour: H1, object: 0, slot: 0, glue: false } },
          { item: validItem('x', time('06'), 'restamped'), at: { hour: H2, object: 0, slot: 0, glue: false } },
          { item: validItem('y', time('06')), at: { hour: H2, object: 0, slot: 1, glue: false } },
        ],
      );
      const { conflicts, results } = await race([mergeWriter(lake, H1), mergeWriter(lake, H2)], mode, seed);
      // The merges share no event partition: the second to commit can learn of the first's copy only from the index.
      if (mode === 'loud') expect(conflicts).toHaveLength(1);
      await checkLake(lake, raw, results.filter(isMerge));
    } finally {
      await removeLake(lake);
    }
  });
});

describe('the same arrival hour run twice at once (a rerun racing the first run)', () => {
  it.each(ROUNDS)('seed %i, %s: every raw object is merged once, the data is exact', async (seed, mode) => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], roundData(seed, [H1, H2]));
      const first = await lake.merge(H1);
      const { results } = await race([mergeWriter(lake, H2), mergeWriter(lake, H2)], mode, seed);
      const merges = results.filter(isMerge);
      // One of them merged the hour's objects; the other found them in the ledger.
      expect(merges.map((result) => result.objects).sort()).toEqual([0, raw.objects - first.objects]);
      await checkLake(lake, raw, [first, ...merges]);
    } finally {
      await removeLake(lake);
    }
  });
});

describe('two compactions of the same partitions at once', () => {
  it.each(ROUNDS)('seed %i, %s: the later one rebases or fails loudly; rows exact', async (seed, mode) => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], roundData(seed, [H1, H2, H3]));
      const merges = [await lake.merge(H1), await lake.merge(H2), await lake.merge(H3)];
      const { results } = await race([compactionWriter(lake, H3), compactionWriter(lake, H3)], mode, seed);
      expect(results.some((result) => !isMerge(result) && result.partitionsCompacted > 0)).toBe(true);
      await checkLake(lake, raw, merges);
    } finally {
      await removeLake(lake);
    }
  });
});

describe('a merge racing a compaction of the same partitions', () => {
  const outcomes: string[] = [];
  afterAll(() => process.stdout.write(`merge vs compaction outcomes:\n  ${outcomes.join('\n  ')}\n`));

  it.each(ROUNDS)('a late-event append (seed %i, %s): the compaction rebases or the merge re-validates; rows exact', async (seed, mode) => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], roundData(seed, [H1, H2, H3]));
      const before = [await lake.merge(H1), await lake.merge(H2)];
      const { conflicts, results } = await race([mergeWriter(lake, H3), compactionWriter(lake, H3)], mode, seed);
      const compaction = results.find((result) => !isMerge(result)) as CompactionResult;
      outcomes.push(`append, seed ${seed}, ${mode}: ${conflicts.length === 0 ? 'both succeeded' : `conflict in ${conflicts.join(', ')}, rerun`}; ${compaction.partitionsCompacted} partitions compacted`);
      expect(compaction.partitionsCompacted).toBeGreaterThan(0);
      await checkLake(lake, raw, [...before, ...results.filter(isMerge)]);
    } finally {
      await removeLake(lake);
    }
  });

  it.each(ROUNDS)('a backfill that rewrites files the compaction reads (seed %i, %s): rows exact', async (seed, mode) => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], roundData(seed, [H1, H2, H3]));
      const before = [await lake.merge(H2), await lake.merge(H3)];
      const { conflicts, results } = await race([mergeWriter(lake, H1), compactionWriter(lake, H3)], mode, seed);
      const compaction = results.find((result) => !isMerge(result)) as CompactionResult;
      outcomes.push(`rewrite, seed ${seed}, ${mode}: ${conflicts.length === 0 ? 'both succeeded' : `conflict in ${conflicts.join(', ')}, rerun`}; ${compaction.partitionsCompacted} partitions compacted`);
      const merges = results.filter(isMerge);
      expect(merges.reduce((sum, result) => sum + result.supersededRows, 0)).toBeGreaterThan(0);
      await checkLake(lake, raw, [...before, ...merges]);
    } finally {
      await removeLake(lake);
    }
  });
});

describe('two `lakehouse run` processes at once', () => {
  const BIN = path.resolve(__dirname, '../../bin/lakehouse.js');

  function runCli(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  }

  it('runs H1 and H2 (with late events into H1 partitions) in two OS processes; every valid click_id ends up exactly once', async () => {
    const lake = createLake();
    try {
      const raw = await deliverAll([lake], roundData(42, [H1, H2]));
      const started = Date.now();
      const runs = await Promise.all([H1, H2].map((hour) => runCli(['run', '--lake', lake.root, '--hour', hour])));
      const outcomes: string[] = [];
      for (const [index, run] of runs.entries()) {
        const hour = [H1, H2][index]!;
        if (run.status === 0) {
          outcomes.push(`${hour}: succeeded`);
          continue;
        }
        // The only acceptable failure is a loud conflict; rerun it and it must succeed.
        expect(`${run.stdout}\n${run.stderr}`).toMatch(/CommitConflictError/);
        const rerun = await runCli(['run', '--lake', lake.root, '--hour', hour]);
        expect({ status: rerun.status, stderr: rerun.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
        outcomes.push(`${hour}: conflict, rerun succeeded`);
      }
      process.stdout.write(`two processes: ${outcomes.join('; ')} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

      const files = await checkCurated(lake, expectedWinners(raw));
      await checkRejects(lake, raw);
      const winners = expectedWinners(raw);
      expect(files.flatMap((file) => file.rows.map((row) => row.click_id as string)).sort()).toEqual([...winners.keys()].sort());
    } finally {
      await removeLake(lake);
    }
  });
});
