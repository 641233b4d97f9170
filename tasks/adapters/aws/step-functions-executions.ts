import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  StartExecutionCommand,
  type DescribeExecutionOutput,
  type ExecutionListItem,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { InvalidInputError, NotFoundError } from '../../ports/errors';

/** The statuses Step Functions gives an execution; the last four end it (PENDING_REDRIVE goes on to RUNNING). */
export const EXECUTION_STATUSES = ['RUNNING', 'PENDING_REDRIVE', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
export type AwsExecutionStatus = (typeof EXECUTION_STATUSES)[number];
const ENDED: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

export function hasEnded(status: AwsExecutionStatus): boolean {
  return ENDED.has(status);
}

/** One execution as ListExecutions reports it. */
export interface AwsExecutionSummary {
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
  readonly status: AwsExecutionStatus;
  readonly startedAt: Date;
  readonly stoppedAt?: Date;
  readonly redriveCount: number;
}

/** One execution as DescribeExecution reports it: input and output are the JSON text Step Functions holds. */
export interface AwsExecution extends AwsExecutionSummary {
  /** Undefined when Step Functions leaves it out (`inputDetails.included` false). */
  readonly input?: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
  /** The alias the execution was started through, if any. */
  readonly stateMachineAliasArn?: string;
  readonly redrivenAt?: Date;
}

/** One visit of a state, folded from the execution's history like the local runner's state records. */
export interface AwsStateVisit {
  readonly name: string;
  /** Task, Map, Pass, ... */
  readonly type: string;
  /** The Map iteration(s) the visit ran in, outermost first; empty outside any Map. */
  readonly mapIndex: readonly number[];
  readonly enteredAt: Date;
  readonly exitedAt?: Date;
  /** SUCCEEDED: exited normally; CAUGHT: exited through a Catch after a failure; FAILED, ABORTED: the execution ended in it. */
  readonly status: 'RUNNING' | 'SUCCEEDED' | 'CAUGHT' | 'FAILED' | 'ABORTED';
  /** Attempts after the first (Retry). */
  readonly retries: number;
  readonly error?: { readonly error: string; readonly cause: string };
}

export interface StepFunctionsExecutionsProps {
  /** The Step Functions client, built by the caller (region, credentials, retries). */
  readonly client: SFNClient;
}

/**
 * Starts, redrives, describes and lists Step Functions executions, in the terms the CLI shows them. SDK errors
 * become NotFoundError (no such execution or state machine), InvalidInputError (a request Step Functions refuses
 * as such: a bad ARN, name or input, an execution that cannot be redriven) or an Error naming the SDK error,
 * each carrying it as `cause`, and each message saying which call on what failed.
 */
export class StepFunctionsExecutions {
  constructor(private readonly props: StepFunctionsExecutionsProps) {}

  /** StartExecution; `input` is sent as given, so a rerun can pass the original text unchanged. */
  async start(stateMachineArn: string, name: string, input: string): Promise<{ readonly executionArn: string; readonly startedAt: Date }> {
    const output = await this.call(`StartExecution of ${stateMachineArn}`, () =>
      this.props.client.send(new StartExecutionCommand({ stateMachineArn, name, input })),
    );
    return { executionArn: required(output.executionArn, 'executionArn'), startedAt: output.startDate ?? new Date() };
  }

  /** RedriveExecution: resumes a failed, timed-out or aborted execution from where it stopped; resolves with the redrive's time. */
  async redrive(executionArn: string): Promise<Date> {
    const output = await this.call(`RedriveExecution of ${executionArn}`, () => this.props.client.send(new RedriveExecutionCommand({ executionArn })));
    return output.redriveDate ?? new Date();
  }

  async describe(executionArn: string): Promise<AwsExecution> {
    const output = await this.call(`DescribeExecution of ${executionArn}`, () => this.props.client.send(new DescribeExecutionCommand({ executionArn })));
    return toExecution(output);
  }

  /**
   * The newest executions of a state machine, at most `limit`, following nextToken across pages.
   * `more` says whether Step Functions has executions beyond those returned.
   */
  async list(stateMachineArn: string, options: { readonly limit: number; readonly status?: AwsExecutionStatus }): Promise<{ readonly executions: AwsExecutionSummary[]; readonly more: boolean }> {
    const executions: AwsExecutionSummary[] = [];
    // The same maxResults on every page: a page token is only promised to work with the request that returned it.
    const maxResults = Math.min(options.limit, 1000);
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const page = await this.call(`ListExecutions of ${stateMachineArn}`, () =>
        this.props.client.send(
          new ListExecutionsCommand({
            stateMachineArn,
            maxResults,
            ...(options.status === undefined ? {} : { statusFilter: options.status }),
            ...(token === undefined ? {} : { nextToken: token }),
          }),
        ),
      );
      executions.push(...(page.executions ?? []).map(toSummary));
      nextToken = page.nextToken;
    } while (nextToken !== undefined && executions.length < options.limit);
    return { executions: executions.slice(0, options.limit), more: executions.length > options.limit || nextToken !== undefined };
  }

  /** Every state visit of the execution, in the order entered, from its whole history (GetExecutionHistory, every page). */
  async states(executionArn: string): Promise<AwsStateVisit[]> {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const page = await this.call(`GetExecutionHistory of ${executionArn}`, () =>
        this.props.client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, ...(token === undefined ? {} : { nextToken: token }) })),
      );
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    return foldHistory(events);
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw translateError(what, error);
    }
  }
}

