import { hostname } from 'node:os';
import { FsObjectStore } from '../adapters/local/fs-object-store';
import { InvalidInputError, NotFoundError } from '../ports/errors';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
export type StateStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CAUGHT';

/** An error as Step Functions reports it: the error name (what Retry and Catch match) and its cause. */
export interface ExecutionError {
  readonly error: string;
  readonly cause: string;
}

/** One visit of a state: a retried state stays one record whose `retries` counts the extra attempts. */
export interface StateRecord {
  name: string;
  type: string;
  /** The Map iteration this state ran in, for states inside a Map's ItemProcessor. */
  mapIndex?: number;
  enteredAt: string;
  exitedAt?: string;
  durationMs?: number;
  status: StateStatus;
  input: unknown;
  output?: unknown;
  /** The error that ended the state (FAILED, CAUGHT). */
  error?: ExecutionError;
  retries: number;
  /** The error of each failed attempt that a Retry repeated, in order. */
  retriedErrors?: ExecutionError[];
}

/** What the Step Functions console shows of one execution, kept under `<lake>/_executions/<id>.json`. */
export interface ExecutionRecord {
  /** Short and unique, e.g. `hourly-2021-07-12T05-3f9a1c2b`; also the execution's Name. */
  id: string;
  executionArn: string;
  /** The workflow name (`hourly`, `backfill`). */
  stateMachine: string;
  input: unknown;
  status: ExecutionStatus;
  startedAt: string;
  stoppedAt?: string;
  durationMs?: number;
  output?: unknown;
  error?: ExecutionError;
  /** The execution whose Task started this one (a backfill, for its hourly children). */
  parentId?: string;
  /** The execution this one reruns, with the same input. */
  rerunOf?: string;
  /** The process that ran it: a RUNNING record whose process is gone reads as ABORTED. */
  pid: number;
  host: string;
  states: StateRecord[];
}

export const EXECUTIONS_PREFIX = '_executions/';
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The durable execution records of the local runner: one JSON object per execution under `<lake>/_executions/`,
 * written whole through FsObjectStore's atomic put, so that a reader sees the previous version or the new one.
 */
export class ExecutionStore {
  private readonly store: FsObjectStore;

  constructor(readonly lake: string) {
    this.store = new FsObjectStore(lake);
  }

  /** Every recorded execution, newest first. */
  async list(): Promise<ExecutionRecord[]> {
    const records: ExecutionRecord[] = [];
    for await (const object of this.store.list(EXECUTIONS_PREFIX)) {
      if (!object.key.endsWith('.json') || object.key.slice(EXECUTIONS_PREFIX.length).includes('/')) continue;
      records.push(readAsOfNow(parseRecord(await this.store.get(object.key), object.key)));
    }
    return records.sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id));
  }

  /** One execution; NotFoundError for an unknown id, InvalidInputError for a malformed one. */
  async get(id: string): Promise<ExecutionRecord> {
    const key = keyOf(id);
    let body: Buffer;
    try {
      body = await this.store.get(key);
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(`no execution "${id}" in ${this.lake} (run "lakehouse executions" to list them)`, { cause: error });
      }
      throw error;
    }
    return readAsOfNow(parseRecord(body, key));
  }

  /** Writes the record whole and atomically. */
  async save(record: ExecutionRecord): Promise<void> {
    await this.store.put(keyOf(record.id), serialize(record));
  }

  /** Writes a new record; false, writing nothing, when its id is taken (an exclusive create, safe between processes). */
  async create(record: ExecutionRecord): Promise<boolean> {
    return this.store.putIfAbsent(keyOf(record.id), serialize(record));
  }
}

/**
 * A RUNNING record on this host whose process has ended was interrupted (killed, crashed): it reads as ABORTED.
 * Records of other hosts are left as written, since their processes cannot be checked from here.
 */
export function readAsOfNow(record: ExecutionRecord): ExecutionRecord {
  if (record.status !== 'RUNNING' || record.host !== hostname() || isProcessAlive(record.pid)) return record;
  return {
    ...record,
    status: 'ABORTED',
    error: {
      error: 'ExecutionAborted',
      cause: `process ${record.pid} on ${record.host} ended while the execution was running`,
    },
  };
}

export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function serialize(record: ExecutionRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

function keyOf(id: string): string {
  if (!ID_PATTERN.test(id)) {
    throw new InvalidInputError(`invalid execution id "${id}": expected letters, digits, '-', '_' or '.', e.g. hourly-2021-07-12T05-3f9a1c2b`);
  }
  return `${EXECUTIONS_PREFIX}${id}.json`;
}

function parseRecord(body: Buffer, key: string): ExecutionRecord {
  try {
    return JSON.parse(body.toString('utf8')) as ExecutionRecord;
  } catch (error) {
    throw new InvalidInputError(`execution record ${key} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
