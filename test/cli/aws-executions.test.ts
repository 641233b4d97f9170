import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  type DescribeExecutionOutput,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import type { CliDependencies } from '../../cli/program';
import { foldHistory } from '../../tasks/adapters/aws/step-functions-executions';
import { lakehouseInProcess } from './in-process-cli';
import type { CliResult } from './run-cli';

const ACCOUNT = 'arn:aws:states:eu-west-1:123456789012';
const BACKFILL = `${ACCOUNT}:stateMachine:lakehouse-backfill`;
const HOURLY = `${ACCOUNT}:stateMachine:lakehouse-hourly`;
const STARTED = new Date('2021-07-13T10:00:00.000Z');
const STOPPED = new Date('2021-07-13T10:42:30.000Z');

const sfn = mockClient(SFNClient);
let sleeps: number[];
let deps: CliDependencies;

beforeEach(() => {
  sfn.reset();
  sleeps = [];
  deps = { aws: { sleep: async (ms) => void sleeps.push(ms) } };
});

afterAll(() => sfn.restore());

function execution(executionArn: string, fields: Partial<DescribeExecutionOutput>): DescribeExecutionOutput {
  const [, , , , , , stateMachine, name] = executionArn.split(':');
  return {
    executionArn,
    stateMachineArn: `${ACCOUNT}:stateMachine:${stateMachine}`,
    name,
    status: 'RUNNING',
    startDate: STARTED,
    ...fields,
  };
}

function sdkError<E extends SFNServiceException>(Type: new (options: { message: string; $metadata: object }) => E, message: string): E {
  return new Type({ message, $metadata: { httpStatusCode: 400 } });
}

/** The command's stderr: progress lines (indented), then the one line a failure ends with. */
function lastLine(result: CliResult): string {
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines.slice(0, -1).every((line) => line.startsWith('  '))).toBe(true);
  return lines[lines.length - 1] ?? '';
}