const NOT_FOUND = new Set(['ExecutionDoesNotExist', 'StateMachineDoesNotExist', 'ResourceNotFound']);
const REFUSED = new Set([
  'InvalidArn',
  'InvalidName',
  'InvalidExecutionInput',
  'InvalidToken',
  'ValidationException',
  'ExecutionAlreadyExists',
  'ExecutionNotRedrivable',
  'ExecutionLimitExceeded',
  'StateMachineDeleting',
]);

function translateError(what: string, error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const message = `${what} failed: ${name === 'Error' ? '' : `${name}: `}${error instanceof Error ? error.message : String(error)}`;
  if (NOT_FOUND.has(name)) return new NotFoundError(message, { cause: error });
  if (REFUSED.has(name)) return new InvalidInputError(message, { cause: error });
  return new Error(message, { cause: error });
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new Error(`Step Functions returned no ${field}`);
  return value;
}

function toStatus(status: string | undefined): AwsExecutionStatus {
  return (EXECUTION_STATUSES as readonly string[]).includes(status ?? '') ? (status as AwsExecutionStatus) : 'RUNNING';
}

function toSummary(item: ExecutionListItem): AwsExecutionSummary {
  return {
    executionArn: required(item.executionArn, 'executionArn'),
    name: item.name ?? '',
    stateMachineArn: item.stateMachineArn ?? '',
    status: toStatus(item.status),
    startedAt: required(item.startDate, 'startDate'),
    ...(item.stopDate === undefined ? {} : { stoppedAt: item.stopDate }),
    redriveCount: item.redriveCount ?? 0,
  };
}

function toExecution(output: DescribeExecutionOutput): AwsExecution {
  const optional = {
    input: output.input,
    output: output.output,
    error: output.error,
    cause: output.cause,
    stoppedAt: output.stopDate,
    stateMachineAliasArn: output.stateMachineAliasArn,
    redrivenAt: output.redriveDate,
  };
  return {
    executionArn: required(output.executionArn, 'executionArn'),
    name: output.name ?? '',
    stateMachineArn: output.stateMachineArn ?? '',
    status: toStatus(output.status),
    startedAt: required(output.startDate, 'startDate'),
    redriveCount: output.redriveCount ?? 0,
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
  };
}

type MutableVisit = { -readonly [K in keyof AwsStateVisit]: AwsStateVisit[K] } & { failedLastAttempt: boolean };

const ENTERED = /^(\w+)StateEntered$/;
const EXITED = /^(\w+)StateExited$/;
const SCHEDULED = new Set(['TaskScheduled', 'LambdaFunctionScheduled', 'ActivityScheduled']);
const ITERATION_ENDED = new Set(['MapIterationSucceeded', 'MapIterationFailed', 'MapIterationAborted']);
const EXECUTION_ENDED = new Set(['ExecutionFailed', 'ExecutionTimedOut', 'ExecutionAborted']);

