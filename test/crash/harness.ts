/**
 * The machinery of the crash test: runs the real `lakehouse` CLI as child processes, kills them with a
 * real SIGKILL at a chosen point of the hourly workflow, reads lakes the way a query does (a fresh
 * catalog snapshot, the DuckDB views over exactly its files), and compares lake contents.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DuckDbQueryEngine } from '../../tasks/adapters/local/duckdb-query-engine';
import { FsCatalog } from '../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../tasks/adapters/local/fs-object-store';
import { createLakeViews } from '../../tasks/adapters/local/lake-views';
import { EVENTS_TABLE, RAW_LEDGER_TABLE, REJECTS_TABLE } from '../../tasks/curated/layout';
import type { CatalogSnapshot, CommitRecord } from '../../tasks/ports/catalog';
import type { ExecutionRecord } from '../../tasks/runtime/execution-store';

const BIN = path.resolve(__dirname, '../../bin/lakehouse.js');

/**
 * The Node that runs the CLI. It must be the process we signal: on an older node, bin/lakehouse.js
 * re-executes itself on Node 22 in a grandchild, which a SIGKILL of the child would not reach.
 */
export const NODE_22 = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : require.resolve('node/bin/node');

/** The states of the hourly workflow a kill can be aimed at (see workflows/hourly.asl.json). */
export type HourlyState = 'CrawlRawHour' | 'MergeLateEvents' | 'CompactPartitions' | 'VacuumExpiredFiles';

/**
 * Where to kill: `fraction` of the reference duration of a window, counted from the spawn of the
 * process (`spawn`: the run up to the end of compaction, process start-up included) or from the moment the child's
 * execution record shows that it entered `state`.
 */
export interface KillTarget {
  readonly at: 'spawn' | HourlyState;
  readonly fraction: number;
}

export interface ChildOutcome {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
  /** The execution record the child created, as it stood when the child ended (undefined if it never created one). */
  readonly record: ExecutionRecord | undefined;
  /** When a kill was aimed: ms after spawn that SIGKILL was sent (undefined if the child ended first). */
  readonly killedAfterMs: number | undefined;
  /** When the kill was aimed at a state: ms after spawn that the state was seen in the record. */
  readonly stateSeenAfterMs: number | undefined;
}

const live = new Set<ChildProcess>();

/** Kills (by pid) every child this module started that is still running: for an aborted test. */
export function killLeftoverChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

/**
 * Runs `lakehouse ...args` as a child process. With a target and the window length it refers to,
 * sends SIGKILL at that point; without one, lets it finish.
 */
export async function runLakehouse(lake: string, args: readonly string[], kill?: { target: KillTarget; windowMs: number }): Promise<ChildOutcome> {
  const recordsDir = path.join(lake, '_executions');
  const before = new Set(await listDir(recordsDir));
  const started = Date.now();
  const child = spawn(NODE_22, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });

  let ended = false;
  let recordFile: string | undefined;
  let killedAfterMs: number | undefined;
  let stateSeenAfterMs: number | undefined;
  const sendKill = () => {
    if (ended) return;
    killedAfterMs = Date.now() - started;
    child.kill('SIGKILL');
  };
  const findRecord = async (): Promise<ExecutionRecord | undefined> => {
    if (recordFile === undefined) {
      for (const name of await listDir(recordsDir)) {
        if (before.has(name) || !name.endsWith('.json')) continue;
        const record = await readRecord(path.join(recordsDir, name));
        if (record?.pid === child.pid) {
          recordFile = path.join(recordsDir, name);
          return record;
        }
      }
      return undefined;
    }
    return readRecord(recordFile);
  };

  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  if (kill) {
    const delay = Math.max(0, Math.round(kill.target.fraction * kill.windowMs));
    if (kill.target.at === 'spawn') {
      timer = setTimeout(sendKill, delay);
    } else {
      const state = kill.target.at;
      // The runner rewrites the record (atomically) as each state is entered: poll it.
      polling = (async () => {
        while (!ended) {
          const record = await findRecord();
          if (record?.states.some((visit) => visit.name === state)) {
            stateSeenAfterMs = Date.now() - started;
            if (delay === 0) sendKill();
            else timer = setTimeout(sendKill, delay);
            return;
          }
          await sleep(3);
        }
      })();
    }
  }

  const { code, signal } = await exited;
  ended = true;
  live.delete(child);
  if (timer) clearTimeout(timer);
  await polling;
  const elapsedMs = Date.now() - started;
  const record = await findRecord();
  return { args, code, signal, stdout, stderr, elapsedMs, record, killedAfterMs: signal === 'SIGKILL' ? killedAfterMs : undefined, stateSeenAfterMs };
}

