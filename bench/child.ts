/**
 * Runs one benchmark job in this process and prints its measurement as one JSON line starting with
 * RESULT_MARKER (whatever else the job prints is left alone):
 *
 *   node bin/run-ts.js bench/child.ts <job> '<json args>'
 *
 * The wall time covers the job only (not the start of Node and tsx); the peak memory is the process's
 * maximum resident set size at the end (`process.resourceUsage().maxRSS`, kilobytes on Linux), which counts
 * DuckDB's native memory as well as the JavaScript heap: the job's own peak, as it ran alone.
 */
import { performance } from 'node:perf_hooks';
import { JOBS, type JobOutcome } from './jobs';
import { RESULT_MARKER, type Measurement } from './measurement';

async function main(): Promise<void> {
  const [name, rawArgs] = process.argv.slice(2);
  const job = name === undefined ? undefined : JOBS[name];
  if (job === undefined) throw new Error(`unknown job "${name ?? ''}": expected one of ${Object.keys(JOBS).join(', ')}`);
  const args = JSON.parse(rawArgs ?? '{}') as Record<string, unknown>;
  const started = performance.now();
  let outcome: JobOutcome;
  try {
    outcome = await job(args);
  } catch (error) {
    outcome = { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  const wallMs = performance.now() - started;
  const usage = process.resourceUsage();
  const measurement: Measurement = {
    job: name as string,
    ...outcome,
    wallMs,
    maxRssKiB: usage.maxRSS,
    userCpuMs: usage.userCPUTime / 1000,
    systemCpuMs: usage.systemCPUTime / 1000,
  };
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(measurement)}\n`);
}

main().then(
  // Exits at once: a pool thread or handle left behind must not add to the measured process's life.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
