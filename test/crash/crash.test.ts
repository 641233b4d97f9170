/**
 * Crash test (issue 3, DESIGN.md "Commits"): the real hourly workflow (`lakehouse run`, crawl → merge →
 * compact → vacuum) runs as a child process and is killed with a real SIGKILL at many points of merge
 * and compaction; then the hour is run once more, which must complete. Afterwards the lake must hold exactly
 * what a lake that never crashed holds (nothing lost, nothing duplicated), a reader taking snapshots all
 * along must never have seen a partition half written, and the catalog must fold and vacuum cleanly.
 *
 * Kill points are aimed with the execution record the runner keeps under `_executions/`: "x % into the
 * MergeLateEvents state" is measured from the moment the record shows the state entered, x % of that
 * state's duration in a reference run. A kill after the merge commit leaves nothing for the next run of
 * that hour to merge or compact, so every compacting hour is also forked (the lake copied just before
 * the hour) to kill its compaction at several more points.
 *
 * The children run the TypeScript sources through tsx: a production file edited while this test runs
 * is picked up by the next child. Set KEEP_CRASH_LAKES=1 to keep the lakes for inspection.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDbQueryEngine } from '../../tasks/adapters/local/duckdb-query-engine';
import { needsCompaction } from '../../tasks/compact/run';
import { CURATED_PREFIX, EVENTS_TABLE, REJECTS_PREFIX } from '../../tasks/curated/layout';
import {
  checkSnapshotAsReader,
  contentDifferences,
  filesUnder,
  killLeftoverChildren,
  lakeContent,
  openCatalog,
  ReaderLoop,
  runLakehouse,
  stepsCommittedBy,
  type ChildOutcome,
  type HourlyState,
  type KillTarget,
  type LakeContent,
} from './harness';

const HOURS = ['2021-07-12T00', '2021-07-12T01', '2021-07-12T02', '2021-07-12T03'] as const;
const GENERATE_TO = '2021-07-12T04';
/** About 5,000 events an arrival hour: a merge takes a few hundred ms, and late deltas make partitions compact from the third hour. */
const RATE = '2';

/**
 * Kills on the main crash lake, per hour, in order; each attempt after a kill restarts the hour. Kills
 * that may land after the merge commit come last in their hour: after it, a rerun has nothing to merge.
 */
const MAIN_PLAN: readonly (readonly KillTarget[])[] = [
  [spawnAt(0.3), at('CrawlRawHour', 0.5), at('MergeLateEvents', 0.3), at('MergeLateEvents', 0.8)],
  [at('MergeLateEvents', 0.1), at('MergeLateEvents', 0.6), at('MergeLateEvents', 0.95)],
  [at('MergeLateEvents', 0.5), at('CompactPartitions', 0.25)],
  [spawnAt(0.5), at('MergeLateEvents', 0.85), at('CompactPartitions', 0.9)],
];
/** Further compaction kill points of each compacting hour (by position among the compacting hours), each on its own copy of the lake. */
const FORK_COMPACTION_FRACTIONS: readonly (readonly number[])[] = [
  [0.05, 0.5],
  [0.1, 0.6],
];

const COMPACTION_DEFAULTS = { maxFiles: 4, smallFileBytes: 32 * 1024 * 1024, minSmallFiles: 3 };

interface ReferenceHour {
  readonly wallMs: number;
  /** From the spawn to the end of CompactPartitions: the part of the run this test kills (the steps after it do not commit to the catalog). */
  readonly untilCompactedMs: number;
  readonly stateMs: Readonly<Record<string, number>>;
  readonly partitionsCompacted: number;
  readonly content: LakeContent;
}

interface KillReport {
  readonly lake: string;
  readonly hour: string;
  readonly command: string;
  readonly target: string;
  readonly killed: boolean;
  readonly killedAfterMs: number | undefined;
  /** The state the killed execution's record shows running (or last exited) when it died. */
  readonly landedIn: string;
  /** The commits the killed execution made before it died. */
  readonly committed: readonly string[];
}

