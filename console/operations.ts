import { randomBytes } from 'node:crypto';
import { deliverPriceSignals } from '../cli/summary';
import { DEFAULT_BACKFILL_CONCURRENCY, MAX_BACKFILL_CONCURRENCY } from '../tasks/plan-hours/schema';
import { InvalidInputError } from '../tasks/ports/errors';
import type { ExecutionRecord, ExecutionStore } from '../tasks/runtime/execution-store';
import { openLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../tasks/runtime/local-runtime';
import type { WorkflowEvent } from '../tasks/runtime/local-workflow-runner';
import { loadWorkflow } from '../tasks/runtime/workflow-definitions';
import { hourStartMs, hoursBetween } from '../tasks/shared/hours';
import type { ExecutionDetail, ExecutionSummary, HourRange, JobKind, JobView } from './api-types';
import { buildWorkflowGraph } from './workflow-graph';

/** The jobs the page lists; older finished ones are forgotten. */
const KEPT_JOBS = 50;

export function summarize(record: ExecutionRecord): ExecutionSummary {
  return {
    id: record.id,
    workflow: record.stateMachine,
    subject: subjectOf(record.input),
    status: record.status,
    startedAt: record.startedAt,
    ...(record.stoppedAt === undefined ? {} : { stoppedAt: record.stoppedAt }),
    ...(record.durationMs === undefined ? {} : { durationMs: record.durationMs }),
    ...(record.parentId === undefined ? {} : { parentId: record.parentId }),
    ...(record.rerunOf === undefined ? {} : { rerunOf: record.rerunOf }),
  };
}

/** One execution with its graph, the executions it started and its reruns. */
/** A range of hours [from, to): both valid hours, `to` after `from`; InvalidInputError otherwise. */
export function checkHourRange(from: string, to: string): HourRange {
  hourStartMs(from);
  hourStartMs(to);
  if (to <= from) throw new InvalidInputError(`"to" (${to}, exclusive) must be after "from" (${from})`);
  return { from, to };
}

export async function describeExecution(executions: ExecutionStore, id: string): Promise<ExecutionDetail> {
  // The list holds the record; get() only for what the list lacks, which also says why an id is bad.
  const all = await executions.list();
  const record = all.find((execution) => execution.id === id) ?? (await executions.get(id));
  const workflow = loadWorkflow(record.stateMachine);
  return {
    summary: summarize(record),
    input: record.input,
    ...(record.output === undefined ? {} : { output: record.output }),
    ...(record.error === undefined ? {} : { error: record.error }),
    states: record.states,
    graph: buildWorkflowGraph(record.stateMachine, workflow.definition, record.states),
    children: all
      .filter((other) => other.parentId === record.id)
      .map(summarize)
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.subject.localeCompare(b.subject)),
    reruns: all.filter((other) => other.rerunOf === record.id).map(summarize),
  };
}

