import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { InvalidInputError, NotFoundError, TransientStorageError } from '../../tasks/ports/errors';
import { run as planHours } from '../../tasks/plan-hours/run';
import { ExecutionStore, type ExecutionRecord } from '../../tasks/runtime/execution-store';
import { LocalWorkflowRunner, type WorkflowEvent } from '../../tasks/runtime/local-workflow-runner';
import type { TaskHandler } from '../../tasks/runtime/task-registry';
import { WorkflowDefinitionError } from '../../tasks/runtime/workflow-definitions';
import { run as summarizeBackfill } from '../../tasks/summarize-backfill/run';

type CrawlInput = { hour: string; executionId: string };

function registry(crawl: TaskHandler) {
  return {
    crawl,
    merge: async () => ({ partitionsTouched: [], partitionsToCompact: [] }),
    compact: async () => ({ partitionsCompacted: 0 }),
    aggregate: async () => ({ filesWritten: 0 }),
    signals: async () => ({ written: 0 }),
    vacuum: async () => ({ filesDeleted: 0 }),
    'plan-hours': async (input: unknown) => planHours(input),
    'summarize-backfill': async (input: unknown) => summarizeBackfill(input),
  };
}

const okCrawl: TaskHandler = async (input) => ({ crawled: (input as CrawlInput).hour });

function stateNamed(record: ExecutionRecord, name: string, mapIndex?: number) {
  const state = record.states.find((candidate) => candidate.name === name && candidate.mapIndex === mapIndex);
  if (state === undefined) throw new Error(`no state ${name}[${mapIndex}] in ${record.id}`);
  return state;
}

