import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ExecutionAbortedError, ExecutionError as AslExecutionError, ExecutionTimeoutError, StateMachine } from 'aws-local-stepfunctions';
import { InvalidInputError } from '../ports/errors';
import { ExecutionStore, type ExecutionError, type ExecutionRecord, type StateRecord } from './execution-store';
import type { TaskHandler, TaskRegistry } from './task-registry';
import {
  collectStates,
  copyJson,
  DEFAULT_WORKFLOWS_DIR,
  loadWorkflow,
  localExecutionArn,
  localStateMachineArn,
  START_EXECUTION_SYNC_RESOURCE,
  WorkflowDefinitionError,
  workflowOfLocalStateMachineArn,
  type LoadedWorkflow,
} from './workflow-definitions';

/** What the runner reports as an execution progresses (after the record reflects it). */
export interface WorkflowEvent {
  readonly type:
    | 'ExecutionStarted'
    | 'ExecutionSucceeded'
    | 'ExecutionFailed'
    | 'ExecutionAborted'
    | 'StateEntered'
    | 'StateExited'
    | 'StateFailed'
    | 'StateRetried'
    | 'StateCaught'
    | 'MapIterationStarted'
    | 'MapIterationSucceeded'
    | 'MapIterationFailed';
  readonly timestamp: number;
  /** The state's name (for a Map iteration event, the Map state's name). */
  readonly state?: string;
  readonly stateType?: string;
  readonly mapIndex?: number;
  readonly error?: ExecutionError;
}

export interface LocalWorkflowRunnerOptions {
  /** The lake directory; records go to `<lake>/_executions/`. */
  readonly lake: string;
  /** The handlers of the descriptors' task names. */
  readonly tasks: TaskRegistry;
  /** @default the repository's `workflows/` */
  readonly workflowsDir?: string;
  /** Replaces every Retry interval (tests): milliseconds between attempts. @default the intervals in the ASL */
  readonly retryIntervalOverrideMs?: number;
  /** Called after each recorded event, with the record as it stands; child executions report here too. */
  readonly onEvent?: (execution: ExecutionRecord, event: WorkflowEvent) => void;
}

export interface StartOptions {
  readonly parentId?: string;
  readonly rerunOf?: string;
  /** A chosen execution id; it must not exist yet. @default `<workflow>-<hour or from_to>-<8 hex>` */
  readonly id?: string;
}

/** The fields of aws-local-stepfunctions' event log entries that the runner reads (the type is not exported). */
interface LibraryEvent {
  readonly type: string;
  readonly timestamp: number;
  readonly state?: { readonly name: string; readonly type: string; readonly input: unknown; readonly output?: unknown };
  readonly parentState?: { readonly name: string; readonly type: string };
  readonly index?: number;
  readonly Error?: string;
  readonly Cause?: unknown;
}

type JsonValue = Parameters<StateMachine['run']>[0];
type LocalHandler = (input: JsonValue) => Promise<JsonValue>;

const HOUR_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}$/;
const stateMachines = new WeakMap<LoadedWorkflow, StateMachine>();

/**
 * Runs the ASL files of `workflows/` with aws-local-stepfunctions (Retry, Catch and Map concurrency as that
 * interpreter implements them), Task states mapped to in-process handlers by their descriptor, and records every
 * execution durably so that it can be listed, inspected and rerun. `startExecution.sync:2` Task states start the
 * referenced workflow as a child execution through this same runner, as Step Functions does.
 */
export class LocalWorkflowRunner {
  readonly executions: ExecutionStore;
  private readonly workflowsDir: string;

  constructor(private readonly options: LocalWorkflowRunnerOptions) {
    this.executions = new ExecutionStore(options.lake);
    this.workflowsDir = options.workflowsDir ?? DEFAULT_WORKFLOWS_DIR;
  }

