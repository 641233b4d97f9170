import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { InvalidInputError, NotFoundError } from '../../tasks/ports/errors';
import { ExecutionStore, type ExecutionRecord } from '../../tasks/runtime/execution-store';

function record(id: string, startedAt: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    id,
    executionArn: `arn:aws:states:us-east-1:000000000000:execution:lakehouse-hourly:${id}`,
    stateMachine: 'hourly',
    input: { hour: '2021-07-12T05' },
    status: 'SUCCEEDED',
    startedAt,
    stoppedAt: startedAt,
    durationMs: 0,
    pid: process.pid,
    host: hostname(),
    states: [],
    ...overrides,
  };
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  if (child.pid === undefined) throw new Error('could not spawn a process');
  return child.pid;
}

describe('ExecutionStore', () => {
  let lake: string;
  let store: ExecutionStore;

  beforeEach(() => {
    lake = mkdtempSync(path.join(tmpdir(), 'executions-'));
    store = new ExecutionStore(lake);
  });

  afterEach(() => {
    rmSync(lake, { recursive: true, force: true });
  });

  it('saves a record under _executions/<id>.json and reads it back', async () => {
    const saved = record('hourly-2021-07-12T05-00000001', '2021-07-12T06:00:00.000Z');
    await store.save(saved);
    expect(existsSync(path.join(lake, '_executions', 'hourly-2021-07-12T05-00000001.json'))).toBe(true);
    await expect(store.get(saved.id)).resolves.toEqual(saved);
  });

  it('lists the records newest first', async () => {
    await store.save(record('b', '2021-07-12T06:00:00.000Z'));
    await store.save(record('c', '2021-07-12T07:00:00.000Z'));
    await store.save(record('a', '2021-07-12T05:00:00.000Z'));
    expect((await store.list()).map((saved) => saved.id)).toEqual(['c', 'b', 'a']);
  });

  it('lists nothing in a lake without executions', async () => {
    await expect(store.list()).resolves.toEqual([]);
  });

  it('throws NotFoundError naming an unknown id', async () => {
    await expect(store.get('hourly-nope')).rejects.toThrow(NotFoundError);
    await expect(store.get('hourly-nope')).rejects.toThrow(/no execution "hourly-nope"/);
  });

  it('refuses an id that is not a plain name', async () => {
    await expect(store.get('../etc/passwd')).rejects.toThrow(InvalidInputError);
  });

  it('reads a RUNNING record whose process has ended as ABORTED', async () => {
    await store.save(record('orphan', '2021-07-12T06:00:00.000Z', { status: 'RUNNING', pid: deadPid(), stoppedAt: undefined }));
    const read = await store.get('orphan');
    expect(read.status).toBe('ABORTED');
    expect(read.error?.error).toBe('ExecutionAborted');
    expect((await store.list())[0]?.status).toBe('ABORTED');
  });

  it('keeps a RUNNING record whose process is alive, or that runs on another host', async () => {
    await store.save(record('live', '2021-07-12T06:00:00.000Z', { status: 'RUNNING' }));
    await store.save(record('remote', '2021-07-12T06:00:00.000Z', { status: 'RUNNING', pid: deadPid(), host: `not-${hostname()}` }));
    expect((await store.get('live')).status).toBe('RUNNING');
    expect((await store.get('remote')).status).toBe('RUNNING');
  });
});
