import type { JobOutcome } from './jobs';

/** Starts the one line of a child's stdout that carries its measurement, as JSON. */
export const RESULT_MARKER = 'BENCH_RESULT ';

/** What a child process reports about the one job it ran. */
export interface Measurement extends JobOutcome {
  readonly job: string;
  /** Wall time of the job itself, milliseconds (not the start of Node and tsx). */
  readonly wallMs: number;
  /** Peak resident set size of the process, KiB (`process.resourceUsage().maxRSS`). */
  readonly maxRssKiB: number;
  /** CPU time of the whole process (all threads), milliseconds. */
  readonly userCpuMs: number;
  readonly systemCpuMs: number;
}
