import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsObjectStore } from '../../tasks/adapters/local/fs-object-store';
import type { ExecutionRecord, ExecutionStore } from '../../tasks/runtime/execution-store';
import { hoursDue, runDueHours } from '../../tasks/runtime/local-schedule';

function executionsOf(records: Partial<ExecutionRecord>[]): ExecutionStore {
  return { list: async () => records as ExecutionRecord[] } as unknown as ExecutionStore;
}

async function lakeWithRawHours(hours: string[]): Promise<FsObjectStore> {
  const store = new FsObjectStore(mkdtempSync(path.join(os.tmpdir(), 'schedule-')));
  for (const hour of hours) {
    const [date, hh] = hour.split('T') as [string, string];
    await store.put(`raw/${date.replaceAll('-', '/')}/${hh}/clickstream-1-${date}-${hh}-00-00-x.gz`, 'x');
  }
  return store;
}

describe('local schedule', () => {
  const now = () => Date.parse('2021-07-12T10:07:00Z');

  it('runs due raw hours without a successful execution, and the hour that just ended, oldest first', async () => {
    const store = await lakeWithRawHours(['2021-07-12T03', '2021-07-12T05', '2021-07-12T07']);
    const executions = executionsOf([
      { stateMachine: 'hourly', status: 'SUCCEEDED', input: { hour: '2021-07-12T05' } },
      { stateMachine: 'hourly', status: 'FAILED', input: { hour: '2021-07-12T03' } },
    ]);
    const due = await hoursDue({ store, executions, start: jest.fn(), now, delayMs: 5 * 60_000 });
    expect(due).toEqual(['2021-07-12T03', '2021-07-12T07', '2021-07-12T09']);
  });

  it('waits for the delay before an hour that just ended is due', async () => {
    const store = await lakeWithRawHours(['2021-07-12T09', '2021-07-12T10']);
    const due = await hoursDue({ store, executions: executionsOf([]), start: jest.fn(), now, delayMs: 10 * 60_000 });
    // 10:07 is within 10 minutes of 09's end: neither 09 nor the running hour 10 is due yet.
    expect(due).toEqual(['2021-07-12T08']);
  });

  it('starts each due hour once, in order', async () => {
    const store = await lakeWithRawHours(['2021-07-12T01']);
    const started: string[] = [];
    const start = async (hour: string) => {
      started.push(hour);
      return { status: 'SUCCEEDED', input: { hour } } as unknown as ExecutionRecord;
    };
    const records = await runDueHours({ store, executions: executionsOf([]), start, now });
    expect(started).toEqual(['2021-07-12T01', '2021-07-12T09']);
    expect(records).toHaveLength(2);
  });
});
