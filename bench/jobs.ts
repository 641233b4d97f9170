import { openLocalRuntime } from '../tasks/runtime/local-runtime';
import { runBaseline } from './baseline';

/**
 * The jobs the benchmark measures, each run alone in a child process (`bench/child.ts`) so that its peak
 * memory is its own. A job takes JSON arguments and returns JSON: `recordsIn` and `rowsOut` when it knows
 * them, and anything else worth printing under `details`.
 *
 * To measure another step (the aggregate suite of issue 4, or the same suite over raw JSON), add a job here
 * and a line to the plan in `run.ts`; the hourly job already reports every state of the workflow, so an
 * aggregate step that becomes a Task shows up in its per-state durations without a change here.
 */
export interface JobOutcome {
  readonly ok: boolean;
  /** Why the job did not succeed. */
  readonly error?: string;
  readonly recordsIn?: number;
  readonly rowsOut?: number;
  readonly details?: Record<string, unknown>;
}

export type Job = (args: Record<string, unknown>) => Promise<JobOutcome>;

/** Per-state time of a workflow execution, in the order the states ran. */
export interface StateTiming {
  readonly name: string;
  readonly type: string;
  readonly status: string;
  readonly durationMs: number;
}

export const JOBS: Record<string, Job> = {
  /** The hourly workflow (crawl → merge → compact → … → vacuum) on one arrival hour, as `lakehouse run hourly` runs it. */
  async hourly(args) {
    const lake = stringArg(args, 'lake');
    const hour = stringArg(args, 'hour');
    const runtime = openLocalRuntime(lake);
    const record = await runtime.runner.start('hourly', { hour });
    const states: StateTiming[] = record.states.map((state) => ({
      name: state.name,
      type: state.type,
      status: state.status,
      durationMs: state.durationMs ?? Number.NaN,
    }));
    const output = (record.output ?? {}) as { merge?: Record<string, unknown>; compact?: Record<string, unknown>; vacuum?: Record<string, unknown> };
    const merge = output.merge ?? {};
    return {
      ok: record.status === 'SUCCEEDED',
      ...(record.status === 'SUCCEEDED' ? {} : { error: `${record.status}: ${record.error?.error ?? ''} ${record.error?.cause ?? ''}`.trim() }),
      ...(typeof merge.recordsRead === 'number' ? { recordsIn: merge.recordsRead } : {}),
      ...(typeof merge.accepted === 'number' ? { rowsOut: merge.accepted } : {}),
      details: {
        executionId: record.id,
        executionMs: record.durationMs,
        states,
        merge: pick(merge, ['objects', 'recordsRead', 'accepted', 'rejected', 'duplicates', 'lateEvents', 'filesWritten', 'rejectedByReason', 'notes']),
        partitionsTouched: Array.isArray(merge.partitionsTouched) ? merge.partitionsTouched.length : undefined,
        compact: output.compact,
        vacuum: output.vacuum,
      },
    };
  },

  /** The plain DuckDB read_json → dedup → sort → COPY PARTITION_BY of the same raw objects; see baseline.ts. */
  async 'duckdb-baseline'(args) {
    const result = await runBaseline({ lake: stringArg(args, 'lake'), out: stringArg(args, 'out') });
    return { ok: true, rowsOut: result.rowsOut };
  },
};

function stringArg(args: Record<string, unknown>, name: string): string {
  const value = args[name];
  if (typeof value !== 'string' || value === '') throw new Error(`job argument "${name}" must be a non-empty string`);
  return value;
}

function pick(object: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => key in object).map((key) => [key, object[key]]));
}