/** A fresh catalog over the lake, as a new process would open it. */
export function openCatalog(lake: string): { store: FsObjectStore; catalog: FsCatalog } {
  const store = new FsObjectStore(lake);
  return { store, catalog: new FsCatalog(store) };
}

/** What a lake holds, compared as multisets: no order, no file layout, no execution names. */
export interface LakeContent {
  /** `click_id md5(whole row)` per curated event row. */
  readonly events: string[];
  /** `md5(whole row)` per row of the `rejects` view. */
  readonly rejects: string[];
  /** `arrival hour key` per raw-ledger entry. */
  readonly ledger: string[];
  readonly version: number;
}

/** Reads the current snapshot of `lake` through the `events`/`rejects` views, as `lakehouse query` does. */
export async function lakeContent(engine: DuckDbQueryEngine, lake: string): Promise<LakeContent> {
  const { store, catalog } = openCatalog(lake);
  const snapshot = await catalog.snapshot();
  await createLakeViews(engine, snapshot, store);
  const events = await engine.query('SELECT click_id, md5(CAST(events AS VARCHAR)) FROM events');
  const rejects = await engine.query('SELECT md5(CAST(rejects AS VARCHAR)) FROM rejects');
  const ledger = Object.entries(snapshot.tables[RAW_LEDGER_TABLE]?.partitions ?? {}).flatMap(([hour, state]) => state.files.map((file) => `${hour} ${file.key}`));
  return {
    events: events.rows.map((row) => `${String(row[0])} ${String(row[1])}`).sort(),
    rejects: rejects.rows.map((row) => String(row[0])).sort(),
    ledger: ledger.sort(),
    version: snapshot.version,
  };
}

/** The differences between two multisets, described for a failure message; empty when they are equal. */
export function contentDifferences(actual: LakeContent, expected: LakeContent): string[] {
  const problems: string[] = [];
  for (const part of ['events', 'rejects', 'ledger'] as const) {
    const { missing, extra } = multisetDiff(actual[part], expected[part]);
    if (missing.length === 0 && extra.length === 0) continue;
    problems.push(
      `${part}: ${actual[part].length} rows, expected ${expected[part].length}; ` +
        `${missing.length} missing (lost) e.g. ${JSON.stringify(missing.slice(0, 3))}, ` +
        `${extra.length} unexpected (duplicated or changed) e.g. ${JSON.stringify(extra.slice(0, 3))}`,
    );
  }
  return problems;
}

function multisetDiff(actual: readonly string[], expected: readonly string[]): { missing: string[]; extra: string[] } {
  const counts = new Map<string, number>();
  for (const item of expected) counts.set(item, (counts.get(item) ?? 0) + 1);
  const extra: string[] = [];
  for (const item of actual) {
    const n = counts.get(item) ?? 0;
    if (n === 0) extra.push(item);
    else counts.set(item, n - 1);
  }
  const missing = [...counts].flatMap(([item, n]) => Array<string>(n).fill(item));
  return { missing, extra };
}

/** One look at a lake by a reader: what it saw and what was wrong with it. */
export interface ReaderCheck {
  readonly lake: string;
  readonly version: number;
  readonly rows: number;
  readonly problems: readonly string[];
}

/**
 * Checks one snapshot as a reader sees it: every file it names exists with the size the commit
 * recorded and reads completely (every column of every row) with the row count the commit recorded;
 * each partition's files add up to the partition's recorded rows; no click_id appears twice.
 */