describe('lakehouse backfill --aws', () => {
  it('starts the backfill state machine with the local input under a new name, and polls with backoff until it succeeds', async () => {
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `${ACCOUNT}:execution:lakehouse-backfill:${input.name}`, startDate: STARTED }));
    sfn
      .on(DescribeExecutionCommand)
      .callsFakeOnce((input: { executionArn: string }) => execution(input.executionArn, {}))
      .callsFakeOnce((input: { executionArn: string }) => execution(input.executionArn, {}))
      .callsFakeOnce((input: { executionArn: string }) => execution(input.executionArn, {}))
      .callsFake((input: { executionArn: string }) =>
        execution(input.executionArn, {
          status: 'SUCCEEDED',
          stopDate: STOPPED,
          input: '{"from":"2021-07-12T00","to":"2021-07-13T00","concurrency":6}',
          output: '{"summary":{"hours":24,"succeeded":24,"failed":0}}',
        }),
      );

    const result = await lakehouseInProcess(['backfill', '--aws', '--state-machine', BACKFILL, '--from', '2021-07-12T00', '--to', '2021-07-13T00', '--concurrency', '6', '--region', 'eu-west-1'], deps);

    expect(result.stderr).not.toMatch(/lakehouse backfill:/);
    expect(result.status).toBe(0);
    const starts = sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
    expect(starts).toEqual([
      {
        stateMachineArn: BACKFILL,
        name: expect.stringMatching(/^backfill-2021-07-12T00_2021-07-13T00-[0-9a-f]{8}$/),
        input: '{"from":"2021-07-12T00","to":"2021-07-13T00","concurrency":6}',
      },
    ]);
    const name = starts[0]?.name;
    const executionArn = `${ACCOUNT}:execution:lakehouse-backfill:${name}`;
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual(Array(4).fill({ executionArn }));
    expect(sleeps).toEqual([1000, 2000, 4000]);
    expect(result.stdout).toContain(`execution ${name} (lakehouse-backfill) SUCCEEDED`);
    expect(result.stdout).toContain('duration: 42 min 30 s');
    expect(result.stdout).toContain('output:   {"summary":{"hours":24,"succeeded":24,"failed":0}}');
    expect(result.stderr).toContain(`  started ${executionArn}\n`);
    expect(result.stderr).toMatch(new RegExp(`^  ${name} RUNNING, .* elapsed$`, 'm'));
    expect(result.stderr).toMatch(new RegExp(`^  ${name} SUCCEEDED, .* elapsed$`, 'm'));
    expect(await (await sfn.call(0).thisValue.config.region)()).toBe('eu-west-1');
  });

  it('ends non-zero with one line carrying the error and the Lambda error message when the execution fails', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ACCOUNT}:execution:lakehouse-backfill:b1`, startDate: STARTED });
    const cause = JSON.stringify({
      errorType: 'BackfillIncompleteError',
      errorMessage: 'backfill 2021-07-12T00..2021-07-13T00 incomplete: 1 of 24 hours failed: 2021-07-12T05 (States.TaskFailed)',
      trace: ['BackfillIncompleteError: backfill ...', '    at run (/var/task/index.js:1:1)'],
    });
    sfn.on(DescribeExecutionCommand).resolves(execution(`${ACCOUNT}:execution:lakehouse-backfill:b1`, { status: 'FAILED', stopDate: STOPPED, error: 'BackfillIncompleteError', cause }));

    const result = await lakehouseInProcess(['backfill', '--aws', '--state-machine', BACKFILL, '--from', '2021-07-12T00', '--to', '2021-07-13T00'], deps);

    expect(result.status).toBe(1);
    expect(lastLine(result)).toBe(
      'lakehouse backfill: execution b1 FAILED: BackfillIncompleteError: backfill 2021-07-12T00..2021-07-13T00 incomplete: 1 of 24 hours failed: 2021-07-12T05 (States.TaskFailed)',
    );
    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input).toBe('{"from":"2021-07-12T00","to":"2021-07-13T00","concurrency":4}');
    expect(result.stdout).toContain('execution b1 (lakehouse-backfill) FAILED');
  });

  it.each(['TIMED_OUT', 'ABORTED'] as const)('ends non-zero when the execution is %s', async (status) => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ACCOUNT}:execution:lakehouse-backfill:b2`, startDate: STARTED });
    sfn.on(DescribeExecutionCommand).resolves(execution(`${ACCOUNT}:execution:lakehouse-backfill:b2`, { status, stopDate: STOPPED }));

    const result = await lakehouseInProcess(['backfill', '--aws', '--state-machine', BACKFILL, '--from', '2021-07-12T00', '--to', '2021-07-12T02'], deps);

    expect(result.status).toBe(1);
    expect(lastLine(result)).toBe(`lakehouse backfill: execution b2 ${status}`);
  });

  it('waits for an execution that DescribeExecution does not know yet', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ACCOUNT}:execution:lakehouse-backfill:b3`, startDate: STARTED });
    sfn
      .on(DescribeExecutionCommand)
      .rejectsOnce(sdkError(ExecutionDoesNotExist, "Execution Does Not Exist: 'b3'"))
      .resolves(execution(`${ACCOUNT}:execution:lakehouse-backfill:b3`, { status: 'SUCCEEDED', stopDate: STOPPED }));

    const result = await lakehouseInProcess(['backfill', '--aws', '--state-machine', BACKFILL, '--from', '2021-07-12T00', '--to', '2021-07-12T02'], deps);

    expect(result.status).toBe(0);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(2);
  });

  it('ends with one line naming the call and the SDK error when Step Functions refuses', async () => {
    const denied = new SFNServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      message: `User: arn:aws:iam::123456789012:user/ci is not authorized to perform: states:StartExecution on resource: ${BACKFILL}`,
      $metadata: { httpStatusCode: 400 },
    });
    sfn.on(StartExecutionCommand).rejects(denied);

    const result = await lakehouseInProcess(['backfill', '--aws', '--state-machine', BACKFILL, '--from', '2021-07-12T00', '--to', '2021-07-12T02'], deps);

    expect(result.status).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `lakehouse backfill: StartExecution of ${BACKFILL} failed: AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: states:StartExecution on resource: ${BACKFILL}`,
    ]);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it('refuses --aws without --state-machine, --state-machine without --aws, and a concurrency over 40, before any call', async () => {
    const cases: [string[], RegExp][] = [
      [['--aws'], /^lakehouse backfill: --aws needs --state-machine ARN$/],
      [['--state-machine', BACKFILL], /^lakehouse backfill: --state-machine and --region only apply with --aws$/],
      [['--aws', '--state-machine', BACKFILL, '--concurrency', '41'], /^lakehouse backfill: --concurrency must be at most 40/],
    ];
    for (const [extra, pattern] of cases) {
      const result = await lakehouseInProcess(['backfill', '--from', '2021-07-12T00', '--to', '2021-07-12T02', ...extra], deps);
      expect(result.status).toBe(1);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr.trimEnd()).toMatch(pattern);
    }
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('lakehouse run --aws', () => {
  it('starts the hourly state machine with {hour}', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ACCOUNT}:execution:lakehouse-hourly:h1`, startDate: STARTED });
    sfn.on(DescribeExecutionCommand).resolves(execution(`${ACCOUNT}:execution:lakehouse-hourly:h1`, { status: 'SUCCEEDED', stopDate: STOPPED }));

    const result = await lakehouseInProcess(['run', '--aws', '--state-machine', HOURLY, '--hour', '2021-07-12T05'], deps);

    expect(result.status).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: HOURLY, name: expect.stringMatching(/^hourly-2021-07-12T05-[0-9a-f]{8}$/), input: '{"hour":"2021-07-12T05"}' },
    ]);
  });
});

