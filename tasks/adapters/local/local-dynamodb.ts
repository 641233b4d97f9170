import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Level } from 'level';
import { TransientStorageError } from '../../ports/errors';
import type { OperationalTables, TableSession } from '../../ports/operational-tables';
import { createTableInput, OPERATIONAL_TABLES, tableNames, type TableRole } from '../../tables/definitions';

// dynalite ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { path: string; createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;

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
 * started in this process on an ephemeral loopback port, persisted under `<lake>/_dynamodb/`, with
 * every table of tasks/tables/definitions.ts created if absent.
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
    let server: Server | undefined;
    let client: DynamoDBClient | undefined;
    try {
      server = dynalite({ path: path.join(this.dir, 'data'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
      const port = await listen(server);
      client = new DynamoDBClient({
        endpoint: `http://127.0.0.1:${port}`,
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
          await closeServer(running);
          await lease.close();
        },
      };
    } catch (error) {
      client?.destroy();
      if (server !== undefined) await closeServer(server).catch(() => undefined);
      await lease.close();
      throw new TransientStorageError(`cannot open the tables under ${this.dir}: ${(error as Error).message}`, { cause: error });
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

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