export async function checkSnapshotAsReader(engine: DuckDbQueryEngine, lake: string): Promise<ReaderCheck> {
  const problems: string[] = [];
  const { store, catalog } = openCatalog(lake);
  let snapshot: CatalogSnapshot;
  try {
    snapshot = await catalog.snapshot();
  } catch (error) {
    return { lake, version: -1, rows: 0, problems: [`catalog snapshot failed: ${(error as Error).name}: ${(error as Error).message}`] };
  }
  const eventFiles = new Map<string, number>();
  let expectedRows = 0;
  for (const [partition, state] of Object.entries(snapshot.tables[EVENTS_TABLE]?.partitions ?? {})) {
    const recorded = state.files.reduce((sum, file) => sum + (file.records ?? 0), 0);
    if (recorded !== Number(state.properties.rows)) problems.push(`partition ${partition} v${state.version}: files hold ${recorded} rows, partition records ${String(state.properties.rows)}`);
    expectedRows += recorded;
    for (const file of state.files) {
      eventFiles.set(store.locate(file.key), file.records ?? -1);
      await checkFile(store.locate(file.key), file.size, problems);
    }
  }
  let expectedRejects = 0;
  for (const state of Object.values(snapshot.tables[REJECTS_TABLE]?.partitions ?? {})) {
    for (const file of state.files) {
      expectedRejects += file.records ?? 0;
      await checkFile(store.locate(file.key), file.size, problems);
    }
  }
  if (problems.length > 0) return { lake, version: snapshot.version, rows: 0, problems };

  let rows = 0;
  try {
    await createLakeViews(engine, snapshot, store);
    const totals = await engine.query('SELECT count(*), count(DISTINCT click_id), sum(length(CAST(events AS VARCHAR))) FROM events');
    const [n, distinct] = (totals.rows[0] ?? []).map(Number) as [number, number];
    rows = n;
    if (n !== expectedRows) problems.push(`events view reads ${n} rows, the snapshot's files record ${expectedRows}`);
    if (distinct !== n) {
      const dups = await engine.query('SELECT click_id, count(*) FROM events GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 3');
      problems.push(`${n - distinct} duplicate click_id rows, e.g. ${JSON.stringify(dups.rows)}`);
    }
    if (eventFiles.size > 0) {
      const list = [...eventFiles.keys()].map((file) => `'${file.replaceAll("'", "''")}'`).join(', ');
      const perFile = await engine.query(`SELECT filename, count(*) FROM read_parquet([${list}], filename = true, hive_partitioning = false) GROUP BY 1`);
      for (const [file, count] of perFile.rows) {
        if (eventFiles.get(String(file)) !== Number(count)) problems.push(`${String(file)} holds ${String(count)} rows, the catalog records ${eventFiles.get(String(file))}`);
      }
    }
    const rejectRows = Number((await engine.query('SELECT count(*) FROM rejects')).rows[0]?.[0]);
    if (rejectRows !== expectedRejects) problems.push(`rejects view reads ${rejectRows} rows, the snapshot's files record ${expectedRejects}`);
  } catch (error) {
    problems.push(`reading the snapshot failed: ${(error as Error).message}`);
  }
  return { lake, version: snapshot.version, rows, problems };
}

async function checkFile(file: string, size: number, problems: string[]): Promise<void> {
  try {
    const stat = await fs.stat(file);
    if (stat.size !== size) problems.push(`${file} has ${stat.size} bytes, the catalog records ${size}`);
  } catch (error) {
    problems.push(`${file} named by the snapshot is unreadable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/**
 * A reader in this process that keeps taking snapshots of whichever lake `target` names (a fresh
 * catalog each time) and checks each of them, while children write and get killed.
 */
export class ReaderLoop {
  readonly checks: ReaderCheck[] = [];
  private target: string | undefined;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private inFlight: Promise<unknown> = Promise.resolve();
  private engine: DuckDbQueryEngine | undefined;

  constructor(private readonly pauseMs: number) {}

  async start(): Promise<void> {
    this.engine = await DuckDbQueryEngine.open({ threads: 1, memoryLimit: '2GB' });
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const lake = this.target;
        if (lake !== undefined) {
          const check = checkSnapshotAsReader(this.engine!, lake);
          this.inFlight = check;
          this.checks.push(await check);
        }
        await sleep(this.pauseMs);
      }
    })();
  }

  /** Reads `lake` from now on; undefined stops reading (once the check under way, if any, has ended). */
  async readFrom(lake: string | undefined): Promise<void> {
    this.target = lake;
    await this.inFlight;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.target = undefined;
    await this.loop;
    await this.engine?.close();
    this.engine = undefined;
  }
}

/** Commits the execution made, by step (`crawl`, `merge`, `compact`). */
export function stepsCommittedBy(history: readonly CommitRecord[], executionArn: string | undefined): string[] {
  return history.filter((commit) => commit.token.executionId === executionArn).map((commit) => commit.token.step);
}

/** Every file (recursively) under `dir`, relative to it; empty if it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (current: string) => {
    for (const entry of await fs.readdir(current, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(path.relative(dir, full));
    }
  };
  await walk(dir);
  return found.sort();
}

async function listDir(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => []);
}

async function readRecord(file: string): Promise<ExecutionRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as ExecutionRecord;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
