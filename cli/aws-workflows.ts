import { setTimeout as sleep } from 'node:timers/promises';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Command } from 'commander';
import {
  EXECUTION_STATUSES,
  hasEnded,
  StepFunctionsExecutions,
  type AwsExecution,
  type AwsExecutionStatus,
  type AwsStateVisit,
} from '../tasks/adapters/aws/step-functions-executions';
import { NotFoundError } from '../tasks/ports/errors';
import { executionId } from '../tasks/runtime/local-workflow-runner';
import { CliError } from './command-helpers';
import { formatDuration, renderStateTable, renderTable, type StateRow } from './render';

/** What the `--aws` mode of the commands needs from outside; tests replace the waiting and the clock. */
export interface AwsCliDependencies {
  /** Builds the Step Functions client. @default `new SFNClient({ region })`: the SDK's default chain for what is not given */
  readonly createClient?: (region: string | undefined) => SFNClient;
  /** Waits between two DescribeExecution polls. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The options `addAwsOptions` adds, as commander parses them. */
export interface AwsOptions {
  readonly aws?: boolean;
  readonly stateMachine?: string;
  readonly region?: string;
}

/** `--aws`, `--region` and, if `stateMachine` describes it, `--state-machine <arn>`. */
export function addAwsOptions(command: Command, stateMachine?: string): Command {
  command.option('--aws', "run against AWS Step Functions instead of the local runner (region and credentials from the AWS SDK's default chain; --lake is not used)");
  if (stateMachine !== undefined) command.option('--state-machine <arn>', `with --aws: ${stateMachine}`);
  return command.option('--region <region>', 'with --aws: the AWS region (default: the SDK\'s, e.g. AWS_REGION)');
}

/**
 * The AWS settings of a command, or undefined to run it locally. Refuses `--state-machine` or `--region`
 * without `--aws` (which would otherwise quietly run locally) and `--aws` without a state machine it needs.
 */
export function awsMode(options: AwsOptions, needsStateMachine: boolean): { readonly stateMachineArn: string; readonly region?: string } | undefined {
  if (!options.aws) {
    if (options.stateMachine !== undefined || options.region !== undefined) throw new CliError('--state-machine and --region only apply with --aws');
    return undefined;
  }
  if (needsStateMachine && options.stateMachine === undefined) throw new CliError('--aws needs --state-machine ARN');
  return { stateMachineArn: options.stateMachine ?? '', ...(options.region === undefined ? {} : { region: options.region }) };
}

export function parseStatus(value: string): AwsExecutionStatus {
  const status = value.toUpperCase();
  if (!(EXECUTION_STATUSES as readonly string[]).includes(status)) throw new CliError(`--status must be one of ${EXECUTION_STATUSES.join(', ')}, got "${value}"`);
  return status as AwsExecutionStatus;
}

const FIRST_POLL_MS = 1000;
const MAX_POLL_MS = 10_000;
const HEARTBEAT_MS = 60_000;
/** DescribeExecution is eventually consistent: polls that may not see a just started or redriven execution yet. */
const UNSEEN_POLLS = 5;
/** Step Functions execution names are at most 80 characters. */
const MAX_NAME_LENGTH = 80;

/** The commands' `--aws` mode: Step Functions executions started, followed, listed and shown. */
export class AwsWorkflows {
  private readonly executions: StepFunctionsExecutions;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(region: string | undefined, deps: AwsCliDependencies = {}) {
    const client = (deps.createClient ?? ((given) => new SFNClient(given === undefined ? {} : { region: given })))(region);
    this.executions = new StepFunctionsExecutions({ client });
    this.sleep = deps.sleep ?? ((ms) => sleep(ms));
    this.now = deps.now ?? Date.now;
  }

  /**
   * Starts `stateMachineArn` on `input` and follows it to its end. The name is new on every call
   * (`<workflow>-<hours>-<8 hex>`, like the local ids): Step Functions keeps a name taken for 90 days, so a
   * name derived from the input alone would refuse to backfill the same hours again; the SDK's own retries
   * send the same name, so a retried StartExecution finds the running execution rather than starting a second.
   */
  async start(stateMachineArn: string, workflow: string, input: unknown): Promise<void> {
    await explained(async () => {
      const name = executionName(workflow, input);
      const { executionArn } = await this.executions.start(stateMachineArn, name, JSON.stringify(input));
      process.stderr.write(`  started ${executionArn}\n`);
      await this.report(await this.follow(executionArn, name), {});
    });
  }