function subjectOf(input: unknown): string {
  const { hour, from, to } = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  if (typeof hour === 'string') return hour;
  if (typeof from === 'string' && typeof to === 'string') return `${from} .. ${to}`;
  return '-';
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Job extends Mutable<Omit<JobView, 'progress'>> {
  progress: Mutable<JobView['progress']>;
}

export interface JobRunnerOptions {
  readonly lake: string;
  /** Passed to each job's runtime (tests: a model endpoint). */
  readonly runtime?: Omit<LocalRuntimeOptions, 'onEvent'>;
}

/**
 * Runs reruns and backfills in this process, in the background, as `lakehouse rerun` and
 * `lakehouse backfill` do: one workflow execution through the local runner, then the delivery of the
 * price signals it wrote. Deliveries run one at a time (they drain one stream). Progress comes from
 * the runner's events: hourly executions finished for a backfill, states left for one hour.
 */
export class JobRunner {
  private readonly jobs: Job[] = [];
  private deliveries: Promise<unknown> = Promise.resolve();
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: JobRunnerOptions) {}

  list(): JobView[] {
    return this.jobs.map(viewOf);
  }

  /** Resolves once every job started so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Starts a rerun of execution `id`; NotFoundError, before anything starts, for an unknown one. */
  async rerun(executions: ExecutionStore, id: string): Promise<JobView> {
    const original = await executions.get(id);
    const hours = original.stateMachine === 'hourly' ? undefined : hoursOfInput(original.input);
    const total = hours?.length ?? stateCount(original);
    const job = this.create('rerun', `rerun of ${id} (${original.stateMachine} ${subjectOf(original.input)})`, hours === undefined ? 'states' : 'hours', total);
    this.launch(job, (runtime) => runtime.runner.rerun(id));
    return viewOf(job);
  }

  /** Starts a backfill of the arrival hours [from, to); InvalidInputError for a bad range or concurrency. */
  backfill(input: { from: unknown; to: unknown; concurrency?: unknown }): JobView {
    const { from, to } = input;
    if (typeof from !== 'string' || typeof to !== 'string') throw new InvalidInputError('a backfill needs "from" and "to" hours (YYYY-MM-DDTHH)');
    checkHourRange(from, to);
    const concurrency = input.concurrency === undefined ? DEFAULT_BACKFILL_CONCURRENCY : Number(input.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_BACKFILL_CONCURRENCY) {
      throw new InvalidInputError(`"concurrency" must be a whole number from 1 to ${MAX_BACKFILL_CONCURRENCY}, got ${JSON.stringify(input.concurrency)}`);
    }
    const hours = hoursBetween(from, to);
    const job = this.create('backfill', `backfill ${from} .. ${to} (${hours.length} hour${hours.length === 1 ? '' : 's'}, concurrency ${concurrency})`, 'hours', hours.length);
    this.launch(job, (runtime) => runtime.runner.start('backfill', { from, to, concurrency }));
    return viewOf(job);
  }

  private create(kind: JobKind, description: string, unit: 'hours' | 'states', total: number): Job {
    const job: Job = { id: `job-${randomBytes(4).toString('hex')}`, kind, description, status: 'running', startedAt: new Date().toISOString(), progress: { done: 0, total, unit } };
    this.jobs.unshift(job);
    // Forget the oldest finished jobs beyond the limit; a running one stays listed.
    for (let index = this.jobs.length - 1; index >= 0 && this.jobs.length > KEPT_JOBS; index -= 1) {
      if (this.jobs[index]!.status !== 'running') this.jobs.splice(index, 1);
    }
    return job;
  }

  private launch(job: Job, start: (runtime: LocalRuntime) => Promise<ExecutionRecord>): void {
    const runtime = openLocalRuntime(this.options.lake, { ...this.options.runtime, onEvent: (record, event) => track(job, record, event) });
    const work = (async () => {
      try {
        const execution = await start(runtime);
        job.executionId = execution.id;
        job.pricing = await this.deliver(() => deliverPriceSignals(runtime.pricing));
        job.status = execution.status === 'SUCCEEDED' ? 'succeeded' : 'failed';
        if (execution.status === 'SUCCEEDED') {
          job.progress.done = job.progress.total;
        } else {
          job.error = `${execution.id} ${execution.status}: ${execution.error?.error ?? ''} ${execution.error?.cause ?? ''}`.trim();
        }
      } catch (error) {
        job.status = 'failed';
        job.error = (error as Error).message.split('\n')[0] ?? '';
      } finally {
        delete job.progress.current;
        job.finishedAt = new Date().toISOString();
      }
    })();
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  private deliver<T>(delivery: () => Promise<T>): Promise<T> {
    const run = this.deliveries.then(delivery);
    this.deliveries = run.catch(() => undefined);
    return run;
  }
}

/** Folds a runner event into the job's progress. */
function track(job: Job, record: ExecutionRecord, event: WorkflowEvent): void {
  const root = job.executionId;
  if (event.type === 'ExecutionStarted' && root === undefined && record.parentId === undefined) {
    job.executionId = record.id;
    return;
  }
  const hour = (record.input as { hour?: unknown } | undefined)?.hour;
  if (job.progress.unit === 'hours') {
    if (record.stateMachine === 'hourly' && record.parentId === root && (event.type === 'ExecutionSucceeded' || event.type === 'ExecutionFailed' || event.type === 'ExecutionAborted')) {
      job.progress.done = Math.min(job.progress.total, job.progress.done + 1);
    }
    if (event.type === 'StateEntered' && record.stateMachine === 'hourly' && typeof hour === 'string') job.progress.current = `hour ${hour}: ${event.state}`;
    return;
  }
  if (record.id !== root) return;
  if (event.type === 'StateEntered') job.progress.current = `${typeof hour === 'string' ? `hour ${hour}: ` : ''}${event.state}`;
  if (event.type === 'StateExited' || event.type === 'StateCaught') job.progress.done = Math.min(job.progress.total, job.progress.done + 1);
}

function viewOf(job: Job): JobView {
  return { ...job, progress: { ...job.progress } };
}

/** The hours a backfill's input covers; undefined for any other input. */
function hoursOfInput(input: unknown): string[] | undefined {
  const { from, to } = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  if (typeof from !== 'string' || typeof to !== 'string') return undefined;
  try {
    return hoursBetween(from, to);
  } catch {
    return undefined;
  }
}

/** The top-level states an execution like `record` goes through when it succeeds (its own, if it succeeded). */
function stateCount(record: ExecutionRecord): number {
  const topLevel = record.states.filter((state) => state.mapIndex === undefined);
  if (record.status === 'SUCCEEDED' && topLevel.length > 0) return topLevel.length;
  const definition = loadWorkflow(record.stateMachine).definition;
  return Object.values(definition.States).filter((state) => state.Type !== 'Fail').length;
}