describe('lakehouse executions --aws', () => {
  const item = (name: string, status: 'SUCCEEDED' | 'FAILED' | 'RUNNING', stopped?: Date) => ({
    executionArn: `${ACCOUNT}:execution:lakehouse-backfill:${name}`,
    stateMachineArn: BACKFILL,
    name,
    status,
    startDate: STARTED,
    ...(stopped === undefined ? {} : { stopDate: stopped }),
  });

  it('follows nextToken across pages up to --limit, with the status filter, and says that more exist', async () => {
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [item('e1', 'FAILED', STOPPED), item('e2', 'FAILED', STOPPED)], nextToken: 't1' })
      .resolvesOnce({ executions: [item('e3', 'FAILED', STOPPED), item('e4', 'FAILED', STOPPED)], nextToken: 't2' })
      .resolves({ executions: [item('e5', 'FAILED', STOPPED)] });

    const result = await lakehouseInProcess(['executions', '--aws', '--state-machine', BACKFILL, '--limit', '3', '--status', 'failed'], deps);

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: BACKFILL, maxResults: 3, statusFilter: 'FAILED' },
      { stateMachineArn: BACKFILL, maxResults: 3, statusFilter: 'FAILED', nextToken: 't1' },
    ]);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+STARTED \(UTC\)\s+STOPPED \(UTC\)\s+DURATION$/);
    expect(lines.slice(1, 4).map((line) => line.split(/\s{2,}/))).toEqual([
      ['e1', 'FAILED', '2021-07-13 10:00:00', '2021-07-13 10:42:30', '42 min 30 s'],
      ['e2', 'FAILED', '2021-07-13 10:00:00', '2021-07-13 10:42:30', '42 min 30 s'],
      ['e3', 'FAILED', '2021-07-13 10:00:00', '2021-07-13 10:42:30', '42 min 30 s'],
    ]);
    expect(lines[4]).toBe('(more not shown; use --limit)');
    expect(lines).toHaveLength(5);
  });

  it('reads every page when the limit is not reached, and shows a running execution without a stop', async () => {
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [item('e1', 'RUNNING'), item('e2', 'SUCCEEDED', STOPPED)], nextToken: 't1' })
      .resolvesOnce({ executions: [item('e3', 'SUCCEEDED', STOPPED)] });

    const result = await lakehouseInProcess(['executions', '--aws', '--state-machine', BACKFILL], deps);

    expect(result.status).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: BACKFILL, maxResults: 50 },
      { stateMachineArn: BACKFILL, maxResults: 50, nextToken: 't1' },
    ]);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]?.split(/\s{2,}/)).toEqual(['e1', 'RUNNING', '2021-07-13 10:00:00', '-', '-']);
  });

  it('refuses an unknown --status with one line', async () => {
    const result = await lakehouseInProcess(['executions', '--aws', '--state-machine', BACKFILL, '--status', 'DONE'], deps);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('lakehouse executions: --status must be one of RUNNING, PENDING_REDRIVE, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, got "DONE"\n');
    expect(sfn.calls()).toHaveLength(0);
  });
});

