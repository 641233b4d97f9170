/**
 * `npm run bench`: the benchmark of issue 3 (not a timed test; nothing here asserts a time).
 *
 * 1. Generates two lakes of one arrival hour with the same seed, at the seed article's 1,000 on-time events
 *    a second (3.6 M events) unless told otherwise: one with 2 % late sessions whose events go back up to
 *    48 hours, one with none; the other faults (duplicates, malformed records, …) at the generator's defaults.
 * 2. Runs each measured job alone in a child process, which reports its wall time and its own peak RSS:
 *    the hourly workflow on each lake, a plain DuckDB read_json → dedup → sort → COPY … PARTITION_BY
 *    of the late lake (see baseline.ts for what that baseline leaves out), and, on each lake, the aggregate
 *    step's (query, period) jobs again over the raw JSON objects (see raw-json-aggregate-engine.ts).
 * 3. Prints the jobs, the targets (hourly ≤ 1.5× the baseline's time, late ≤ 1.2× no-late, peak < 3 GiB) with
 *    PASS or MISS, the hourly runs' per-state times, so that the bottleneck is visible, and the aggregate
 *    step's time against the raw-JSON suite's, the gain of the curated layout.
 *
 * Options: see options.ts (`npm run bench -- --help`). A quick check: `npm run bench -- --events 200000`.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateTraffic, type GenerationReport } from '../generator/generate';
import { createLocalPorts } from '../tasks/runtime/local-ports';
import { readWorkflowDescriptor } from '../tasks/runtime/workflow-definitions';
import { addHours } from '../tasks/shared/hours';
import { count, mib, percent, ratio, seconds, table } from './format';
import type { StateTiming } from './jobs';
import { OptionsError, parseOptions, USAGE, type BenchOptions } from './options';
import { generatorRateFor, hourlyCurveFactor } from './sizing';
import { spawnJob, type SpawnedMeasurement } from './spawn-job';

const TARGETS = {
  /** The full hourly run against the plain DuckDB baseline, time. */
  hourlyVsBaseline: 1.5,
  /** A run with late events against one without, time. */
  lateVsNoLate: 1.2,
  /** Peak memory of an hourly run. */
  peakMiB: 3 * 1024,
};