  /**
   * Runs workflow `name` on `input` to its end and resolves with the final record: a failed execution is a FAILED
   * record, not a rejection. Rejects, recording nothing, for an unknown workflow (NotFoundError), an invalid
   * definition or a missing task handler (WorkflowDefinitionError), or an input that is not JSON.
   */
  async start(name: string, input: unknown, options: StartOptions = {}): Promise<ExecutionRecord> {
    const workflow = loadWorkflow(name, this.workflowsDir);
    const stateMachine = this.createStateMachine(workflow);
    const taskHandlers = this.taskHandlers(workflow);
    const executionInput = toJson(input ?? {}, `the input of workflow "${name}"`);
    const record = await this.createRecord(name, executionInput, options);
    const writer = new RecordWriter(this.executions, record);
    this.report(record, { type: 'ExecutionStarted', timestamp: Date.parse(record.startedAt) });

    const execution = stateMachine.run(executionInput, {
      overrides: {
        taskResourceLocalHandlers: { ...taskHandlers, ...this.childHandlers(workflow, record) },
        ...(this.options.retryIntervalOverrideMs === undefined ? {} : { retryIntervalOverrides: this.retryOverrides(workflow) }),
      },
      context: {
        Execution: { Id: record.executionArn, Name: record.id, Input: executionInput, StartTime: record.startedAt, RedriveCount: 0 },
        StateMachine: { Id: localStateMachineArn(name), Name: `lakehouse-${name}` },
      },
    });
    const recording = this.record(execution.eventLogs as AsyncIterable<LibraryEvent>, record, writer).catch((error: unknown) => {
      // The outcome still gets recorded below; only the state-by-state account is incomplete.
      process.emitWarning(`recording the events of ${record.id} failed: ${(error as Error).message}`);
    });

    let outcome: Pick<ExecutionRecord, 'status' | 'output' | 'error'>;
    try {
      outcome = { status: 'SUCCEEDED', output: await execution.result };
    } catch (error) {
      outcome = outcomeOfFailure(error, workflow);
    }
    await recording;

    const stoppedAt = new Date();
    record.status = outcome.status;
    if (outcome.output !== undefined) record.output = outcome.output;
    if (outcome.error !== undefined) record.error = outcome.error;
    record.stoppedAt = stoppedAt.toISOString();
    record.durationMs = stoppedAt.getTime() - Date.parse(record.startedAt);
    await writer.close();
    const type = record.status === 'SUCCEEDED' ? 'ExecutionSucceeded' : record.status === 'ABORTED' ? 'ExecutionAborted' : 'ExecutionFailed';
    this.report(record, { type, timestamp: stoppedAt.getTime(), ...(record.error === undefined ? {} : { error: record.error }) });
    return record;
  }

  /** Starts a new execution of the same workflow with the same input, `rerunOf` the given one; NotFoundError for an unknown id. */
  async rerun(id: string): Promise<ExecutionRecord> {
    const original = await this.executions.get(id);
    return this.start(original.stateMachine, original.input, { rerunOf: id });
  }

  private createStateMachine(workflow: LoadedWorkflow): StateMachine {
    // A StateMachine runs any number of executions; building one validates the definition again, which is slow.
    const cached = stateMachines.get(workflow);
    if (cached !== undefined) return cached;
    try {
      // The interpreter validates again (with its own asl-validator), ARNs included; it must accept the same file.
      const stateMachine = new StateMachine(copyJson(workflow.definition) as ConstructorParameters<typeof StateMachine>[0], {
        validationOptions: { checkArn: true, checkPaths: true },
      });
      stateMachines.set(workflow, stateMachine);
      return stateMachine;
    } catch (error) {
      throw new WorkflowDefinitionError(`${workflow.file} is rejected by aws-local-stepfunctions: ${oneLine((error as Error).message)}`, {
        cause: error,
      });
    }
  }

  /** The handler of each Task state the descriptor maps to a task; a task missing from the registry fails the start. */
  private taskHandlers(workflow: LoadedWorkflow): Record<string, LocalHandler> {
    const handlers: Record<string, LocalHandler> = {};
    for (const [stateName, taskName] of Object.entries(workflow.descriptor.tasks)) {
      const handler = this.options.tasks[taskName];
      if (handler === undefined) {
        throw new WorkflowDefinitionError(
          `workflow "${workflow.descriptor.name}" runs task "${taskName}" in state ${stateName}, but the task registry has no "${taskName}" (it has: ${Object.keys(this.options.tasks).join(', ') || 'none'})`,
        );
      }
      handlers[stateName] = asLocalHandler(handler, taskName);
    }
    return handlers;
  }

  private childHandlers(workflow: LoadedWorkflow, record: ExecutionRecord): Record<string, LocalHandler> {
    const handlers: Record<string, LocalHandler> = {};
    for (const { name, state } of collectStates(workflow.definition)) {
      if (state.Type === 'Task' && state.Resource === START_EXECUTION_SYNC_RESOURCE) {
        handlers[name] = (parameters) => this.runChild(parameters, record);
      }
    }
    return handlers;
  }

  private retryOverrides(workflow: LoadedWorkflow): Record<string, number> {
    const interval = this.options.retryIntervalOverrideMs ?? 0;
    return Object.fromEntries(collectStates(workflow.definition).filter(({ state }) => state.Retry !== undefined).map(({ name }) => [name, interval]));
  }

