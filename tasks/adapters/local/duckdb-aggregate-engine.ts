import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { timestampValue, type DuckDBValue } from '@duckdb/node-api';
import { parametersOf, querySql, statementOf } from '../../aggregate/queries';
import { EVENTS_TABLE, partitionKeyOfHour, USERS_DIMENSION_KEY } from '../../curated/layout';
import type { AggregateEngine, AggregateRun, AggregateSession, AggregateUnload } from '../../ports/aggregate-engine';
import type { CatalogSnapshot, PartitionState } from '../../ports/catalog';
import type { ObjectStore } from '../../ports/object-store';
import { formatHour, HOUR_IN_MS } from '../../shared/hours';
import { DuckDbQueryEngine } from './duckdb-query-engine';
import { sqlIdentifier, sqlString } from '../../shared/sql-text';
import { csvLine } from '../../aggregate/aggregate-csv';
import { curatedEventsSql } from './lake-views';

/** The DuckDB `memory_limit` of an aggregate run, its connections together. */
export const AGGREGATE_MEMORY_LIMIT = '1GB';

export interface DuckDbAggregateEngineProps {
  /** Jobs run at once, each on a connection of its own. @default 2 */
  readonly connections?: number;
}

/**
 * The aggregate engine of the embedded default: one in-memory DuckDB database per run, with a few
 * connections that run jobs side by side (most jobs of a run with late events are small, and one
 * job alone leaves cores idle). On each connection, the view `events` reads the snapshot's partitions
 * that the job's window needs (as partition pruning does on Spectrum); `users` is the users dimension.
 */
export class DuckDbAggregateEngine implements AggregateEngine {
  constructor(
    private readonly store: ObjectStore,
    private readonly props: DuckDbAggregateEngineProps = {},
  ) {}

  async open({ snapshot }: AggregateRun): Promise<AggregateSession> {
    const engine = await DuckDbQueryEngine.open({
      memoryLimit: AGGREGATE_MEMORY_LIMIT,
      tempDirectory: path.join(this.store.scratchDir, `aggregate-spill-${randomUUID()}`),
    });
    const engines = [engine];
    try {
      await createUsersView(engine, this.store);
      for (let i = 1; i < (this.props.connections ?? 2); i++) engines.push(await engine.connectAnother());
    } catch (error) {
      await closeAll(engines);
      throw error;
    }
    return new DuckDbAggregateSession(engines, snapshot, this.store, path.join(this.store.scratchDir, `aggregate-${randomUUID()}`));
  }
}

/** The most rows of a job's window that are loaded into memory rather than read from Parquet per query. */
const MAX_WINDOW_ROWS_IN_MEMORY = 200_000;

/** One connection of a session, and the window its view `events` reads. */
interface Lane {
  readonly engine: DuckDbQueryEngine;
  busy: boolean;
  window: string | undefined;
  inMemory: boolean;
}