describe('LocalWorkflowRunner', () => {
  let lake: string;

  beforeEach(() => {
    lake = mkdtempSync(path.join(tmpdir(), 'runner-'));
  });

  afterEach(() => {
    rmSync(lake, { recursive: true, force: true });
  });

  function runner(crawl: TaskHandler = okCrawl, options: { onEvent?: (execution: ExecutionRecord, event: WorkflowEvent) => void } = {}) {
    return new LocalWorkflowRunner({ lake, tasks: registry(crawl), retryIntervalOverrideMs: 0, ...options });
  }

  describe('hourly', () => {
    it('runs every state in order and records the execution with its timings', async () => {
      const calls: unknown[] = [];
      const record = await runner(async (input) => {
        calls.push(input);
        return { crawled: (input as CrawlInput).hour };
      }).start('hourly', { hour: '2021-07-12T05' });

      expect(record.status).toBe('SUCCEEDED');
      expect(record.id).toMatch(/^hourly-2021-07-12T05-[0-9a-f]{8}$/);
      expect(record.output).toEqual({
        hour: '2021-07-12T05',
        crawl: { crawled: '2021-07-12T05' },
        merge: { partitionsTouched: [], partitionsToCompact: [] },
        compact: { partitionsCompacted: 0 },
        aggregate: { filesWritten: 0 },
        priceSignals: { written: 0 },
        vacuum: { filesDeleted: 0 },
      });
      expect(calls).toEqual([{ hour: '2021-07-12T05', executionId: record.executionArn }]);
      expect(record.executionArn).toBe(`arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:${record.id}`);
      expect(record.states.map((state) => [state.name, state.status])).toEqual([
        ['CrawlRawHour', 'SUCCEEDED'],
        ['MergeLateEvents', 'SUCCEEDED'],
        ['CompactPartitions', 'SUCCEEDED'],
        ['AggregateTouchedHours', 'SUCCEEDED'],
        ['WritePriceSignals', 'SUCCEEDED'],
        ['VacuumExpiredFiles', 'SUCCEEDED'],
        ['FinishHour', 'SUCCEEDED'],
      ]);
      for (const state of record.states) {
        expect(state.durationMs).toBeGreaterThanOrEqual(0);
        expect(Date.parse(state.exitedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(state.enteredAt));
      }
      expect(record.durationMs).toBeGreaterThanOrEqual(0);
      expect(record.pid).toBe(process.pid);
      await expect(new ExecutionStore(lake).get(record.id)).resolves.toEqual(record);
    });

    it('saves the record while the execution runs', async () => {
      let release!: () => void;
      let entered!: () => void;
      const crawlEntered = new Promise<void>((resolve) => (entered = resolve));
      const running = runner(async () => {
        entered();
        await new Promise<void>((resolve) => (release = resolve));
        return {};
      }).start('hourly', { hour: '2021-07-12T05' });
      await crawlEntered;
      const store = new ExecutionStore(lake);
      let midway: ExecutionRecord | undefined;
      for (const deadline = Date.now() + 2000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 10))) {
        [midway] = await store.list();
        if (midway?.states.length) break;
      }
      expect(midway?.status).toBe('RUNNING');
      expect(midway?.states.map((state) => [state.name, state.status])).toEqual([['CrawlRawHour', 'RUNNING']]);
      release();
      expect((await running).status).toBe('SUCCEEDED');
    });

    it('retries a transient error and records the retries', async () => {
      let calls = 0;
      const record = await runner(async () => {
        calls += 1;
        if (calls <= 2) throw new TransientStorageError(`disk hiccup ${calls}`);
        return { ok: true };
      }).start('hourly', { hour: '2021-07-12T05' });

      expect(record.status).toBe('SUCCEEDED');
      expect(calls).toBe(3);
      const crawl = stateNamed(record, 'CrawlRawHour');
      expect(crawl).toMatchObject({ status: 'SUCCEEDED', retries: 2, output: expect.objectContaining({ crawl: { ok: true } }) });
      expect(crawl.retriedErrors).toEqual([
        { error: 'TransientStorageError', cause: 'disk hiccup 1' },
        { error: 'TransientStorageError', cause: 'disk hiccup 2' },
      ]);
      expect(crawl.error).toBeUndefined();
    });

    it('gives up after the Retry attempts and fails with the last error', async () => {
      let calls = 0;
      const record = await runner(async () => {
        calls += 1;
        throw new TransientStorageError('disk gone');
      }).start('hourly', { hour: '2021-07-12T05' });

      expect(calls).toBe(4);
      expect(record.status).toBe('FAILED');
      expect(record.error).toEqual({ error: 'TransientStorageError', cause: 'disk gone' });
      expect(stateNamed(record, 'CrawlRawHour')).toMatchObject({ status: 'CAUGHT', retries: 3 });
    });

    it('does not retry InvalidInputError: the Catch fails the execution with the task error name and message', async () => {
      let calls = 0;
      const record = await runner(async () => {
        calls += 1;
        throw new InvalidInputError('invalid hour "nope": expected YYYY-MM-DDTHH');
      }).start('hourly', { hour: 'nope' });

      expect(calls).toBe(1);
      expect(record.status).toBe('FAILED');
      expect(record.id).toMatch(/^hourly-[0-9a-f]{8}$/);
      expect(record.error).toEqual({ error: 'InvalidInputError', cause: 'invalid hour "nope": expected YYYY-MM-DDTHH' });
      expect(record.states.map((state) => [state.name, state.status])).toEqual([
        ['CrawlRawHour', 'CAUGHT'],
        ['FailExecution', 'FAILED'],
      ]);
      expect(stateNamed(record, 'CrawlRawHour')).toMatchObject({
        retries: 0,
        error: { error: 'InvalidInputError', cause: 'invalid hour "nope": expected YYYY-MM-DDTHH' },
      });
      await expect(new ExecutionStore(lake).get(record.id)).resolves.toMatchObject({ status: 'FAILED' });
    });

    it('records a task that throws something other than an Error', async () => {
      const record = await runner(async () => {
        throw 'plain string';
      }).start('hourly', { hour: '2021-07-12T05' });
      expect(record.error).toEqual({ error: 'Error', cause: 'plain string' });
    });

    it('reports each event with the record as it stands', async () => {
      const events: string[] = [];
      await runner(okCrawl, {
        onEvent: (execution, event) => events.push(`${execution.stateMachine} ${event.type}${event.state ? ` ${event.state}` : ''}`),
      }).start('hourly', { hour: '2021-07-12T05' });
      expect(events[0]).toBe('hourly ExecutionStarted');
      expect(events).toContain('hourly StateEntered CrawlRawHour');
      expect(events).toContain('hourly StateExited WritePriceSignals');
      expect(events.at(-1)).toBe('hourly ExecutionSucceeded');
    });
  });

  describe('backfill', () => {
    it('runs one child hourly execution per hour, each recorded with its parent', async () => {
      const crawled: string[] = [];
      const backfill = await runner(async (input) => {
        crawled.push((input as CrawlInput).hour);
        return {};
      }).start('backfill', { from: '2021-07-12T22', to: '2021-07-13T01', concurrency: 2 });

      expect(backfill.status).toBe('SUCCEEDED');
      expect(backfill.id).toMatch(/^backfill-2021-07-12T22_2021-07-13T01-[0-9a-f]{8}$/);
      expect(crawled.sort()).toEqual(['2021-07-12T22', '2021-07-12T23', '2021-07-13T00']);
      expect(backfill.output).toMatchObject({ summary: { hours: 3, succeeded: 3, failed: 0 } });

      const children = (await new ExecutionStore(lake).list()).filter((record) => record.stateMachine === 'hourly');
      expect(children).toHaveLength(3);
      for (const child of children) {
        expect(child.parentId).toBe(backfill.id);
        expect(child.status).toBe('SUCCEEDED');
        expect(child.input).toEqual({ hour: expect.any(String), AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: backfill.executionArn });
      }
      // A succeeded hour's result is {}: a range of years stays within Step Functions' payload limit.
      expect((backfill.output as { results: unknown[] }).results).toEqual([{}, {}, {}]);
      expect([0, 1, 2].map((index) => stateNamed(backfill, 'RunHourlyWorkflow', index).status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
      expect(backfill.states.filter((state) => state.status === 'RUNNING')).toEqual([]);
    });

    it.each([1, 2, 3])('runs at most %i hours at once, and reaches that many', async (concurrency) => {
      let current = 0;
      let max = 0;
      const crawl: TaskHandler = async () => {
        current += 1;
        max = Math.max(max, current);
        // Holds each call until the Map has started as many as it may, so that an unbounded Map would exceed it.
        const deadline = Date.now() + 1000;
        while (current < concurrency && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        await new Promise((resolve) => setTimeout(resolve, 20));
        current -= 1;
        return {};
      };
      const backfill = await runner(crawl).start('backfill', { from: '2021-07-12T00', to: '2021-07-12T06', concurrency });
      expect(backfill.status).toBe('SUCCEEDED');
      expect(max).toBe(concurrency);
    });

    it('fails with BackfillIncompleteError when an hour fails, while the other hours succeed', async () => {
      const backfill = await runner(async (input) => {
        if ((input as CrawlInput).hour === '2021-07-12T01') throw new InvalidInputError('raw hour 2021-07-12T01 is unreadable');
        return {};
      }).start('backfill', { from: '2021-07-12T00', to: '2021-07-12T03' });

      expect(backfill.status).toBe('FAILED');
      expect(backfill.error?.error).toBe('BackfillIncompleteError');
      expect(backfill.error?.cause).toMatch(/1 of 3 hours failed: 2021-07-12T01 InvalidInputError: raw hour 2021-07-12T01 is unreadable \[execution hourly-2021-07-12T01-[0-9a-f]{8}\]/);
      expect(stateNamed(backfill, 'RunHourlyWorkflow', 1)).toMatchObject({ status: 'CAUGHT', error: { error: 'States.TaskFailed' } });
      expect(stateNamed(backfill, 'RecordFailedHour', 1).status).toBe('SUCCEEDED');
      expect(stateNamed(backfill, 'SummarizeBackfill')).toMatchObject({ status: 'CAUGHT', retries: 0 });

      const children = (await new ExecutionStore(lake).list()).filter((record) => record.parentId === backfill.id);
      const statusByHour = Object.fromEntries(children.map((child) => [(child.input as { hour: string }).hour, child.status]));
      expect(statusByHour).toEqual({ '2021-07-12T00': 'SUCCEEDED', '2021-07-12T01': 'FAILED', '2021-07-12T02': 'SUCCEEDED' });
    });

    it('records a bad range as a FAILED execution with InvalidInputError, running no hour', async () => {
      const crawl = jest.fn(okCrawl);
      const backfill = await runner(crawl).start('backfill', { from: '2021-07-12T05', to: '2021-07-12T01' });
      expect(backfill.status).toBe('FAILED');
      expect(backfill.error).toEqual({ error: 'InvalidInputError', cause: expect.stringContaining('after') });
      expect(crawl).not.toHaveBeenCalled();
      await expect(new ExecutionStore(lake).list()).resolves.toHaveLength(1);
    });

    it('reports child executions through the same observer', async () => {
      const ended: string[] = [];
      await runner(okCrawl, {
        onEvent: (execution, event) => {
          if (event.type === 'ExecutionSucceeded') ended.push(execution.stateMachine);
        },
      }).start('backfill', { from: '2021-07-12T00', to: '2021-07-12T02' });
      expect(ended).toEqual(['hourly', 'hourly', 'backfill']);
    });
  });

  describe('records and reruns', () => {
    it('keeps the records for a new runner on the same lake', async () => {
      const first = await runner().start('hourly', { hour: '2021-07-12T05' });
      const later = runner();
      await expect(later.executions.get(first.id)).resolves.toEqual(first);
      await expect(later.executions.list()).resolves.toEqual([first]);
    });

    it('reruns an execution as a new one with the same input', async () => {
      let fail = true;
      const flaky: TaskHandler = async () => {
        if (fail) throw new InvalidInputError('not yet');
        return {};
      };
      const failed = await runner(flaky).start('hourly', { hour: '2021-07-12T05' });
      fail = false;
      const rerun = await runner(flaky).rerun(failed.id);

      expect(failed.status).toBe('FAILED');
      expect(rerun).toMatchObject({ status: 'SUCCEEDED', stateMachine: 'hourly', input: failed.input, rerunOf: failed.id });
      expect(rerun.id).not.toBe(failed.id);
      await expect(new ExecutionStore(lake).get(failed.id)).resolves.toMatchObject({ status: 'FAILED' });
    });

    it('throws NotFoundError when rerunning an unknown execution', async () => {
      await expect(runner().rerun('hourly-2021-07-12T05-00000000')).rejects.toThrow(NotFoundError);
    });

    it('uses a chosen id once', async () => {
      await runner().start('hourly', { hour: '2021-07-12T05' }, { id: 'my-run' });
      await expect(runner().start('hourly', { hour: '2021-07-12T05' }, { id: 'my-run' })).rejects.toThrow(/already taken/);
    });
  });

  describe('refusals', () => {
    it('throws NotFoundError for an unknown workflow and records nothing', async () => {
      await expect(runner().start('nightly', {})).rejects.toThrow(NotFoundError);
      expect(existsSync(path.join(lake, '_executions'))).toBe(false);
    });

    it('throws WorkflowDefinitionError for a task missing from the registry and records nothing', async () => {
      const incomplete = new LocalWorkflowRunner({ lake, tasks: { crawl: okCrawl } });
      await expect(incomplete.start('backfill', { from: '2021-07-12T00', to: '2021-07-12T01' })).rejects.toThrow(
        /task registry has no "plan-hours"/,
      );
      expect(existsSync(path.join(lake, '_executions'))).toBe(false);
    });

    it('throws WorkflowDefinitionError for an invalid ASL file and records nothing', async () => {
      const workflowsDir = mkdtempSync(path.join(tmpdir(), 'workflows-'));
      try {
        writeFileSync(
          path.join(workflowsDir, 'broken.workflow.json'),
          JSON.stringify({ name: 'broken', definition: 'broken.asl.json', placeholders: {}, tasks: {} }),
        );
        writeFileSync(path.join(workflowsDir, 'broken.asl.json'), JSON.stringify({ StartAt: 'Missing', States: {} }));
        const broken = new LocalWorkflowRunner({ lake, tasks: {}, workflowsDir });
        const failure = broken.start('broken', {});
        await expect(failure).rejects.toThrow(WorkflowDefinitionError);
        await expect(failure).rejects.toThrow(/broken\.asl\.json is not a valid state machine/);
        expect(existsSync(path.join(lake, '_executions'))).toBe(false);
      } finally {
        rmSync(workflowsDir, { recursive: true, force: true });
      }
    });
  });

  it('writes records as plain JSON files', async () => {
    const record = await runner().start('hourly', { hour: '2021-07-12T05' });
    const file = JSON.parse(readFileSync(path.join(lake, '_executions', `${record.id}.json`), 'utf8')) as ExecutionRecord;
    expect(file.status).toBe('SUCCEEDED');
  });
});