  /**
   * The `states:startExecution.sync:2` integration: runs the child to its end and returns what DescribeExecution
   * returns, Output as JSON; a child that did not succeed fails the task with `States.TaskFailed`, cause the
   * child's description with its Error and Cause, as Step Functions does.
   */
  private async runChild(parameters: JsonValue, parent: ExecutionRecord): Promise<JsonValue> {
    const { StateMachineArn: arn, Input: rawInput } = (parameters ?? {}) as { StateMachineArn?: unknown; Input?: unknown };
    const workflow = typeof arn === 'string' ? workflowOfLocalStateMachineArn(arn) : undefined;
    if (workflow === undefined) {
      throw namedError('StepFunctions.StateMachineDoesNotExistException', `no local state machine ${JSON.stringify(arn)}`);
    }
    const input = typeof rawInput === 'string' ? parseJsonInput(rawInput) : (rawInput ?? {});
    const child = await this.start(workflow, input, { parentId: parent.id });
    const description = {
      ExecutionArn: child.executionArn,
      Name: child.id,
      StateMachineArn: arn as string,
      Status: child.status,
      StartDate: Date.parse(child.startedAt),
      ...(child.stoppedAt === undefined ? {} : { StopDate: Date.parse(child.stoppedAt) }),
      Input: child.input as JsonValue,
      InputDetails: { Included: true },
    };
    if (child.status === 'SUCCEEDED') return { ...description, Output: child.output as JsonValue, OutputDetails: { Included: true } };
    throw namedError('States.TaskFailed', JSON.stringify({ ...description, Error: child.error?.error, Cause: child.error?.cause }));
  }

  private async record(events: AsyncIterable<LibraryEvent>, record: ExecutionRecord, writer: RecordWriter): Promise<void> {
    for await (const event of events) {
      const reported = applyEvent(record, event);
      if (reported === undefined) continue;
      writer.schedule();
      this.report(record, reported);
    }
  }

  private report(record: ExecutionRecord, event: WorkflowEvent): void {
    if (this.options.onEvent === undefined) return;
    try {
      this.options.onEvent(record, event);
    } catch (error) {
      // A failing observer (a progress printer) must not change the execution or its record.
      process.emitWarning(`onEvent failed for ${event.type} of ${record.id}: ${(error as Error).message}`);
    }
  }

  /** Creates the RUNNING record under a new id, or under the chosen one if it is free; ids are never reused. */
  private async createRecord(name: string, input: JsonValue, options: StartOptions): Promise<ExecutionRecord> {
    for (;;) {
      const id = options.id ?? executionId(name, input);
      const record: ExecutionRecord = {
        id,
        executionArn: localExecutionArn(name, id),
        stateMachine: name,
        input,
        status: 'RUNNING',
        startedAt: new Date().toISOString(),
        ...(options.parentId === undefined ? {} : { parentId: options.parentId }),
        ...(options.rerunOf === undefined ? {} : { rerunOf: options.rerunOf }),
        pid: process.pid,
        host: hostname(),
        states: [],
      };
      if (await this.executions.create(record)) return record;
      if (options.id !== undefined) throw new InvalidInputError(`execution id "${options.id}" is already taken`);
    }
  }
}

/** `<workflow>-<hour or from_to>-<8 hex>`: readable in a listing, unique by its random suffix. */
export function executionId(workflow: string, input: unknown): string {
  const { hour, from, to } = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const subject = isHour(hour) ? hour : isHour(from) && isHour(to) ? `${from}_${to}` : undefined;
  const suffix = randomBytes(4).toString('hex');
  return subject === undefined ? `${workflow}-${suffix}` : `${workflow}-${subject}-${suffix}`;
}

function isHour(value: unknown): value is string {
  return typeof value === 'string' && HOUR_PATTERN.test(value);
}

/** Folds one interpreter event into the record; returns the event to report, or undefined for one the record ignores. */
function applyEvent(record: ExecutionRecord, event: LibraryEvent): WorkflowEvent | undefined {
  const at = new Date(event.timestamp).toISOString();
  const mapIndex = event.index;
  const base = { timestamp: event.timestamp, ...(mapIndex === undefined ? {} : { mapIndex }) };
  const error = event.Error === undefined ? undefined : { error: event.Error, cause: causeText(event.Cause) };
  switch (event.type) {
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
    case 'MapIterationFailed':
      return {
        type: event.type,
        ...base,
        ...(event.parentState === undefined ? {} : { state: event.parentState.name, stateType: event.parentState.type }),
        ...(error === undefined ? {} : { error }),
      };
    case 'StateEntered':
    case 'StateExited':
    case 'StateFailed':
    case 'StateRetried':
    case 'StateCaught':
      break;
    default:
      // Execution-level events: the runner reports its own once the final record is saved.
      return undefined;
  }
  const state = event.state;
  if (state === undefined) return undefined;
  const reported: WorkflowEvent = { type: event.type, ...base, state: state.name, stateType: state.type, ...(error === undefined ? {} : { error }) };
  if (event.type === 'StateEntered') {
    record.states.push({
      name: state.name,
      type: state.type,
      ...(mapIndex === undefined ? {} : { mapIndex }),
      enteredAt: at,
      status: 'RUNNING',
      input: state.input,
      retries: 0,
    });
    return reported;
  }
  const visit = findVisit(record.states, state.name, mapIndex, event.type === 'StateRetried' || event.type === 'StateCaught' ? 'FAILED' : 'RUNNING');
  if (visit === undefined) return reported;
  switch (event.type) {
    case 'StateExited':
      visit.status = 'SUCCEEDED';
      visit.output = state.output;
      exit(visit, event.timestamp);
      break;
    case 'StateFailed':
      visit.status = 'FAILED';
      if (error !== undefined) visit.error = error;
      exit(visit, event.timestamp);
      break;
    case 'StateRetried':
      visit.status = 'RUNNING';
      visit.retries += 1;
      if (visit.error !== undefined) visit.retriedErrors = [...(visit.retriedErrors ?? []), visit.error];
      delete visit.error;
      delete visit.exitedAt;
      delete visit.durationMs;
      break;
    case 'StateCaught':
      visit.status = 'CAUGHT';
      break;
  }
  return reported;
}