let root: string;
let engine: DuckDbQueryEngine;
const reader = new ReaderLoop(200);
const reference = new Map<string, ReferenceHour>();
const kills: KillReport[] = [];
const completions: { lake: string; hour: string; command: string; elapsedMs: number; partitionsCompacted: number }[] = [];
const failures: string[] = [];
const timings: Record<string, number> = {};
let mainLake: string;

function at(state: HourlyState, fraction: number): KillTarget {
  return { at: state, fraction };
}

function spawnAt(fraction: number): KillTarget {
  return { at: 'spawn', fraction };
}

function describeTarget(target: KillTarget): string {
  return `${Math.round(target.fraction * 100)}% of ${target.at}`;
}

function runArgs(lake: string, hour: string, rerunOf: string | undefined): string[] {
  return rerunOf === undefined ? ['run', '--lake', lake, '--hour', hour] : ['rerun', rerunOf, '--lake', lake];
}

function commandOf(outcome: ChildOutcome): string {
  return outcome.args[0] === 'rerun' ? `rerun ${String(outcome.args[1]).slice(-8)}` : 'run';
}

function expectSucceeded(outcome: ChildOutcome, what: string): void {
  if (outcome.code !== 0) {
    throw new Error(`${what}: lakehouse ${outcome.args.join(' ')} exited with ${outcome.code ?? outcome.signal}\n${outcome.stdout}\n${outcome.stderr}`);
  }
}

/** The state the record shows running when the process died, else the last one it finished. */
function landedIn(outcome: ChildOutcome): string {
  const states = outcome.record?.states ?? [];
  if (outcome.record === undefined) return 'start-up (no execution yet)';
  const running = [...states].reverse().find((state) => state.status === 'RUNNING');
  if (running) return running.name;
  const last = states.at(-1);
  return last ? `after ${last.name}` : 'execution created';
}

/** Windows (ms) the kill fractions refer to, from the reference run of the hour. */
function windowOf(hour: string, target: KillTarget): number {
  const ref = reference.get(hour)!;
  if (target.at === 'spawn') return ref.untilCompactedMs;
  return Math.max(ref.stateMs[target.at] ?? 0, 20);
}

/**
 * Runs `hour` on `lake`: one attempt per kill target, each SIGKILLed at its point, then one more
 * attempt without a kill, which must complete. Attempts alternate `run` and `rerun <the killed execution>`.
 * An attempt that ends before its kill point is recorded as not killed (it must then have succeeded).
 */
async function crashHour(label: string, lake: string, hour: string, targets: readonly KillTarget[]): Promise<void> {
  let previous: string | undefined;
  let attempt = 0;
  const rerunOf = () => (attempt % 2 === 1 ? previous : undefined);
  for (const target of targets) {
    const outcome = await runLakehouse(lake, runArgs(lake, hour, rerunOf()), { target, windowMs: windowOf(hour, target) });
    const history = await openCatalog(lake).catalog.history();
    kills.push({
      lake: label,
      hour,
      command: commandOf(outcome),
      target: describeTarget(target),
      killed: outcome.signal === 'SIGKILL',
      killedAfterMs: outcome.killedAfterMs,
      landedIn: outcome.signal === 'SIGKILL' ? landedIn(outcome) : `not killed: finished first (exit ${outcome.code})`,
      committed: stepsCommittedBy(history, outcome.record?.executionArn),
    });
    if (outcome.signal !== 'SIGKILL') expectSucceeded(outcome, `${label} ${hour}, attempt aimed at ${describeTarget(target)}`);
    previous = outcome.record?.id ?? previous;
    attempt += 1;
  }
  // The next run completes.
  const outcome = await runLakehouse(lake, runArgs(lake, hour, rerunOf()));
  expectSucceeded(outcome, `${label} ${hour}: the run after the crashes`);
  const output = outcome.record?.output as { compact?: { partitionsCompacted?: number } } | undefined;
  completions.push({ lake: label, hour, command: commandOf(outcome), elapsedMs: outcome.elapsedMs, partitionsCompacted: output?.compact?.partitionsCompacted ?? 0 });
}

