import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Level } from 'level';
import { TransientStorageError } from '../../ports/errors';
import type { OperationalTables, TableSession } from '../../ports/operational-tables';
import { createTableInput, OPERATIONAL_TABLES, tableNames, type TableRole } from '../../tables/definitions';

/** Where a lake keeps its tables: `data/` is dynalite's LevelDB, `lease/` an empty LevelDB whose lock is the lease. */
export const DYNAMODB_DIR = '_dynamodb';

export interface LocalDynamoDbOptions {
  /** How long to wait while another process holds the lake's tables. @default 300000 (5 minutes) */
  readonly leaseTimeoutMs?: number;
}

interface OpenTables {
  readonly session: TableSession;
  close(): Promise<void>;
}

const LEASE_POLL_MS = 50;
const TABLE_ACTIVE_POLL_MS = 5;
const TABLE_ACTIVE_TIMEOUT_MS = 10_000;

/**
 * The operational tables of the embedded default: a dynalite server (the DynamoDB API over LevelDB)
 * started on a worker thread of this process on an ephemeral loopback port, persisted under
 * `<lake>/_dynamodb/`, with every table of tasks/tables/definitions.ts created if absent.
 *
 * LevelDB admits one process at a time, and dynalite fails hard when its database is locked, so a
 * process first takes the lake's lease: the lock of a second, empty LevelDB, which the kernel releases
 * when the process dies, however it dies. The server runs while some `use` is in progress and stops
 * with the last one, so that other processes on the same lake (a second `lakehouse run`) get their turn.
 * Every instance for the same lake in a process shares one server: LevelDB must not open a lock it
 * already holds (a refused second open closes the file, and POSIX then drops the process's lock).
 */
export class LocalDynamoDb implements OperationalTables {
  private readonly shared: SharedTables;
  private readonly leaseTimeoutMs: number;

  constructor(lake: string, options: LocalDynamoDbOptions = {}) {
    const dir = path.join(path.resolve(lake), DYNAMODB_DIR);
    let shared = sharedByDir.get(dir);
    if (shared === undefined) {
      shared = new SharedTables(dir);
      sharedByDir.set(dir, shared);
    }
    this.shared = shared;
    this.leaseTimeoutMs = options.leaseTimeoutMs ?? 300_000;
  }

  use<T>(work: (session: TableSession) => Promise<T>, options: { readonly create?: boolean } = {}): Promise<T | undefined> {
    return this.shared.use(work, options.create ?? false, this.leaseTimeoutMs);
  }
}

const sharedByDir = new Map<string, SharedTables>();

/** The one server of a lake's tables in this process, open while in use. */
class SharedTables {
  private opened: Promise<OpenTables> | undefined;
  private closing: Promise<void> = Promise.resolve();
  private users = 0;

  constructor(private readonly dir: string) {}

  async use<T>(work: (session: TableSession) => Promise<T>, create: boolean, leaseTimeoutMs: number): Promise<T | undefined> {
    if (!create && !(await exists(path.join(this.dir, 'data')))) return undefined;
    this.users += 1;
    try {
      await this.closing;
      const tables = await (this.opened ??= this.open(leaseTimeoutMs));
      return await work(tables.session);
    } finally {
      this.users -= 1;
      if (this.users === 0) await this.closeIdle();
    }
  }

  private async closeIdle(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (opened === undefined) return;
    this.closing = opened.then(
      (tables) => tables.close(),
      () => undefined,
    );
    await this.closing;
  }