/**
 * Folds a history into state visits. Events of inline Map iterations interleave; each event's `previousEventId`
 * leads back to its iteration's MapIterationStarted, which gives the iteration's index.
 */
export function foldHistory(events: readonly HistoryEvent[]): AwsStateVisit[] {
  const visits: MutableVisit[] = [];
  const open = new Map<string, MutableVisit>();
  const typeOf = new Map<number, string>();
  const iterationOf = new Map<number, readonly number[]>();

  for (const event of events) {
    const type = event.type ?? '';
    const previousId = event.previousEventId;
    let iteration = (previousId === undefined ? undefined : iterationOf.get(previousId)) ?? [];
    if (previousId !== undefined && ITERATION_ENDED.has(typeOf.get(previousId) ?? '')) iteration = iteration.slice(0, -1);
    if (type === 'MapIterationStarted') iteration = [...iteration, event.mapIterationStartedEventDetails?.index ?? 0];
    if (event.id !== undefined) {
      iterationOf.set(event.id, iteration);
      typeOf.set(event.id, type);
    }
    const scope = iteration.join('.');
    const at = event.timestamp ?? new Date(0);

    const entered = ENTERED.exec(type);
    if (entered) {
      const name = event.stateEnteredEventDetails?.name ?? '?';
      const visit: MutableVisit = { name, type: entered[1] ?? '', mapIndex: iteration, enteredAt: at, status: 'RUNNING', retries: -1, failedLastAttempt: false };
      visits.push(visit);
      open.set(`${scope}/${name}`, visit);
      continue;
    }
    const exited = EXITED.exec(type);
    if (exited) {
      const name = event.stateExitedEventDetails?.name ?? '?';
      const visit = open.get(`${scope}/${name}`);
      if (visit) {
        visit.exitedAt = at;
        visit.status = visit.failedLastAttempt ? 'CAUGHT' : 'SUCCEEDED';
        // A failure that a Retry got past is not how the state ended.
        if (!visit.failedLastAttempt) delete visit.error;
        open.delete(`${scope}/${name}`);
      }
      continue;
    }
    const failure = failureOf(event);
    if (EXECUTION_ENDED.has(type)) {
      // The states still open end with the execution; a redrive enters them again as new visits.
      for (const visit of open.values()) {
        visit.status = type === 'ExecutionAborted' ? 'ABORTED' : 'FAILED';
        if (visit.error === undefined && failure !== undefined) visit.error = failure;
      }
      open.clear();
      continue;
    }
    const current = [...open.values()].reverse().find((visit) => visit.mapIndex.join('.') === scope);
    if (current === undefined) continue;
    if (SCHEDULED.has(type)) {
      current.retries += 1;
      current.failedLastAttempt = false;
    } else if (failure !== undefined) {
      current.error = failure;
      current.failedLastAttempt = true;
    }
  }
  return visits.map(({ failedLastAttempt: _, retries, ...visit }) => ({ ...visit, retries: Math.max(0, retries) }));
}

function failureOf(event: HistoryEvent): { error: string; cause: string } | undefined {
  const details =
    event.taskFailedEventDetails ??
    event.taskTimedOutEventDetails ??
    event.taskStartFailedEventDetails ??
    event.taskSubmitFailedEventDetails ??
    event.lambdaFunctionFailedEventDetails ??
    event.lambdaFunctionTimedOutEventDetails ??
    event.lambdaFunctionStartFailedEventDetails ??
    event.lambdaFunctionScheduleFailedEventDetails ??
    event.activityFailedEventDetails ??
    event.activityTimedOutEventDetails ??
    event.activityScheduleFailedEventDetails ??
    event.executionFailedEventDetails ??
    event.executionTimedOutEventDetails ??
    event.executionAbortedEventDetails ??
    event.evaluationFailedEventDetails;
  if (details === undefined) return undefined;
  return { error: details.error ?? event.type ?? 'Error', cause: details.cause ?? '' };
}
