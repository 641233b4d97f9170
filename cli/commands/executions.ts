import type { Command } from 'commander';
import type { ExecutionRecord } from '../../tasks/runtime/execution-store';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';
import { addAwsOptions, AwsWorkflows, awsMode, parseStatus, type AwsCliDependencies, type AwsOptions } from '../aws-workflows';
import { action, addLakeOption, CliError, existingLake, parsePositiveInteger } from '../command-helpers';
import { hourlyProgress } from '../progress';
import { formatDuration, renderStateTable, renderTable, type StateRow } from '../render';
import { deliverPriceSignals } from '../summary';

export function registerExecutions(program: Command, aws: AwsCliDependencies = {}): void {
  const executions = addAwsOptions(
    addLakeOption(program.command('executions').description('list the workflow executions recorded in the lake (or with --aws, of a Step Functions state machine), newest first')),
    'the ARN of the state machine whose executions to list',
  )
    .option('--limit <n>', 'show at most this many', '50')
    .option('--status <status>', 'only executions with this status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE)')
    .action(
      action('executions', async (options: { lake: string; limit: string; status?: string } & AwsOptions) => {
        const limit = parsePositiveInteger(options.limit, '--limit');
        const status = options.status === undefined ? undefined : parseStatus(options.status);
        const onAws = awsMode(options, true);
        if (onAws) {
          await new AwsWorkflows(onAws.region, aws).list(onAws.stateMachineArn, { limit, ...(status === undefined ? {} : { status }) });
          return;
        }
        const lake = await existingLake(options.lake);
        const records = (await openLocalRuntime(lake).executions.list()).filter((record) => status === undefined || record.status === status);
        const shown = records.slice(0, limit);
        if (shown.length === 0) {
          process.stdout.write(status === undefined ? 'no executions yet\n' : `no ${status} executions\n`);
          return;
        }
        const rows = shown.map((record) => [
          record.id,
          record.stateMachine,
          subjectOf(record),
          record.status,
          record.startedAt.replace('T', ' ').slice(0, 19),
          formatDuration(record.durationMs),
        ]);
        process.stdout.write(`${renderTable(['ID', 'WORKFLOW', 'HOURS', 'STATUS', 'STARTED (UTC)', 'DURATION'], rows)}\n`);
        if (records.length > shown.length) process.stdout.write(`(${records.length - shown.length} older not shown; use --limit)\n`);
      }),
    );

  addAwsOptions(
    addLakeOption(executions.command('show <id>').description('show one execution: input, output or error, and every state with its timing (with --aws, <id> is an execution ARN)')),
  ).action(
    action('executions show', async (id: string, options: { lake: string } & AwsOptions) => {
      const onAws = awsMode(options, false);
      if (onAws) {
        await new AwsWorkflows(onAws.region, aws).show(id);
        return;
      }
      const lake = await existingLake(options.lake);
      const record = await openLocalRuntime(lake).executions.get(id);
      process.stdout.write(`${describeExecution(record, { states: true })}\n`);
    }),
  );

  addAwsOptions(
    addLakeOption(program.command('rerun <id>').description('start a new execution of the same workflow with the same input (with --aws, <id> is an execution ARN), and follow it')),
  ).action(
    action('rerun', async (id: string, options: { lake: string } & AwsOptions) => {
      const onAws = awsMode(options, false);
      if (onAws) {
        await new AwsWorkflows(onAws.region, aws).rerun(id);
        return;
      }
      const lake = await existingLake(options.lake);
      const runtime = openLocalRuntime(lake, { onEvent: hourlyProgress(await expectedHours(lake, id)) });
      const record = await runtime.runner.rerun(id);
      process.stdout.write(`${describeExecution(record)}\n${await deliverPriceSignals(runtime.pricing)}\n`);
      if (record.status !== 'SUCCEEDED') {
        throw new CliError(`rerun ${record.id} of ${id} ${record.status}: ${record.error?.error ?? ''} ${record.error?.cause ?? ''}`.trim());
      }
    }),
  );
}

async function expectedHours(lake: string, id: string): Promise<number> {
  const original = await openLocalRuntime(lake).executions.get(id);
  return original.stateMachine === 'hourly' ? 1 : original.states.filter((state) => state.name === 'RunHourlyWorkflow').length;
}

function subjectOf(record: ExecutionRecord): string {
  const input = (record.input ?? {}) as { hour?: string; from?: string; to?: string };
  if (input.hour) return input.hour;
  if (input.from && input.to) return `${input.from} .. ${input.to}`;
  return '-';
}

/** A readable account of one execution; with `states`, every state's entry, timing and outcome. */
export function describeExecution(record: ExecutionRecord, options: { states?: boolean } = {}): string {
  const lines = [
    `execution ${record.id} (${record.stateMachine}) ${record.status}`,
    `  input:    ${JSON.stringify(record.input)}`,
    `  started:  ${record.startedAt}${record.stoppedAt ? `   stopped: ${record.stoppedAt}` : ''}   duration: ${formatDuration(record.durationMs)}`,
  ];
  if (record.parentId) lines.push(`  started by: ${record.parentId}`);
  if (record.rerunOf) lines.push(`  rerun of:   ${record.rerunOf}`);
  if (record.error) lines.push(`  error:    ${record.error.error}: ${record.error.cause}`);
  if (record.output !== undefined && options.states) lines.push(`  output:   ${JSON.stringify(record.output)}`);
  if (options.states) {
    const rows = record.states.map((state): StateRow => ({
      label: state.mapIndex === undefined ? state.name : `${state.name} [${state.mapIndex}]`,
      type: state.type,
      status: state.status,
      enteredAt: state.enteredAt,
      ...(state.durationMs === undefined ? {} : { durationMs: state.durationMs }),
      retries: state.retries,
      ...(state.error ? { error: `${state.error.error}: ${state.error.cause}` } : {}),
    }));
    lines.push('', renderStateTable(rows));
  }
  return lines.join('\n');
}