interface Lake {
  readonly name: string;
  readonly dir: string;
  readonly late: number;
  generation?: GenerationReport;
  generationMs?: number;
  rawBytes?: number;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const ownRoot = options.dir === undefined;
  const root = options.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'lakehouse-bench-')));
  await fs.mkdir(root, { recursive: true });
  const lakes: Lake[] = [
    { name: 'late', dir: path.join(root, 'lake-late'), late: options.late },
    { name: 'no-late', dir: path.join(root, 'lake-no-late'), late: 0 },
  ];
  const baselineOut = path.join(root, 'baseline-out');
  const rawSuiteOut = (lake: Lake) => path.join(root, `raw-aggregates-${lake.name}`);
  const workDirs = [...lakes.map((lake) => lake.dir), baselineOut, ...lakes.map(rawSuiteOut)];
  for (const dir of workDirs) {
    if ((await fs.readdir(dir).catch(() => [])).length > 0) throw new OptionsError(`${dir} is not empty: give an empty or new --dir`);
  }

  const rate = generatorRateFor(options.hour, options.eventsPerSecond);
  printHeader(options, root, rate);
  try {
    for (const lake of lakes) await generate(lake, options, rate);
    printGeneration(lakes);

    const [late, noLate] = lakes as [Lake, Lake];
    const nodeFlags = (name: string) => (options.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.resolve(options.cpuProfDir)}`, `--cpu-prof-name=${name}.cpuprofile`]);
    // Every round starts from the generated lakes: the hourly runs of the rounds before the last run on
    // copies, and the baseline writes into a directory of its own each round.
    const jobs: { label: string; lake: Lake; run: (round: number) => Promise<SpawnedMeasurement> }[] = [
      {
        label: `hourly, ${percentOf(late.late)} late`,
        lake: late,
        run: (round) => inRound(late.dir, round, options.runs, { copy: true }, (dir) => spawnJob('hourly', { lake: dir, hour: options.hour }, { nodeFlags: nodeFlags(`hourly-late-${round}`) })),
      },
      {
        label: 'hourly, no late',
        lake: noLate,
        run: (round) => inRound(noLate.dir, round, options.runs, { copy: true }, (dir) => spawnJob('hourly', { lake: dir, hour: options.hour }, { nodeFlags: nodeFlags(`hourly-no-late-${round}`) })),
      },
      {
        label: `duckdb baseline, ${percentOf(late.late)} late`,
        lake: late,
        run: (round) => inRound(baselineOut, round, options.runs, { copy: false }, (out) => spawnJob('duckdb-baseline', { lake: late.dir, out })),
      },
    ];
    const rounds: SpawnedMeasurement[][] = jobs.map(() => []);
    for (let round = 1; round <= options.runs; round++) {
      for (const [i, job] of jobs.entries()) {
        const label = options.runs === 1 ? job.label : `${job.label}, round ${round} of ${options.runs}`;
        rounds[i]!.push(await measure(label, () => job.run(round)));
      }
    }
    const results = rounds.map(medianRound);
    const [hourlyLate, hourlyNoLate, baseline] = results as [SpawnedMeasurement, SpawnedMeasurement, SpawnedMeasurement];
    const [lateRounds, noLateRounds] = rounds as [SpawnedMeasurement[], SpawnedMeasurement[]];
    const aggregateSuites: AggregateSuite[] = [];
    for (const [label, lake, hourly] of [[`${percentOf(late.late)} late`, late, hourlyLate], ['no late', noLate, hourlyNoLate]] as const) {
      // The aggregate step's input in this lake's hourly run, so that the suite plans the same jobs.
      const input = { executionId: hourly.details?.executionId, hour: options.hour, partitions: hourly.details?.partitionsAggregated };
      const raw = options.rawSuite === 'none' || (options.rawSuite === 'no-late' && lake === late)
        ? undefined
        : await measure(`aggregate suite over raw JSON, ${label}`, () => spawnJob('raw-json-aggregates', { ...input, lake: lake.dir, out: rawSuiteOut(lake) }));
      aggregateSuites.push({ label, hourly, raw });
    }
    // Last, as it changes the late lake: it trains and publishes a model there and applies prices.
    const pricing = await measure(`pricing branch, ${percentOf(late.late)} late`, () => spawnJob('pricing', { lake: late.dir }));
    const baselinePartitions = await countPartitions(baselineOut);

    console.log(`\n== measured jobs (each alone in a child process; seconds = the job, not process start; the median of ${options.runs} round${options.runs === 1 ? '' : 's'}) ==`);
    console.log(
      table(
        ['job', 'records in', 'rows out', 'seconds', 'records/s', 'cpu s', 'peak MiB', 'status', 'every round, s'],
        jobs.map((job, i) => {
          const result = results[i] as SpawnedMeasurement;
          // The baseline does not count what it reads: its input is the lake's raw records, the same lines the merge reads.
          const recordsIn = result.recordsIn ?? job.lake.generation?.records;
          return [
            job.label,
            count(recordsIn),
            count(result.rowsOut),
            seconds(result.wallMs),
            count(recordsIn === undefined ? undefined : recordsIn / (result.wallMs / 1000)),
            seconds(result.userCpuMs + result.systemCpuMs),
            mib(result.maxRssKiB),
            result.ok ? 'ok' : `FAILED ${result.error ?? ''}`,
            rounds[i]!.map((round) => seconds(round.wallMs)).join(' '),
          ];
        }),
      ),
    );
    console.log(`(records in: raw lines, duplicates and malformed ones included; rows out: curated rows (accepted) / rows the baseline wrote in ${baselinePartitions} partitions; cpu s: user + system CPU of the process, all threads)`);

    const checks = [
      check('hourly (late) / duckdb baseline, time', hourlyLate.wallMs / baseline.wallMs, TARGETS.hourlyVsBaseline, ratio),
      check('hourly late / hourly no late, time', hourlyLate.wallMs / hourlyNoLate.wallMs, TARGETS.lateVsNoLate, ratio),
      check('peak memory of the hourly runs (every round), MiB', Math.max(...[...lateRounds, ...noLateRounds].map((round) => round.maxRssKiB)) / 1024, TARGETS.peakMiB, (v) => v.toFixed(0), true),
    ];
    console.log('\n== targets ==');
    console.log(
      table(
        ['measure', 'value', 'target', 'verdict'],
        checks.map((c) => [c.label, c.value, c.target, c.verdict]),
      ),
    );
    const perRecord = hourlyLate.wallMs / (hourlyLate.recordsIn ?? Number.NaN) / (hourlyNoLate.wallMs / (hourlyNoLate.recordsIn ?? Number.NaN));
    console.log(`for information: late / no late per record read ${ratio(perRecord)}; duckdb baseline peak ${mib(baseline.maxRssKiB)} MiB (DuckDB's default memory limit, 80 % of RAM; the merge caps its DuckDB at 1.5 GB)`);
    const { dataPathMs, otherMs } = splitByDataPath(hourlyLate);
    console.log(
      `for information, late: the data path (${DATA_PATH_TASKS.join(', ')}) / duckdb baseline ${ratio(dataPathMs / baseline.wallMs)}; ` +
        `the rest of the run (${seconds(otherMs)} s: the other states, the workflow's own time) alone is ${ratio(otherMs / baseline.wallMs)} the baseline, ` +
        `so a run whose data path took exactly the baseline's time would be ${ratio((baseline.wallMs + otherMs) / baseline.wallMs)}`,
    );

    printStates([
      { label: 'late', result: hourlyLate },
      { label: 'no late', result: hourlyNoLate },
    ]);
    printAggregateSuites(aggregateSuites);
    printMergeDetails([
      { label: 'late', result: hourlyLate },
      { label: 'no late', result: hourlyNoLate },
    ]);
    printPricing(pricing);
    if (![...rounds.flat(), pricing, ...aggregateSuites.map((suite) => suite.raw)].every((result) => result?.ok ?? true)) process.exitCode = 1;
  } finally {
    if (options.keep) {
      console.log(`\nkept: ${workDirs.join(', ')}`);
    } else if (ownRoot) {
      await fs.rm(root, { recursive: true, force: true });
    } else {
      for (const dir of workDirs) await fs.rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Runs `job` on `dir` in the last round. In the rounds before, it runs on a copy of `dir` (`copy`, for a
 * job that changes its lake) or on a new directory beside it (for one that writes there), removed after.
 */
async function inRound(dir: string, round: number, rounds: number, { copy }: { copy: boolean }, job: (dir: string) => Promise<SpawnedMeasurement>): Promise<SpawnedMeasurement> {
  if (round === rounds) return job(dir);
  const own = `${dir}.round-${round}`;
  try {
    if (copy) await fs.cp(dir, own, { recursive: true });
    return await job(own);
  } finally {
    await fs.rm(own, { recursive: true, force: true });
  }
}

/** The round of median wall time (the lower of the two middle ones for an even count). */
function medianRound(rounds: readonly SpawnedMeasurement[]): SpawnedMeasurement {
  const sorted = [...rounds].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.floor((sorted.length - 1) / 2)] as SpawnedMeasurement;
}

/** Runs one job, saying on stderr what runs and how it went. */
async function measure(label: string, run: () => Promise<SpawnedMeasurement>): Promise<SpawnedMeasurement> {
  process.stderr.write(`running ${label} …\n`);
  const result = await run();
  process.stderr.write(`  ${result.ok ? 'done' : `FAILED: ${result.error ?? ''}`} in ${seconds(result.wallMs)} s, peak ${mib(result.maxRssKiB)} MiB\n`);
  return result;
}

function printHeader(options: BenchOptions, root: string, rate: number): void {
  const target = options.eventsPerSecond * 3_600;
  console.log('== lakehouse benchmark: one arrival hour through the hourly workflow vs a plain DuckDB job ==');
  console.log(
    `arrival hour ${options.hour}, target ${count(target)} on-time events (${count(options.eventsPerSecond)}/s), generator daily-average rate ${rate.toFixed(1)}/s ` +
      `(the daily curve runs at ${hourlyCurveFactor(options.hour).toFixed(3)}× the average in this hour), seed ${options.seed}`,
  );
  console.log(`late lake: ${percentOf(options.late)} late sessions, up to ${options.maxLatenessHours} h back; no-late lake: none; other faults at the generator's defaults`);
  console.log(`machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${os.platform()} ${os.release()}; lakes in ${root}`);
}

async function generate(lake: Lake, options: BenchOptions, rate: number): Promise<void> {
  process.stderr.write(`generating the ${lake.name} lake …\n`);
  await fs.mkdir(lake.dir, { recursive: true });
  // The products and orders also go to the lake's tables, as `lakehouse generate` does, so that the
  // hourly run's signals step has a catalog to join and the pricing job a stream to deliver.
  const { store, tables } = createLocalPorts(lake.dir);
  const started = performance.now();
  lake.generation = await generateTraffic({
    store,
    tables,
    from: options.hour,
    to: addHours(options.hour, 1),
    rate,
    seed: options.seed,
    faults: { late: lake.late },
    maxLatenessHours: options.maxLatenessHours,
  });
  lake.generationMs = performance.now() - started;
  let bytes = 0;
  for await (const info of store.list('raw/')) bytes += info.size;
  lake.rawBytes = bytes;
}

function printGeneration(lakes: readonly Lake[]): void {
  console.log('\n== generation (not measured against the targets) ==');
  console.log(
    table(
      ['lake', 'seconds', 'records', 'records/s', 'events', 'late lines', 'duplicates', 'malformed', 'objects', 'raw MiB (gzip)'],
      lakes.map((lake) => {
        const g = lake.generation as GenerationReport;
        const ms = lake.generationMs as number;
        const malformed = Object.values(g.injected.malformed).reduce((sum, n) => sum + n, 0);
        return [
          lake.name,
          seconds(ms),
          count(g.records),
          count(g.records / (ms / 1000)),
          count(g.events),
          count(g.injected.late),
          count(g.injected.duplicates),
          count(malformed),
          count(g.objects),
          ((lake.rawBytes ?? 0) / 2 ** 20).toFixed(1),
        ];
      }),
    ),
  );
  console.log('(records: raw lines written; events: distinct valid click events among them, late ones included)');
}

/** The hourly workflow's tasks that do what the baseline does (read the raw hour, dedup, sort, write); the others have no counterpart there. */
const DATA_PATH_TASKS = ['crawl', 'merge', 'compact'];

/** The hourly workflow's task of each state. */
const HOURLY_TASKS = readWorkflowDescriptor('hourly').tasks;

/** A run's wall time split into its data path's states and everything else (the other states, the time outside states). */
function splitByDataPath(result: SpawnedMeasurement): { dataPathMs: number; otherMs: number } {
  const states = (result.details?.states ?? []) as StateTiming[];
  const dataPathStates = states.filter((state) => DATA_PATH_TASKS.includes(HOURLY_TASKS[state.name] ?? ''));
  // NaN when the run recorded none of them (a renamed task, a failed run): printed as such, never as a ratio of nothing.
  const dataPathMs = dataPathStates.length === 0 ? Number.NaN : dataPathStates.reduce((sum, state) => sum + state.durationMs, 0);
  return { dataPathMs, otherMs: result.wallMs - dataPathMs };
}

function printStates(runs: readonly { label: string; result: SpawnedMeasurement }[]): void {
  const names: string[] = [];
  const byRun = runs.map(({ result }) => {
    const states = ((result.details?.states ?? []) as StateTiming[]).filter((state) => state.type !== 'Succeed' && state.type !== 'Fail');
    for (const state of states) if (!names.includes(state.name)) names.push(state.name);
    return new Map(states.map((state) => [state.name, state]));
  });
  console.log('\n== hourly workflow, time per state ==');
  const header = ['state', ...runs.flatMap(({ label }) => [`${label} s`, `${label} share`])];
  const rows = names.map((name) => [
    name,
    ...byRun.flatMap((states, i) => {
      const state = states.get(name);
      const wall = runs[i]?.result.wallMs ?? Number.NaN;
      return state === undefined ? ['-', '-'] : [seconds(state.durationMs), percent(state.durationMs, wall)];
    }),
  ]);
  rows.push([
    'outside states (workflow start, records)',
    ...byRun.flatMap((states, i) => {
      const wall = runs[i]?.result.wallMs ?? Number.NaN;
      const outside = wall - [...states.values()].reduce((sum, state) => sum + (Number.isFinite(state.durationMs) ? state.durationMs : 0), 0);
      return [seconds(outside), percent(outside, wall)];
    }),
  ]);
  rows.push([
    'whole run (job wall time)',
    ...runs.flatMap(({ result }) => [seconds(result.wallMs), '100.0 %']),
  ]);
  console.log(table(header, rows));
}

/** The aggregate step of one lake's hourly run, and the raw-JSON suite that repeated its jobs (unless skipped). */
interface AggregateSuite {
  readonly label: string;
  readonly hourly: SpawnedMeasurement;
  readonly raw: SpawnedMeasurement | undefined;
}

/** What the hourly job reports of its aggregate step. */
interface AggregateStepDetails {
  readonly hours?: string[];
  readonly days?: string[];
  readonly filesWritten?: number;
}

/** The state of the hourly workflow that runs the aggregate task. */
const AGGREGATE_STATE = Object.entries(HOURLY_TASKS).find(([, task]) => task === 'aggregate')?.[0];

function printAggregateSuites(suites: readonly AggregateSuite[]): void {
  console.log(`\n== aggregate suite: curated Parquet (${AGGREGATE_STATE ?? 'no aggregate state'} of the hourly run) vs the same jobs over raw JSON ==`);
  const rows = suites.map(({ label, hourly, raw }) => {
    const curatedMs = ((hourly.details?.states ?? []) as StateTiming[]).find((state) => state.name === AGGREGATE_STATE)?.durationMs;
    const step = (hourly.details?.aggregate ?? {}) as AggregateStepDetails;
    return [
      label,
      count(step.filesWritten),
      `${count(step.hours?.length)} h, ${count(step.days?.length)} d`,
      seconds(curatedMs),
      count(raw?.details?.jobs as number | undefined),
      seconds(raw?.wallMs),
      ratio((raw?.wallMs ?? Number.NaN) / (curatedMs ?? Number.NaN)),
      raw === undefined ? '-' : seconds(raw.userCpuMs + raw.systemCpuMs),
      mib(raw?.maxRssKiB),
      raw === undefined ? 'skipped' : raw.ok ? 'ok' : `FAILED ${raw.error ?? ''}`,
    ];
  });
  console.log(table(['lake', 'step jobs', 'periods', 'curated s', 'raw jobs', 'raw JSON s', 'raw / curated', 'raw cpu s', 'raw peak MiB', 'raw status'], rows));
  console.log(
    "(jobs: (query, period) pairs, one CSV each, as the step planned them from its input; periods: event hours and days among them; curated s: the state in the hourly run; " +
      'raw JSON s: the step run again alone in its own process with the same input, through an engine whose every job reads every raw object of the lake, broken lines skipped, no dedup, no geolocation)',
  );
}

/** What the pricing job reports. */
interface PricingDetails {
  readonly trainMs?: number;
  readonly requests?: number;
  readonly endpointMs?: number;
  readonly delivered?: number;
  readonly changed?: number;
  readonly deliverMs?: number;
  /** Why the job measured nothing: a lake too small to train the model on. */
  readonly skipped?: string;
}

function printPricing(result: SpawnedMeasurement): void {
  const details = (result.details ?? {}) as PricingDetails;
  const perSecond = (n: number | undefined, ms: number | undefined) => count(Math.round((n ?? Number.NaN) / ((ms ?? Number.NaN) / 1000)));
  console.log('\n== pricing branch, on the late lake after its hourly run ==');
  if (details.skipped !== undefined) {
    console.log(`skipped: ${details.skipped}`);
    return;
  }
  console.log(
    table(
      ['measure', 'value'],
      [
        ['model training, s', seconds(details.trainMs)],
        ['endpoint requests (1 instance each, 8 clients)', count(details.requests)],
        ['endpoint requests/s', perSecond(details.requests, details.endpointMs)],
        ['stream records delivered to the consumer', count(details.delivered)],
        ['consumer records/s (model call, guardrails, conditional price write, audit)', perSecond(details.delivered, details.deliverMs)],
        ['prices changed', count(details.changed)],
      ],
    ),
  );
  if (!result.ok) console.log(`FAILED: ${result.error ?? ''}`);
}

function printMergeDetails(runs: readonly { label: string; result: SpawnedMeasurement }[]): void {
  console.log('\n== hourly workflow, what the merge and compaction did ==');
  const fields: [string, (d: Record<string, unknown>) => unknown][] = [
    ['raw objects', (d) => (d.merge as Record<string, unknown> | undefined)?.objects],
    ['records read', (d) => (d.merge as Record<string, unknown> | undefined)?.recordsRead],
    ['accepted', (d) => (d.merge as Record<string, unknown> | undefined)?.accepted],
    ['rejected', (d) => (d.merge as Record<string, unknown> | undefined)?.rejected],
    ['duplicates', (d) => (d.merge as Record<string, unknown> | undefined)?.duplicates],
    ['late events (event hour < arrival hour)', (d) => (d.merge as Record<string, unknown> | undefined)?.lateEvents],
    ['partitions touched', (d) => d.partitionsTouched],
    ['files written by the merge', (d) => (d.merge as Record<string, unknown> | undefined)?.filesWritten],
    ['partitions compacted', (d) => (d.compact as Record<string, unknown> | undefined)?.partitionsCompacted],
  ];
  console.log(
    table(
      ['', ...runs.map(({ label }) => label)],
      fields.map(([label, read]) => [label, ...runs.map(({ result }) => {
        const value = read(result.details ?? {});
        return typeof value === 'number' ? count(value) : '-';
      })]),
    ),
  );
  for (const { label, result } of runs) {
    const merge = (result.details?.merge ?? {}) as { rejectedByReason?: Record<string, number>; notes?: string[] };
    const reasons = Object.entries(merge.rejectedByReason ?? {})
      .map(([reason, n]) => `${reason} ${count(n)}`)
      .join(', ');
    console.log(`${label}: rejected by reason: ${reasons || 'none'}${merge.notes?.length ? `; notes: ${merge.notes.join('; ')}` : ''}`);
  }
}

function check(label: string, value: number, target: number, show: (v: number) => string, strict = false) {
  const pass = strict ? value < target : value <= target;
  return { label, value: show(value), target: `${strict ? '<' : '≤'} ${show(target)}`, verdict: Number.isFinite(value) ? (pass ? 'PASS' : 'MISS') : 'n/a' };
}

async function countPartitions(dir: string): Promise<number> {
  let partitions = 0;
  for (const dt of await fs.readdir(dir).catch(() => [] as string[])) {
    if (dt.startsWith('dt=')) partitions += (await fs.readdir(path.join(dir, dt))).filter((hr) => hr.startsWith('hr=')).length;
  }
  return partitions;
}

function percentOf(fraction: number): string {
  return `${+(fraction * 100).toFixed(2)} %`;
}

main().catch((error: unknown) => {
  if (error instanceof OptionsError) {
    // --help prints the usage alone and is not an error.
    const help = error.message === USAGE;
    (help ? process.stdout : process.stderr).write(`${error.message}\n`);
    process.exit(help ? 0 : 2);
  }
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
