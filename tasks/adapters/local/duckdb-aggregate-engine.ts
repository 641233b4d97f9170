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
import { csvField } from '../../aggregate/aggregate-csv';
import { curatedEventsSql } from './lake-views';

export interface DuckDbAggregateEngineProps {
  /** DuckDB `threads`. @default DuckDB's default, one per core */
  readonly threads?: number;
  /** DuckDB `memory_limit`. @default '1GB' */
  readonly memoryLimit?: string;
}

/**
 * The aggregate engine of the embedded default: one in-memory DuckDB database per run, whose view
 * `events` reads, for each job, the snapshot's partitions that the job's window needs (as partition
 * pruning does on Spectrum), and whose `users` is the users dimension.
 */
export class DuckDbAggregateEngine implements AggregateEngine {
  constructor(
    private readonly store: ObjectStore,
    private readonly props: DuckDbAggregateEngineProps = {},
  ) {}

  async open({ snapshot }: AggregateRun): Promise<AggregateSession> {
    const engine = await DuckDbQueryEngine.open({
      memoryLimit: this.props.memoryLimit ?? '1GB',
      tempDirectory: path.join(this.store.scratchDir, `aggregate-spill-${randomUUID()}`),
      ...(this.props.threads === undefined ? {} : { threads: this.props.threads }),
    });
    const session = new DuckDbAggregateSession(engine, snapshot, this.store, path.join(this.store.scratchDir, `aggregate-${randomUUID()}`));
    try {
      await createUsersView(engine, this.store);
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }
}

/** The most rows of a job's window that are loaded into memory rather than read from Parquet per query. */
const MAX_WINDOW_ROWS_IN_MEMORY = 200_000;

class DuckDbAggregateSession implements AggregateSession {
  /** The window whose events the view `events` reads, and whether from memory. */
  private window: string | undefined;
  private inMemory = false;

  constructor(
    private readonly engine: DuckDbQueryEngine,
    private readonly snapshot: CatalogSnapshot,
    private readonly store: ObjectStore,
    /** Where Parquet files are written before they move into the store. */
    private readonly scratch: string,
  ) {}

  async unload(job: AggregateUnload): Promise<string[]> {
    await this.loadEvents(job.reads.start.getTime(), job.reads.end.getTime());
    await computeAggregateResult(this.engine, job);
    for (const { key, format } of job.outputs) {
      if (format === 'csv') {
        await this.store.put(key, await resultAsCsv(this.engine));
      } else {
        await fs.mkdir(this.scratch, { recursive: true });
        const local = path.join(this.scratch, `${job.query}-${randomUUID()}.parquet`);
        await this.engine.run(`COPY aggregate_result TO ${sqlString(local)} (FORMAT parquet)`);
        await this.store.putFile(key, local);
      }
    }
    return job.outputs.map(({ key }) => key);
  }

  /**
   * The view `events`: the rows of the partitions that [startMs, endMs) overlaps, as partition pruning
   * does on Spectrum. Consecutive jobs reading the same window (the step orders its jobs so) share it.
   * When a second job reads a window of at most MAX_WINDOW_ROWS_IN_MEMORY rows, its rows are loaded
   * into memory for it and the jobs after it: the queries of a late hour then scan a small table
   * instead of each opening its Parquet files. A window read once, or a large one, stays a view over
   * the files, so each query reads only its columns and row groups.
   */
  private async loadEvents(startMs: number, endMs: number): Promise<void> {
    const window = `${startMs}/${endMs}`;
    if (window === this.window && this.inMemory) return;
    const snapshot = windowSnapshot(this.snapshot, startMs, endMs);
    if (window !== this.window) {
      this.window = undefined;
      await this.engine.run(`CREATE OR REPLACE TEMP VIEW events AS ${curatedEventsSql(snapshot, this.store)}`);
      this.window = window;
      this.inMemory = false;
      return;
    }
    const files = Object.values(snapshot.tables[EVENTS_TABLE]?.partitions ?? {}).flatMap((partition) => partition.files);
    if (files.reduce((sum, file) => sum + (file.records ?? Number.POSITIVE_INFINITY), 0) > MAX_WINDOW_ROWS_IN_MEMORY) return;
    this.window = undefined;
    await this.engine.run(`CREATE OR REPLACE TEMP TABLE window_events AS ${curatedEventsSql(snapshot, this.store)}`);
    await this.engine.run('CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM window_events');
    this.window = window;
    this.inMemory = true;
  }

  async close(): Promise<void> {
    await this.engine.close();
    await fs.rm(this.scratch, { recursive: true, force: true });
  }
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

/** The view `users` (user_id, segment) over the users dimension; empty when there is none. */
export async function createUsersView(engine: DuckDbQueryEngine, store: ObjectStore): Promise<void> {
  if (!(await store.exists(USERS_DIMENSION_KEY))) {
    await engine.run('CREATE OR REPLACE TEMP VIEW users AS SELECT CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS VARCHAR) AS segment WHERE false');
    return;
  }
  // One row per user, whatever the file repeats: max() keeps the result deterministic.
  await engine.run(
    [
      'CREATE OR REPLACE TEMP TABLE users AS',
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
  const line = (fields: readonly unknown[]) => `${fields.map((field) => csvField(field as string | null)).join('|')}\n`;
  return line(columns.map(({ name }) => name)) + result.rows.map(line).join('');
}

