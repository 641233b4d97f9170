/**
 * The benchmark's options, from the command line (`npm run bench -- --events 200000`) or the environment
 * (`BENCH_EVENTS=200000 npm run bench`); the command line wins.
 */

/** The seed article's figure: 1,000 on-time events a second, one hour of them. */
export const DEFAULT_EVENTS_PER_SECOND = 1_000;
const HOUR_SECONDS = 3_600;

export interface BenchOptions {
  /** On-time events per second in the arrival hour (not the generator's daily average). */
  readonly eventsPerSecond: number;
  /** The arrival hour generated and run, `YYYY-MM-DDTHH`. */
  readonly hour: string;
  readonly seed: number;
  /** Share of late sessions in the late lake, and how far back their events go. */
  readonly late: number;
  readonly maxLatenessHours: number;
  /** Keep the lakes and the jobs' output (the baseline's Parquet, the raw-JSON suite's CSV) after the run. */
  readonly keep: boolean;
  /** Which lakes the aggregate suite over raw JSON runs on: it reads every raw object once per (query, period) job. */
  readonly rawSuite: RawSuiteLakes;
  /** Where the lakes go; a fresh directory under the system's temp dir when not given. */
  readonly dir: string | undefined;
  /** Pass `--cpu-prof` to the hourly jobs, writing `.cpuprofile` files into this directory. */
  readonly cpuProfDir: string | undefined;
  /** Rounds of the measured jobs; each job's median round is reported, so that one noisy run does not decide a verdict. */
  readonly runs: number;
}

export const USAGE = `usage: npm run bench -- [options]
  --events <n>        on-time events in the arrival hour (default ${DEFAULT_EVENTS_PER_SECOND * HOUR_SECONDS}, i.e. ${DEFAULT_EVENTS_PER_SECOND}/s); env BENCH_EVENTS
  --rate <n>          the same as on-time events per second in the hour (--events = rate × 3600); env BENCH_RATE
  --hour <hour>       arrival hour, YYYY-MM-DDTHH (default 2021-07-12T09); env BENCH_HOUR
  --seed <n>          generator seed (default 1); env BENCH_SEED
  --late <fraction>   late sessions in the late lake (default 0.02); env BENCH_LATE
  --max-lateness <h>  how far back late events go, hours (default 48); env BENCH_MAX_LATENESS
  --keep              keep the lakes and the jobs' output; env BENCH_KEEP=1
  --raw-suite <lakes> which lakes the aggregate suite over raw JSON runs on: no-late (default: about 40
                      jobs), all (the late lake's ~650 jobs take over an hour at the default size) or
                      none; env BENCH_RAW_SUITE
  --dir <path>        put the lakes here instead of a fresh temp dir (must not exist or be empty); env BENCH_DIR
  --cpu-prof <dir>    run the hourly jobs under node --cpu-prof, profiles into <dir>; env BENCH_CPU_PROF
  --runs <n>          rounds of the measured jobs, each job's median round reported (default 3, 1 to 9;
                      every round runs on a fresh copy of the generated lakes); env BENCH_RUNS`;

/** Options without a value. */
const FLAGS = ['keep'];

export const RAW_SUITE_LAKES = ['no-late', 'all', 'none'] as const;
export type RawSuiteLakes = (typeof RAW_SUITE_LAKES)[number];

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const given = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') throw new OptionsError(USAGE);
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new OptionsError(`unexpected argument "${arg}"\n${USAGE}`);
    const name = match[1] as string;
    if (FLAGS.includes(name)) {
      given.set(name, true);
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new OptionsError(`--${name} needs a value\n${USAGE}`);
    given.set(name, value);
  }
  const known = ['events', 'rate', 'hour', 'seed', 'late', 'max-lateness', 'raw-suite', 'dir', 'cpu-prof', 'runs', ...FLAGS];
  for (const name of given.keys()) if (!known.includes(name)) throw new OptionsError(`unknown option --${name}\n${USAGE}`);

  const text = (name: string, envName: string): string | undefined => {
    const value = given.get(name);
    return typeof value === 'string' ? value : env[envName] || undefined;
  };
  const number = (name: string, envName: string, fallback: number, valid: (n: number) => boolean, expected: string): number => {
    const raw = text(name, envName);
    if (raw === undefined) return fallback;
    const value = Number(raw.replaceAll('_', ''));
    if (!Number.isFinite(value) || !valid(value)) throw new OptionsError(`--${name}: got "${raw}", expected ${expected}`);
    return value;
  };

  if (given.has('events') && given.has('rate')) throw new OptionsError('give --events or --rate, not both');
  // The command line beats the environment: --events, then --rate, then BENCH_EVENTS, then BENCH_RATE.
  const sizeFrom = given.has('events') ? 'events' : given.has('rate') ? 'rate' : env.BENCH_EVENTS ? 'events' : env.BENCH_RATE ? 'rate' : undefined;
  let eventsPerSecond = DEFAULT_EVENTS_PER_SECOND;
  if (sizeFrom === 'events') eventsPerSecond = number('events', 'BENCH_EVENTS', 0, (n) => n >= 1_000, 'a count of at least 1000') / HOUR_SECONDS;
  if (sizeFrom === 'rate') eventsPerSecond = number('rate', 'BENCH_RATE', 0, (n) => n > 0, 'events per second, > 0');

  const hour = text('hour', 'BENCH_HOUR') ?? '2021-07-12T09';
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(hour)) throw new OptionsError(`--hour: got "${hour}", expected YYYY-MM-DDTHH`);
  const flag = (name: string, envName: string): boolean => {
    const value = env[envName];
    return given.has(name) || (value !== undefined && value !== '' && value !== '0' && value !== 'false');
  };
  const rawSuite = (text('raw-suite', 'BENCH_RAW_SUITE') ?? 'no-late') as RawSuiteLakes;
  if (!RAW_SUITE_LAKES.includes(rawSuite)) throw new OptionsError(`--raw-suite: got "${rawSuite}", expected one of ${RAW_SUITE_LAKES.join(', ')}`);
  return {
    eventsPerSecond,
    hour,
    seed: number('seed', 'BENCH_SEED', 1, Number.isSafeInteger, 'an integer'),
    late: number('late', 'BENCH_LATE', 0.02, (n) => n > 0 && n < 1, 'a fraction in (0, 1)'),
    maxLatenessHours: number('max-lateness', 'BENCH_MAX_LATENESS', 48, (n) => n >= 2 && n <= 720, 'hours from 2 to 720'),
    keep: flag('keep', 'BENCH_KEEP'),
    rawSuite,
    dir: text('dir', 'BENCH_DIR'),
    cpuProfDir: text('cpu-prof', 'BENCH_CPU_PROF'),
    runs: number('runs', 'BENCH_RUNS', 3, (n) => Number.isInteger(n) && n >= 1 && n <= 9, 'a whole number from 1 to 9'),
  };
}