  /**
   * A new execution of the state machine the given one ran (through the same alias, if it was started through one),
   * with its input text unchanged.
   */
  async rerun(executionArn: string): Promise<void> {
    await explained(async () => {
      const original = await this.executions.describe(executionArn);
      if (original.input === undefined) throw new CliError(`Step Functions did not return the input of ${executionArn}, so it cannot be rerun with the same input`);
      const target = original.stateMachineAliasArn ?? original.stateMachineArn;
      const name = executionName(stateMachineName(original.stateMachineArn), parseJson(original.input));
      const { executionArn: rerunArn } = await this.executions.start(target, name, original.input);
      process.stderr.write(`  started ${rerunArn}\n`);
      await this.report(await this.follow(rerunArn, name), { rerunOf: executionArn });
    });
  }

  /** RedriveExecution: the failed, timed-out or aborted execution resumes from the states that did not succeed. */
  async redrive(executionArn: string): Promise<void> {
    await explained(async () => {
      const redrivenAt = await this.executions.redrive(executionArn);
      process.stderr.write(`  redriven ${executionArn}\n`);
      await this.report(await this.follow(executionArn, executionNameOf(executionArn), redrivenAt), {});
    });
  }

  async list(stateMachineArn: string, options: { readonly limit: number; readonly status?: AwsExecutionStatus }): Promise<void> {
    await explained(async () => {
      const { executions, more } = await this.executions.list(stateMachineArn, options);
      if (executions.length === 0) {
        process.stdout.write(`no ${options.status === undefined ? '' : `${options.status} `}executions of ${stateMachineArn}\n`);
        return;
      }
      const rows = executions.map((execution) => [
        execution.name,
        execution.status,
        utc(execution.startedAt),
        execution.stoppedAt === undefined ? '-' : utc(execution.stoppedAt),
        formatDuration(durationMs(execution)),
      ]);
      process.stdout.write(`${renderTable(['NAME', 'STATUS', 'STARTED (UTC)', 'STOPPED (UTC)', 'DURATION'], rows)}\n`);
      if (more) process.stdout.write('(more not shown; use --limit)\n');
    });
  }

  /** DescribeExecution and the whole history, folded into one row per state visit. */
  async show(executionArn: string): Promise<void> {
    await explained(async () => {
      const execution = await this.executions.describe(executionArn);
      const states = await this.executions.states(executionArn);
      process.stdout.write(`${describeAwsExecution(execution, { states })}\n`);
    });
  }

  private async report(execution: AwsExecution, options: { readonly rerunOf?: string }): Promise<void> {
    process.stdout.write(`${describeAwsExecution(execution, options)}\n`);
    if (execution.status !== 'SUCCEEDED') throw new CliError(failureLine(execution));
  }