async function compareWithReference(label: string, lake: string, hour: string): Promise<void> {
  const differences = contentDifferences(await lakeContent(engine, lake), reference.get(hour)!.content);
  for (const difference of differences) failures.push(`${label} after ${hour}: ${difference}`);
}

/** The catalog of `lake` folds from scratch, its commits are contiguous, and a reader finds the snapshot whole. */
async function checkCatalogFolds(label: string, lake: string): Promise<void> {
  const { catalog } = openCatalog(lake);
  try {
    const snapshot = await catalog.snapshot();
    const history = await catalog.history();
    const versions = history.map((commit) => commit.version);
    if (versions.some((version, index) => version !== index + 1) || versions.at(-1) !== snapshot.version) {
      failures.push(`${label}: commit versions are not contiguous up to ${snapshot.version}: ${versions.join(',')}`);
    }
  } catch (error) {
    failures.push(`${label}: the catalog does not fold: ${(error as Error).name}: ${(error as Error).message}`);
  }
  const check = await checkSnapshotAsReader(engine, lake);
  for (const problem of check.problems) failures.push(`${label} final snapshot: ${problem}`);
}

/** What the crashes left behind that no reader sees: scratch files, and partitions left past the compaction threshold. */
async function leftovers(lake: string): Promise<string> {
  const tmp = await filesUnder(path.join(lake, '.tmp'));
  let bytes = 0;
  for (const file of tmp) bytes += (await fs.stat(path.join(lake, '.tmp', file))).size;
  const kinds = [...new Set(tmp.map((file) => file.split('/')[0]!.replace(/[0-9a-f]{8}-[0-9a-f-]{27}.*/, '<uuid>')))];
  const snapshot = await openCatalog(lake).catalog.snapshot();
  const uncompacted = Object.entries(snapshot.tables[EVENTS_TABLE]?.partitions ?? {}).filter(([, state]) => needsCompaction(state, COMPACTION_DEFAULTS));
  return `${tmp.length} files (${bytes} bytes) left in .tmp (${kinds.join(', ')}); ${uncompacted.length} partitions past the compaction threshold${uncompacted.length > 0 ? ` (${uncompacted.map(([partition, state]) => `${partition}: ${state.files.length} files`).join(', ')})` : ''}`;
}

beforeAll(async () => {
  const started = Date.now();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'lakehouse-crash-'));
  engine = await DuckDbQueryEngine.open({ threads: 1, memoryLimit: '2GB' });
  const template = path.join(root, 'template');
  const generated = await runLakehouse(root, ['generate', '--lake', template, '--from', HOURS[0], '--to', GENERATE_TO, '--rate', RATE]);
  expectSucceeded(generated, 'generating the raw data');

  // The reference: the same raw data, hours run in order, never killed.
  const referenceLake = path.join(root, 'reference');
  await fs.cp(template, referenceLake, { recursive: true });
  for (const hour of HOURS) {
    const spawned = Date.now();
    const outcome = await runLakehouse(referenceLake, runArgs(referenceLake, hour, undefined));
    expectSucceeded(outcome, `reference ${hour}`);
    const compacted = outcome.record?.states.find((state) => state.name === 'CompactPartitions')?.exitedAt;
    const stateMs = Object.fromEntries((outcome.record?.states ?? []).map((state) => [state.name, state.durationMs ?? 0]));
    const output = outcome.record?.output as { compact?: { partitionsCompacted?: number } } | undefined;
    reference.set(hour, {
      wallMs: outcome.elapsedMs,
      untilCompactedMs: compacted === undefined ? outcome.elapsedMs : Date.parse(compacted) - spawned,
      stateMs,
      partitionsCompacted: output?.compact?.partitionsCompacted ?? 0,
      content: await lakeContent(engine, referenceLake),
    });
  }
  mainLake = path.join(root, 'crash');
  await fs.cp(template, mainLake, { recursive: true });
  timings.referenceMs = Date.now() - started;
}, 180_000);