function findVisit(states: StateRecord[], name: string, mapIndex: number | undefined, status: StateRecord['status']): StateRecord | undefined {
  for (let i = states.length - 1; i >= 0; i -= 1) {
    const state = states[i] as StateRecord;
    if (state.name === name && state.mapIndex === mapIndex && state.status === status) return state;
  }
  return undefined;
}

function exit(visit: StateRecord, timestamp: number): void {
  visit.exitedAt = new Date(timestamp).toISOString();
  visit.durationMs = timestamp - Date.parse(visit.enteredAt);
}

function outcomeOfFailure(error: unknown, workflow: LoadedWorkflow): Pick<ExecutionRecord, 'status' | 'error'> {
  if (error instanceof ExecutionTimeoutError) {
    const limit = workflow.definition['TimeoutSeconds'];
    return { status: 'FAILED', error: { error: 'States.Timeout', cause: `the execution ran longer than its TimeoutSeconds (${String(limit)} s)` } };
  }
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED', error: { error: 'ExecutionAborted', cause: error.message } };
  const failure = error instanceof AslExecutionError && error.cause instanceof Error ? error.cause : error;
  if (failure instanceof Error) return { status: 'FAILED', error: { error: failure.name, cause: causeText(failure.cause ?? failure.message) } };
  return { status: 'FAILED', error: { error: 'Error', cause: causeText(failure) } };
}

/**
 * Calls a task handler as Lambda would: JSON in, JSON out, and an error reduced to its name and message (what
 * Retry/Catch match and what a Catch's Cause carries), so that nothing local leaks into the execution's data.
 */
function asLocalHandler(handler: TaskHandler, taskName: string): LocalHandler {
  return async (input) => {
    let result: unknown;
    try {
      result = await handler(input);
    } catch (error) {
      throw error instanceof Error ? namedError(error.name, error.message, error.stack) : namedError('Error', String(error));
    }
    return toJson(result ?? null, `the result of task "${taskName}"`);
  };
}

function namedError(name: string, message: string, stack?: string): Error {
  const error = new Error(message);
  error.name = name;
  if (stack !== undefined) error.stack = stack;
  return error;
}

function toJson(value: unknown, what: string): JsonValue {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InvalidInputError(`${what} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new InvalidInputError(`${what} is not JSON: got ${typeof value}`);
  return JSON.parse(text) as JsonValue;
}

function parseJsonInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw namedError('StepFunctions.InvalidExecutionInputException', `the child execution's Input is not JSON: ${(error as Error).message}`);
  }
}

function causeText(cause: unknown): string {
  if (typeof cause === 'string') return cause;
  if (cause instanceof Error) return cause.message;
  if (cause === undefined) return '';
  try {
    return JSON.stringify(cause);
  } catch {
    return String(cause);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * Saves a record as it changes, one write at a time and always the latest version: a burst of events costs one
 * or two writes, and a slow write can never overwrite a newer one.
 */
class RecordWriter {
  private tail: Promise<void> = Promise.resolve();
  private queued = false;

  constructor(
    private readonly store: ExecutionStore,
    private readonly record: ExecutionRecord,
  ) {}

  schedule(): void {
    if (this.queued) return;
    this.queued = true;
    this.tail = this.tail.then(async () => {
      this.queued = false;
      // A failed intermediate write is superseded by a later one; close() reports the final write's failure.
      await this.store.save(this.record).catch(() => undefined);
    });
  }

  /** Writes the final version; throws if that write fails (an earlier failed write is superseded by it). */
  async close(): Promise<void> {
    await this.tail;
    await this.store.save(this.record);
  }
}