  /**
   * Polls DescribeExecution, waiting twice as long each time up to 10 s, until the execution ends; prints a line
   * to stderr when its status changes, and a minute after the last line otherwise. With `since`, a description
   * from before that redrive does not count.
   */
  private async follow(executionArn: string, name: string, since?: Date): Promise<AwsExecution> {
    const began = this.now();
    let lastLineAt = began;
    let lastStatus: string | undefined;
    let delay = FIRST_POLL_MS;
    let unseen = 0;
    for (;;) {
      let execution: AwsExecution | undefined;
      try {
        execution = await this.executions.describe(executionArn);
      } catch (error) {
        if (!(error instanceof NotFoundError) || unseen >= UNSEEN_POLLS) throw error;
        unseen += 1;
      }
      if (execution !== undefined && since !== undefined && !redrivenSince(execution, since) && unseen < UNSEEN_POLLS) {
        unseen += 1;
        execution = undefined;
      }
      if (execution !== undefined) {
        const now = this.now();
        const elapsed = formatDuration(now - began);
        if (execution.status !== lastStatus) {
          process.stderr.write(`  ${name} ${execution.status}, ${elapsed} elapsed\n`);
          lastStatus = execution.status;
          lastLineAt = now;
        } else if (now - lastLineAt >= HEARTBEAT_MS) {
          process.stderr.write(`  ${name} still ${execution.status}, ${elapsed} elapsed\n`);
          lastLineAt = now;
        }
        if (hasEnded(execution.status)) return execution;
      }
      await this.sleep(delay);
      delay = Math.min(delay * 2, MAX_POLL_MS);
    }
  }
}

/** A readable account of one Step Functions execution, in the local `describeExecution`'s layout. */
export function describeAwsExecution(execution: AwsExecution, options: { readonly states?: readonly AwsStateVisit[]; readonly rerunOf?: string } = {}): string {
  const lines = [
    `execution ${execution.name} (${stateMachineName(execution.stateMachineArn)}) ${execution.status}`,
    `  arn:      ${execution.executionArn}`,
    `  input:    ${execution.input === undefined ? '(not returned)' : compactJson(execution.input)}`,
    `  started:  ${execution.startedAt.toISOString()}${execution.stoppedAt ? `   stopped: ${execution.stoppedAt.toISOString()}` : ''}   duration: ${formatDuration(durationMs(execution))}`,
  ];
  if (execution.redriveCount > 0) lines.push(`  redriven: ${execution.redriveCount} time${execution.redriveCount === 1 ? '' : 's'}, last at ${execution.redrivenAt?.toISOString() ?? '?'}`);
  if (options.rerunOf) lines.push(`  rerun of: ${options.rerunOf}`);
  if (execution.error !== undefined || execution.cause !== undefined) lines.push(`  error:    ${errorText(execution)}`);
  if (execution.output !== undefined) lines.push(`  output:   ${compactJson(execution.output)}`);
  if (options.states) {
    const rows = options.states.map((state): StateRow => ({
      label: state.mapIndex.length === 0 ? state.name : `${state.name} [${state.mapIndex.join('.')}]`,
      type: state.type,
      status: state.status,
      enteredAt: state.enteredAt.toISOString(),
      ...(state.exitedAt === undefined ? {} : { durationMs: state.exitedAt.getTime() - state.enteredAt.getTime() }),
      retries: state.retries,
      ...(state.error ? { error: `${state.error.error}: ${readableCause(state.error.cause)}` } : {}),
    }));
    lines.push('', renderStateTable(rows));
  }
  return lines.join('\n');
}

/** The one line a command ends with when its execution did not succeed. */
function failureLine(execution: AwsExecution): string {
  const error = execution.error !== undefined || execution.cause !== undefined ? `: ${errorText(execution)}` : '';
  return `execution ${execution.name} ${execution.status}${error}`;
}

function errorText(execution: AwsExecution): string {
  const cause = readableCause(execution.cause ?? '');
  return cause === '' ? (execution.error ?? '') : `${execution.error ?? 'Error'}: ${cause}`;
}

/**
 * A cause on one line. A Lambda error's cause is its JSON report (errorMessage, errorType, trace), and a failed
 * `startExecution.sync` task's is the child execution's description (Error, Cause): the message is what reads.
 */
export function readableCause(cause: string, depth = 0): string {
  const parsed = depth < 3 ? (parseJson(cause) as { errorMessage?: unknown; Error?: unknown; Cause?: unknown } | undefined) : undefined;
  let text = cause;
  if (parsed !== null && typeof parsed === 'object') {
    if (typeof parsed.errorMessage === 'string') text = parsed.errorMessage;
    else if (typeof parsed.Cause === 'string') {
      const inner = readableCause(parsed.Cause, depth + 1);
      text = typeof parsed.Error === 'string' ? `${parsed.Error}: ${inner}` : inner;
    }
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** SDK failures keep their one line; a missing region says how to give one. */
async function explained(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof Error && /Region is missing$/.test(error.message)) {
      throw new CliError(`${error.message} (set AWS_REGION, or pass --region)`, { cause: error });
    }
    throw error;
  }
}

/** `<workflow>-<hour or from_to>-<8 hex>`, shortened at the workflow's end to fit Step Functions' 80 characters. */
function executionName(workflow: string, input: unknown): string {
  const rest = executionId(workflow, input).slice(workflow.length);
  return `${workflow.slice(0, Math.max(1, MAX_NAME_LENGTH - rest.length))}${rest}`;
}

/** `arn:aws:states:<region>:<account>:stateMachine:<name>[:<version or alias>]` → `<name>`. */
function stateMachineName(arn: string): string {
  return arn.split(':')[6] ?? arn;
}

/** `arn:aws:states:<region>:<account>:execution:<state machine>:<name>` → `<name>`. */
function executionNameOf(arn: string): string {
  return arn.split(':')[7] ?? arn;
}

function redrivenSince(execution: AwsExecution, since: Date): boolean {
  // The two dates come from the same service; a second's slack covers rounding.
  return execution.status === 'RUNNING' || (execution.redrivenAt !== undefined && execution.redrivenAt.getTime() >= since.getTime() - 1000);
}

function durationMs(execution: { readonly startedAt: Date; readonly stoppedAt?: Date }): number | undefined {
  return execution.stoppedAt === undefined ? undefined : execution.stoppedAt.getTime() - execution.startedAt.getTime();
}

function utc(date: Date): string {
  return date.toISOString().replace('T', ' ').slice(0, 19);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function compactJson(text: string): string {
  const parsed = parseJson(text);
  return parsed === undefined ? text.replace(/\s+/g, ' ') : JSON.stringify(parsed);
}
