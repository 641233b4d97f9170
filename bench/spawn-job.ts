import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RESULT_MARKER, type Measurement } from './measurement';

export const REPO_ROOT = path.resolve(__dirname, '..');
const RUN_TS = path.join(REPO_ROOT, 'bin', 'run-ts.js');
const CHILD = path.join(REPO_ROOT, 'bench', 'child.ts');

export interface SpawnOptions {
  /** Extra flags for node itself, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
}

export interface SpawnedMeasurement extends Measurement {
  /** Wall time of the whole child process, start of Node and tsx included. */
  readonly processMs: number;
}

/**
 * Runs `job` in a fresh child (`node bin/run-ts.js bench/child.ts <job> <args>`) with the same Node as this
 * process, its stderr passed through, and resolves with the measurement it printed. Rejects if the child
 * prints none (it crashed): a failed job still prints one, with `ok: false`.
 */
export function spawnJob(job: string, args: Record<string, unknown>, options: SpawnOptions = {}): Promise<SpawnedMeasurement> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), RUN_TS, CHILD, job, JSON.stringify(args)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const processMs = performance.now() - started;
      const line = stdout.split('\n').find((text) => text.startsWith(RESULT_MARKER));
      if (line === undefined) {
        const tail = stdout.trim().split('\n').slice(-5).join('\n');
        reject(new Error(`job ${job} printed no result (exit ${code ?? signal}); its last output:\n${tail}`));
        return;
      }
      // Anything else the job printed on stdout goes on, so nothing is hidden.
      const other = stdout
        .split('\n')
        .filter((text) => text !== '' && !text.startsWith(RESULT_MARKER))
        .join('\n');
      if (other !== '') process.stderr.write(`[${job}] ${other}\n`);
      resolve({ ...(JSON.parse(line.slice(RESULT_MARKER.length)) as Measurement), processMs });
    });
  });
}