class DuckDbAggregateSession implements AggregateSession {
  private readonly lanes: Lane[];
  /** Callers of acquire() waiting for a connection to become idle. */
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly engines: readonly DuckDbQueryEngine[],
    private readonly snapshot: CatalogSnapshot,
    private readonly store: ObjectStore,
    /** Where Parquet files are written before they move into the store. */
    private readonly scratch: string,
  ) {
    this.lanes = engines.map((engine) => ({ engine, busy: false, window: undefined, inMemory: false }));
  }

  get concurrency(): number {
    return this.lanes.length;
  }

  async unload(job: AggregateUnload): Promise<string[]> {
    const startMs = job.reads.start.getTime();
    const endMs = job.reads.end.getTime();
    const window = `${startMs}/${endMs}`;
    const lane = await this.acquire(window);
    try {
      await this.loadEvents(lane, window, startMs, endMs);
      await computeAggregateResult(lane.engine, job);
      for (const { key, format } of job.outputs) {
        if (format === 'csv') {
          await this.store.put(key, await resultAsCsv(lane.engine));
        } else {
          await fs.mkdir(this.scratch, { recursive: true });
          const local = path.join(this.scratch, `${job.query}-${randomUUID()}.parquet`);
          await lane.engine.run(`COPY aggregate_result TO ${sqlString(local)} (FORMAT parquet)`);
          await this.store.putFile(key, local);
        }
      }
      return job.outputs.map(({ key }) => key);
    } finally {
      lane.busy = false;
      this.waiting.shift()?.();
    }
  }

  /** An idle connection, preferably one whose `events` already reads `window`; waits for one if all are busy. */
  private async acquire(window: string): Promise<Lane> {
    for (;;) {
      const idle = this.lanes.filter((lane) => !lane.busy);
      const lane = idle.find((candidate) => candidate.window === window) ?? idle[0];
      if (lane) {
        lane.busy = true;
        return lane;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /**
   * The view `events` of `lane`: the rows of the partitions that [startMs, endMs) overlaps, as partition
   * pruning does on Spectrum. Consecutive jobs reading the same window (the step orders its jobs so) share it.
   * When a second job reads a window of at most MAX_WINDOW_ROWS_IN_MEMORY rows, its rows are loaded
   * into memory for it and the jobs after it: the queries of a late hour then scan a small table
   * instead of each opening its Parquet files. A window read once, or a large one, stays a view over
   * the files, so each query reads only its columns and row groups.
   */
  private async loadEvents(lane: Lane, window: string, startMs: number, endMs: number): Promise<void> {
    if (window === lane.window && lane.inMemory) return;
    const snapshot = windowSnapshot(this.snapshot, startMs, endMs);
    if (window !== lane.window) {
      lane.window = undefined;
      await lane.engine.run(`CREATE OR REPLACE TEMP VIEW events AS ${curatedEventsSql(snapshot, this.store)}`);
      lane.window = window;
      lane.inMemory = false;
      return;
    }
    const files = Object.values(snapshot.tables[EVENTS_TABLE]?.partitions ?? {}).flatMap((partition) => partition.files);
    if (files.reduce((sum, file) => sum + (file.records ?? Number.POSITIVE_INFINITY), 0) > MAX_WINDOW_ROWS_IN_MEMORY) return;
    lane.window = undefined;
    await lane.engine.run(`CREATE OR REPLACE TEMP TABLE window_events AS ${curatedEventsSql(snapshot, this.store)}`);
    await lane.engine.run('CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM window_events');
    lane.window = window;
    lane.inMemory = true;
  }

  async close(): Promise<void> {
    await closeAll(this.engines);
    await fs.rm(this.scratch, { recursive: true, force: true });
  }
}

/** Closes the engines of one database, the first (which holds the database) last. */
async function closeAll(engines: readonly DuckDbQueryEngine[]): Promise<void> {
  for (const engine of [...engines].reverse()) await engine.close();
}

/**
 * `snapshot` with only the events partitions of the hours overlapping [startMs, endMs): the `events`
 * view then reads what the query's window needs, as partition pruning does on Spectrum.
 */
function windowSnapshot(snapshot: CatalogSnapshot, startMs: number, endMs: number): CatalogSnapshot {
  const all = snapshot.tables[EVENTS_TABLE];
  const partitions: Record<string, PartitionState> = {};
  if (all) {
    for (let ms = startMs - (startMs % HOUR_IN_MS); ms < endMs; ms += HOUR_IN_MS) {
      const key = partitionKeyOfHour(formatHour(ms));
      if (all.partitions[key]) partitions[key] = all.partitions[key];
    }
  }
  return { version: snapshot.version, tables: all ? { [EVENTS_TABLE]: { ...all, partitions } } : {} };
}

/** The temp table `aggregate_result`: the job's query over the relations `events` and `users`, its parameters bound by name. */
export async function computeAggregateResult(engine: DuckDbQueryEngine, job: Pick<AggregateUnload, 'query' | 'parameters'>): Promise<void> {
  const sql = querySql(job.query);
  const bound = Object.fromEntries(parametersOf(sql, job.query).map((name) => [name, duckDbValueOf(job.parameters[name])]));
  await engine.connection.run(`CREATE OR REPLACE TEMP TABLE aggregate_result AS ${statementOf(sql)}`, bound);
}

/** The relation `users` (user_id, segment) over the users dimension, empty when there is none; in the main schema, so that every connection sees it. */
export async function createUsersView(engine: DuckDbQueryEngine, store: ObjectStore): Promise<void> {
  if (!(await store.exists(USERS_DIMENSION_KEY))) {
    await engine.run('CREATE OR REPLACE VIEW users AS SELECT CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS VARCHAR) AS segment WHERE false');
    return;
  }
  // One row per user, whatever the file repeats: max() keeps the result deterministic.
  await engine.run(
    [
      'CREATE OR REPLACE TABLE users AS',
      'SELECT CAST(user_id AS VARCHAR) AS user_id, max(CAST(segment AS VARCHAR)) AS segment',
      `FROM read_json(${sqlString(store.locate(USERS_DIMENSION_KEY))}, format = 'newline_delimited', columns = {'user_id': 'VARCHAR', 'segment': 'VARCHAR'})`,
      'GROUP BY 1',
    ].join('\n'),
  );
}

function duckDbValueOf(value: Date | number): DuckDBValue {
  return typeof value === 'number' ? value : timestampValue(BigInt(value.getTime()) * 1000n);
}

/**
 * The temp table `aggregate_result` as UNLOAD writes CSV: `|` between fields, a header, `\n` after
 * every row; NULL as an empty field, an empty string as `""`; a field holding `|`, `"`, CR or LF in
 * double quotes with quotes doubled; timestamps `YYYY-MM-DD HH:MM:SS`; decimals with their scale.
 */
async function resultAsCsv(engine: DuckDbQueryEngine): Promise<string> {
  const described = await engine.query('DESCRIBE aggregate_result');
  const columns = described.rows.map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  const texts = columns.map(({ name, type }) =>
    type.startsWith('TIMESTAMP') ? `strftime(${sqlIdentifier(name)}, '%Y-%m-%d %H:%M:%S')` : `CAST(${sqlIdentifier(name)} AS VARCHAR)`,
  );
  // A table scan keeps insertion order, which is the query's ORDER BY.
  const result = await engine.query(`SELECT ${texts.join(', ')} FROM aggregate_result`);
  return csvLine(columns.map(({ name }) => name)) + result.rows.map((row) => csvLine(row as (string | null)[])).join('');
}