afterAll(async () => {
  killLeftoverChildren();
  await reader.stop();
  await engine?.close();
  const table = kills.map(
    (kill) =>
      `  ${kill.lake.padEnd(12)} ${kill.hour}  ${kill.command.padEnd(14)} ${kill.target.padEnd(26)} ${kill.killed ? `killed at ${String(kill.killedAfterMs).padStart(4)} ms` : 'NOT KILLED       '}  in ${kill.landedIn.padEnd(24)} committed: ${kill.committed.join('+') || '-'}`,
  );
  const refs = [...reference].map(([hour, ref]) => `  ${hour}: ${ref.wallMs} ms, compacted after ${ref.untilCompactedMs} ms (merge ${ref.stateMs.MergeLateEvents} ms, compaction ${ref.stateMs.CompactPartitions} ms, ${ref.partitionsCompacted} partitions compacted), ${ref.content.events.length} events`);
  const done = completions.map((run) => `  ${run.lake.padEnd(12)} ${run.hour}  ${run.command.padEnd(14)} completed in ${run.elapsedMs} ms, compacted ${run.partitionsCompacted} partitions`);
  const versions = new Set(reader.checks.map((check) => `${check.lake}@${check.version}`));
  console.log(
    [
      `crash test: ${kills.filter((kill) => kill.killed).length} SIGKILLs at ${kills.length} aimed points; timings ${JSON.stringify(timings)}`,
      'reference runs:',
      ...refs,
      'kills:',
      ...table,
      'runs after the crashes:',
      ...done,
      `reader: ${reader.checks.length} snapshot checks over ${versions.size} distinct (lake, version) pairs, ${reader.checks.filter((check) => check.problems.length > 0).length} with problems`,
      ...Object.entries(observations).map(([key, value]) => `${key}: ${value}`),
    ].join('\n'),
  );
  if (process.env.KEEP_CRASH_LAKES) console.log(`lakes kept under ${root}`);
  else if (root) await fs.rm(root, { recursive: true, force: true });
});

const observations: Record<string, string> = {};