/** A backfill's history: PlanHours retried once, a Map of two hours (one caught), SummarizeBackfill caught, then Fail. */
function backfillHistory(): HistoryEvent[] {
  const at = (id: number) => new Date(STARTED.getTime() + id * 1000);
  const event = (id: number, previousEventId: number, type: string, details: Partial<HistoryEvent> = {}): HistoryEvent =>
    ({ id, previousEventId, type, timestamp: at(id), ...details }) as HistoryEvent;
  const entered = (name: string) => ({ stateEnteredEventDetails: { name } });
  const exited = (name: string) => ({ stateExitedEventDetails: { name } });
  const lambdaCause = (type: string, message: string) => JSON.stringify({ errorType: type, errorMessage: message, trace: [] });
  const childCause = JSON.stringify({ ExecutionArn: `${ACCOUNT}:execution:lakehouse-hourly:h5`, Status: 'FAILED', Error: 'CommitConflictError', Cause: lambdaCause('CommitConflictError', 'catalog moved on') });
  return [
    event(1, 0, 'ExecutionStarted'),
    event(2, 1, 'TaskStateEntered', entered('PlanHours')),
    event(3, 2, 'LambdaFunctionScheduled'),
    event(4, 3, 'LambdaFunctionStarted'),
    event(5, 4, 'LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error: 'Lambda.ServiceException', cause: 'throttled' } }),
    event(6, 5, 'LambdaFunctionScheduled'),
    event(7, 6, 'LambdaFunctionStarted'),
    event(8, 7, 'LambdaFunctionSucceeded'),
    event(9, 8, 'TaskStateExited', exited('PlanHours')),
    event(10, 9, 'MapStateEntered', entered('RunHours')),
    event(11, 10, 'MapStateStarted', { mapStateStartedEventDetails: { length: 2 } }),
    event(12, 11, 'MapIterationStarted', { mapIterationStartedEventDetails: { name: 'RunHours', index: 0 } }),
    event(13, 11, 'MapIterationStarted', { mapIterationStartedEventDetails: { name: 'RunHours', index: 1 } }),
    event(14, 12, 'TaskStateEntered', entered('RunHourlyWorkflow')),
    event(15, 13, 'TaskStateEntered', entered('RunHourlyWorkflow')),
    event(16, 14, 'TaskScheduled'),
    event(17, 15, 'TaskScheduled'),
    event(18, 16, 'TaskSucceeded'),
    event(19, 17, 'TaskFailed', { taskFailedEventDetails: { resourceType: 'states', resource: 'startExecution.sync:2', error: 'States.TaskFailed', cause: childCause } }),
    event(20, 18, 'TaskStateExited', exited('RunHourlyWorkflow')),
    event(21, 19, 'TaskStateExited', exited('RunHourlyWorkflow')),
    event(22, 21, 'PassStateEntered', entered('RecordFailedHour')),
    event(23, 22, 'PassStateExited', exited('RecordFailedHour')),
    event(24, 20, 'MapIterationSucceeded', { mapIterationSucceededEventDetails: { name: 'RunHours', index: 0 } }),
    event(25, 23, 'MapIterationSucceeded', { mapIterationSucceededEventDetails: { name: 'RunHours', index: 1 } }),
    event(26, 25, 'MapStateSucceeded'),
    event(27, 26, 'MapStateExited', exited('RunHours')),
    event(28, 27, 'TaskStateEntered', entered('SummarizeBackfill')),
    event(29, 28, 'LambdaFunctionScheduled'),
    event(30, 29, 'LambdaFunctionStarted'),
    event(31, 30, 'LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error: 'BackfillIncompleteError', cause: lambdaCause('BackfillIncompleteError', '1 of 2 hours failed') } }),
    event(32, 31, 'TaskStateExited', exited('SummarizeBackfill')),
    event(33, 32, 'FailStateEntered', entered('FailExecution')),
    event(34, 33, 'ExecutionFailed', { executionFailedEventDetails: { error: 'BackfillIncompleteError', cause: lambdaCause('BackfillIncompleteError', '1 of 2 hours failed') } }),
  ];
}

describe('lakehouse executions show --aws', () => {
  it('describes the execution and folds its paginated history into one row per state visit', async () => {
    const arn = `${ACCOUNT}:execution:lakehouse-backfill:b1`;
    const history = backfillHistory();
    sfn.on(DescribeExecutionCommand).resolves(
      execution(arn, { status: 'FAILED', stopDate: STOPPED, input: '{ "from": "2021-07-12T00",\n "to": "2021-07-12T02" }', error: 'BackfillIncompleteError', cause: '1 of 2 hours failed' }),
    );
    sfn.on(GetExecutionHistoryCommand).resolvesOnce({ events: history.slice(0, 20), nextToken: 'h1' }).resolvesOnce({ events: history.slice(20) });

    const result = await lakehouseInProcess(['executions', 'show', '--aws', arn], deps);

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([{ executionArn: arn }]);
    expect(sfn.commandCalls(GetExecutionHistoryCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: arn, maxResults: 1000 },
      { executionArn: arn, maxResults: 1000, nextToken: 'h1' },
    ]);
    expect(result.stdout).toContain('execution b1 (lakehouse-backfill) FAILED');
    expect(result.stdout).toContain('  input:    {"from":"2021-07-12T00","to":"2021-07-12T02"}');
    expect(result.stdout).toContain('  error:    BackfillIncompleteError: 1 of 2 hours failed');
    const table = result.stdout.slice(result.stdout.indexOf('STATE')).trimEnd().split('\n');
    expect(table.slice(1).map((line) => line.split(/\s{2,}/))).toEqual([
      ['PlanHours', 'Task', 'SUCCEEDED', '10:00:02.000', '7.0 s', '1'],
      ['RunHours', 'Map', 'SUCCEEDED', '10:00:10.000', '17.0 s', '0'],
      ['RunHourlyWorkflow [0]', 'Task', 'SUCCEEDED', '10:00:14.000', '6.0 s', '0'],
      ['RunHourlyWorkflow [1]', 'Task', 'CAUGHT', '10:00:15.000', '6.0 s', '0', 'States.TaskFailed: CommitConflictError: catalog moved on'],
      ['RecordFailedHour [1]', 'Pass', 'SUCCEEDED', '10:00:22.000', '1.0 s', '0'],
      ['SummarizeBackfill', 'Task', 'CAUGHT', '10:00:28.000', '4.0 s', '0', 'BackfillIncompleteError: 1 of 2 hours failed'],
      ['FailExecution', 'Fail', 'FAILED', '10:00:33.000', '-', '0', 'BackfillIncompleteError: 1 of 2 hours failed'],
    ]);
  });

  it('starts the states a redrive runs again as new visits', () => {
    const history = backfillHistory();
    const redriven: HistoryEvent[] = [
      ...history,
      { id: 35, previousEventId: 34, type: 'ExecutionRedriven', timestamp: STOPPED, executionRedrivenEventDetails: { redriveCount: 1 } },
      { id: 36, previousEventId: 35, type: 'FailStateEntered', timestamp: STOPPED, stateEnteredEventDetails: { name: 'FailExecution' } },
      { id: 37, previousEventId: 36, type: 'ExecutionFailed', timestamp: STOPPED, executionFailedEventDetails: { error: 'Again', cause: 'still' } },
    ];
    const visits = foldHistory(redriven).filter((visit) => visit.name === 'FailExecution');
    expect(visits.map((visit) => [visit.status, visit.error?.error])).toEqual([
      ['FAILED', 'BackfillIncompleteError'],
      ['FAILED', 'Again'],
    ]);
  });
});

describe('lakehouse rerun --aws', () => {
  const original = `${ACCOUNT}:execution:lakehouse-hourly:hourly-2021-07-12T05-0badcafe`;
  // Spacing and key order that re-serialising would change: the rerun must send this text as it is.
  const input = `{"hour": "2021-07-12T05",  "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": "${ACCOUNT}:execution:lakehouse-backfill:b1"}`;

  it('starts the same state machine with the identical input under a new name, and follows it', async () => {
    sfn.on(StartExecutionCommand).callsFake((call: { name: string }) => ({ executionArn: `${ACCOUNT}:execution:lakehouse-hourly:${call.name}`, startDate: STOPPED }));
    sfn
      .on(DescribeExecutionCommand)
      .callsFake((call: { executionArn: string }) =>
        call.executionArn === original
          ? execution(original, { status: 'FAILED', stopDate: STOPPED, input })
          : execution(call.executionArn, { status: 'SUCCEEDED', startDate: STOPPED, stopDate: STOPPED, input, output: '{"hour":"2021-07-12T05"}' }),
      );

    const result = await lakehouseInProcess(['rerun', '--aws', original], deps);

    expect(result.stderr).not.toMatch(/lakehouse rerun:/);
    expect(result.status).toBe(0);
    const starts = sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input);
    expect(starts).toEqual([{ stateMachineArn: HOURLY, name: expect.stringMatching(/^lakehouse-hourly-2021-07-12T05-[0-9a-f]{8}$/), input }]);
    const rerunArn = `${ACCOUNT}:execution:lakehouse-hourly:${starts[0]?.name}`;
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([{ executionArn: original }, { executionArn: rerunArn }]);
    expect(result.stdout).toContain(`  rerun of: ${original}`);
    expect(result.stdout).toContain('SUCCEEDED');
  });

  it('starts it through the alias the original went through', async () => {
    const alias = `${HOURLY}:prod`;
    sfn.on(DescribeExecutionCommand, { executionArn: original }).resolves(execution(original, { status: 'FAILED', input, stateMachineAliasArn: alias }));
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ACCOUNT}:execution:lakehouse-hourly:r2`, startDate: STOPPED });
    sfn.on(DescribeExecutionCommand, { executionArn: `${ACCOUNT}:execution:lakehouse-hourly:r2` }).resolves(execution(`${ACCOUNT}:execution:lakehouse-hourly:r2`, { status: 'SUCCEEDED', stopDate: STOPPED }));

    const result = await lakehouseInProcess(['rerun', '--aws', original], deps);

    expect(result.status).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.stateMachineArn).toBe(alias);
  });

  it('ends with one line when the execution does not exist', async () => {
    sfn.on(DescribeExecutionCommand).rejects(sdkError(ExecutionDoesNotExist, `Execution Does Not Exist: '${original}'`));

    const result = await lakehouseInProcess(['rerun', '--aws', original], deps);

    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`lakehouse rerun: DescribeExecution of ${original} failed: ExecutionDoesNotExist: Execution Does Not Exist: '${original}'\n`);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

describe('lakehouse redrive', () => {
  const arn = `${ACCOUNT}:execution:lakehouse-backfill:b1`;
  const redriveDate = new Date('2021-07-13T11:00:00.000Z');

  it('redrives the execution and follows it, not counting a description from before the redrive', async () => {
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce(execution(arn, { status: 'FAILED', stopDate: STOPPED, error: 'BackfillIncompleteError', cause: 'stale' }))
      .resolvesOnce(execution(arn, { status: 'RUNNING', redriveCount: 1, redriveDate }))
      .resolves(execution(arn, { status: 'SUCCEEDED', stopDate: new Date('2021-07-13T11:05:00.000Z'), redriveCount: 1, redriveDate, output: '{}' }));

    const result = await lakehouseInProcess(['redrive', '--aws', arn], deps);

    expect(result.stderr).not.toMatch(/lakehouse redrive:/);
    expect(result.status).toBe(0);
    expect(sfn.commandCalls(RedriveExecutionCommand).map((call) => call.args[0].input)).toEqual([{ executionArn: arn }]);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(3);
    expect(result.stderr).not.toMatch(/b1 FAILED/);
    expect(result.stdout).toContain('execution b1 (lakehouse-backfill) SUCCEEDED');
    expect(result.stdout).toContain(`  redriven: 1 time, last at ${redriveDate.toISOString()}`);
  });

  it('ends with one line when Step Functions cannot redrive it', async () => {
    sfn.on(RedriveExecutionCommand).rejects(sdkError(ExecutionNotRedrivable, 'Execution cannot be redriven: it succeeded'));

    const result = await lakehouseInProcess(['redrive', '--aws', arn], deps);

    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`lakehouse redrive: RedriveExecution of ${arn} failed: ExecutionNotRedrivable: Execution cannot be redriven: it succeeded\n`);
  });

  it('says without --aws that redrive is a Step Functions action and rerun is the local one', async () => {
    const result = await lakehouseInProcess(['redrive', arn], deps);

    expect(result.status).toBe(1);
    expect(result.stderr).toBe('lakehouse redrive: redrive is a Step Functions action and needs --aws; locally, "lakehouse rerun ID" runs an execution again with the same input\n');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('says how to give a region when the SDK finds none', async () => {
    sfn.on(RedriveExecutionCommand).rejects(new Error('Region is missing'));

    const result = await lakehouseInProcess(['redrive', '--aws', arn], deps);

    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`lakehouse redrive: RedriveExecution of ${arn} failed: Region is missing (set AWS_REGION, or pass --region)\n`);
  });
});