  private async open(leaseTimeoutMs: number): Promise<OpenTables> {
    await fs.mkdir(this.dir, { recursive: true });
    const lease = await this.takeLease(leaseTimeoutMs);
    let server: DynaliteThread | undefined;
    let client: DynamoDBClient | undefined;
    try {
      server = await startDynalite(path.join(this.dir, 'data'));
      client = new DynamoDBClient({
        endpoint: `http://127.0.0.1:${server.port}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      await createMissingTables(client);
      const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
      const running = server;
      return {
        session: { doc, names: tableNames() },
        close: async () => {
          doc.destroy();
          await running.close();
          await lease.close();
        },
      };
    } catch (error) {
      client?.destroy();
      await server?.close().catch(() => undefined);
      await lease.close();
      const cause = server?.failure() ?? error;
      throw new TransientStorageError(`cannot open the tables under ${this.dir}: ${(cause as Error).message}`, { cause });
    }
  }

  private async takeLease(timeoutMs: number): Promise<Level> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lease = new Level(path.join(this.dir, 'lease'));
      try {
        await lease.open();
        return lease;
      } catch (error) {
        const code = (error as { cause?: { code?: string } }).cause?.code;
        if (code !== 'LEVEL_LOCKED') throw new TransientStorageError(`cannot take the lease of ${this.dir}: ${(error as Error).message}`, { cause: error });
        if (Date.now() >= deadline) {
          throw new TransientStorageError(`the tables under ${this.dir} stayed in use by another process for ${timeoutMs} ms`, { cause: error });
        }
      }
      await sleep(LEASE_POLL_MS);
    }
  }
}

/**
 * Creates each table that does not exist yet, and returns once all are ACTIVE (dynalite answers a
 * CreateTable while the table is still CREATING, and refuses items until it is not). Asked table by
 * table: dynalite's ListTables reads every key of the database to find the table names, which costs
 * a second per open once a lake holds a few hundred thousand items; DescribeTable is one look-up.
 */
async function createMissingTables(client: DynamoDBClient): Promise<void> {
  const names = tableNames();
  const created: string[] = [];
  await Promise.all(
    (Object.keys(OPERATIONAL_TABLES) as TableRole[]).map(async (role) => {
      if ((await tableStatus(client, names[role])) !== undefined) return;
      await client.send(new CreateTableCommand(createTableInput(OPERATIONAL_TABLES[role], names[role])));
      created.push(names[role]);
    }),
  );
  // Polled here, not with the SDK's waitUntilTableExists: its delays are whole seconds, and dynalite
  // (createTableMs 0) makes a table ACTIVE on its next timer tick.
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  for (const name of created) {
    while ((await tableStatus(client, name)) !== 'ACTIVE') {
      if (Date.now() >= deadline) throw new Error(`table ${name} did not become ACTIVE within ${TABLE_ACTIVE_TIMEOUT_MS} ms`);
      await sleep(TABLE_ACTIVE_POLL_MS);
    }
  }
}

/** The table's status, or undefined when there is no such table. */
async function tableStatus(client: DynamoDBClient, name: string): Promise<string | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table?.TableStatus;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

interface DynaliteThread {
  readonly port: number;
  /** Why the thread died, if it did: dynalite throws what its LevelDB fails with (an unreadable database, for one). */
  failure(): Error | undefined;
  /** Stops the server and closes its LevelDB; rejects with the failure if the thread died. */
  close(): Promise<void>;
}

/**
 * Starts dynalite over the LevelDB at `dataDir` on a worker thread (dynalite-thread.js), listening on
 * an ephemeral loopback port. On the main thread it took half of every request's time away from the
 * SDK building the next requests: the signals step of a run with late events makes thousands of puts.
 */
async function startDynalite(dataDir: string): Promise<DynaliteThread> {
  const worker = new Worker(path.join(__dirname, 'dynalite-thread.js'), { workerData: { path: dataDir } });
  // Kept rather than rethrown on this thread: requests in flight fail, and closing says why.
  let failure: Error | undefined;
  worker.on('error', (error) => (failure ??= error));
  const died = () => new Error(`the tables' server stopped: ${failure?.message ?? 'its thread ended'}`, { cause: failure });
  let exited = false;
  worker.once('exit', () => (exited = true));
  /** The thread's next message, which must be of kind `expected`. */
  const next = <Kind extends ThreadMessage['kind']>(expected: Kind) =>
    new Promise<Extract<ThreadMessage, { kind: Kind }>>((resolve, reject) => {
      if (exited) return reject(died());
      const settle = (outcome: () => void) => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        outcome();
      };
      const onMessage = (message: ThreadMessage) =>
        settle(() => (message.kind === expected ? resolve(message as Extract<ThreadMessage, { kind: Kind }>) : reject(new Error(`the tables' server failed: ${message.kind === 'failed' ? message.message : `it said "${message.kind}"`}`))));
      const onExit = () => settle(() => reject(died()));
      worker.on('message', onMessage);
      worker.on('exit', onExit);
    });
  try {
    const { port } = await next('listening');
    return {
      port,
      failure: () => failure,
      close: async () => {
        const closed = next('closed');
        worker.postMessage('close');
        try {
          await closed;
        } finally {
          await worker.terminate();
        }
      },
    };
  } catch (error) {
    await worker.terminate();
    throw error;
  }
}

type ThreadMessage = { readonly kind: 'listening'; readonly port: number } | { readonly kind: 'closed' } | { readonly kind: 'failed'; readonly message: string };

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