describe('a lake whose hourly runs are SIGKILLed during merge and compaction', () => {
  test('converges, after each hour, to exactly the content of a lake that never crashed', async () => {
    const started = Date.now();
    const compacting = HOURS.filter((hour) => reference.get(hour)!.partitionsCompacted > 0);
    // The data must exercise compaction, or the compaction kill points test nothing.
    expect(compacting.length).toBeGreaterThanOrEqual(2);
    await reader.start();
    try {
      for (const [index, hour] of HOURS.entries()) {
        const compacts = compacting.includes(hour);
        const plan = MAIN_PLAN[index]!.filter((target) => compacts || target.at !== 'CompactPartitions');
        const forks: { label: string; lake: string; fraction: number }[] = [];
        if (compacts) {
          for (const fraction of FORK_COMPACTION_FRACTIONS[compacting.indexOf(hour)] ?? []) {
            const label = `fork-${hour.slice(-2)}-${Math.round(fraction * 100)}`;
            const lake = path.join(root, label);
            await fs.cp(mainLake, lake, { recursive: true });
            forks.push({ label, lake, fraction });
          }
        }
        await reader.readFrom(mainLake);
        await crashHour('crash', mainLake, hour, plan);
        await compareWithReference('crash', mainLake, hour);
        for (const fork of forks) {
          await reader.readFrom(fork.lake);
          try {
            await crashHour(fork.label, fork.lake, hour, [at('CompactPartitions', fork.fraction)]);
          } catch (error) {
            // A fork ends with its hour: record the failure and go on with the other kill points.
            failures.push((error as Error).message);
            continue;
          }
          await compareWithReference(fork.label, fork.lake, hour);
          await checkCatalogFolds(fork.label, fork.lake);
          observations[`${fork.label}`] = await leftovers(fork.lake);
          await reader.readFrom(mainLake);
          await fs.rm(fork.lake, { recursive: true, force: true });
        }
      }
    } finally {
      await reader.stop();
    }
    timings.crashMs = Date.now() - started;

    expect(failures).toEqual([]);
    // Coverage: the kills really happened, and in the phases the test is about.
    const killed = kills.filter((kill) => kill.killed);
    expect(killed.length).toBeGreaterThanOrEqual(13);
    expect(killed.filter((kill) => kill.landedIn === 'MergeLateEvents' && !kill.committed.includes('merge')).length).toBeGreaterThanOrEqual(4);
    const inCompaction = killed.filter((kill) => kill.landedIn === 'CompactPartitions');
    expect(inCompaction.length).toBeGreaterThanOrEqual(4);
    expect(inCompaction.filter((kill) => !kill.committed.includes('compact')).length).toBeGreaterThanOrEqual(3);
  }, 300_000);

  test('readers taking snapshots throughout never saw a missing, short or half-committed partition, nor a duplicate', () => {
    const bad = reader.checks.filter((check) => check.problems.length > 0);
    expect(bad.map((check) => `${path.basename(check.lake)}@v${check.version}: ${check.problems.join('; ')}`)).toEqual([]);
    expect(reader.checks.length).toBeGreaterThanOrEqual(20);
    // The readers saw the lakes change under them, not just one state.
    expect(new Set(reader.checks.map((check) => `${check.lake}@${check.version}`)).size).toBeGreaterThanOrEqual(10);
  });

  test('afterwards the catalog folds cleanly, vacuum runs and removes only the crashed writers\' orphans', async () => {
    failures.length = 0;
    await checkCatalogFolds('crash', mainLake);
    expect(failures).toEqual([]);

    const { store, catalog } = openCatalog(mainLake);
    const named = new Set<string>();
    for (const commit of await catalog.history()) {
      for (const change of commit.changes) if (change.kind === 'putPartition') for (const file of change.files) named.add(file.key);
    }
    const written = [...(await filesUnder(path.join(mainLake, CURATED_PREFIX))).map((file) => `${CURATED_PREFIX}${file}`), ...(await filesUnder(path.join(mainLake, REJECTS_PREFIX))).map((file) => `${REJECTS_PREFIX}${file}`)];
    const orphans = written.filter((key) => !named.has(key));
    observations['crash lake: orphan data files of killed writers'] = String(orphans.length);
    observations['crash lake'] = await leftovers(mainLake);
    observations['reference lake'] = await leftovers(path.join(root, 'reference'));

    // Time passes beyond the retention for the files the killed runs left behind; then vacuum.
    const longAgo = new Date(Date.now() - 3 * 3_600_000);
    for (const key of orphans) await fs.utimes(store.locate(key), longAgo, longAgo);
    const vacuum = await runLakehouse(mainLake, ['vacuum', '--lake', mainLake, '--retention-hours', '2']);
    expectSucceeded(vacuum, 'vacuum after the crashes');
    expect(vacuum.stdout).toContain(`vacuum: deleted ${orphans.length} ${orphans.length === 1 ? 'file' : 'files'}`);
    for (const key of orphans) await expect(fs.access(store.locate(key))).rejects.toThrow();

    // Vacuum deleted nothing anyone can read: the content is still exactly the reference's.
    await checkCatalogFolds('crash after vacuum', mainLake);
    await compareWithReference('crash after vacuum', mainLake, HOURS.at(-1)!);
    expect(failures).toEqual([]);
  }, 60_000);
});
