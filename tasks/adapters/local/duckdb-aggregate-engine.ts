import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { timestampValue, type DuckDBValue } from '@duckdb/node-api';
import { AGGREGATE_QUERIES, parametersOf, querySql, statementOf, type AggregateQuery } from '../../aggregate/queries';
import { eventPartitionsOverlapping, EVENTS_TABLE, USERS_DIMENSION_KEY } from '../../curated/layout';
import { readWindowKey, type AggregateEngine, type AggregateRun, type AggregateSession, type AggregateUnload } from '../../ports/aggregate-engine';
import type { CatalogSnapshot, PartitionState } from '../../ports/catalog';
import type { ObjectStore } from '../../ports/object-store';
import { DuckDbQueryEngine } from './duckdb-query-engine';
import { sqlIdentifier, sqlString } from '../../shared/sql-text';
import { csvLine } from '../../aggregate/aggregate-csv';
import { curatedEventsSql } from './lake-views';

/**
 * The DuckDB `memory_limit` of an aggregate run, its connections together. The merge's limit too: at
 * 1 GB, a day's funnel and a large hour's funnel side by side spilled, and the step took a tenth longer.
 */
export const AGGREGATE_MEMORY_LIMIT = '1.5GB';

export interface DuckDbAggregateEngineProps {
  /** Jobs run at once, each on a connection of its own. @default 2 */
  readonly connections?: number;
  /** The most rows of a run's small windows loaded into memory (see loadSmallWindows); 0 reads every window from its Parquet files. @default 1,000,000 */
  readonly smallWindowsRows?: number;
}

/**
 * The aggregate engine of the embedded default: one in-memory DuckDB database per run, with a few
 * connections that run jobs side by side (most jobs of a run with late events are small, and one
 * job alone leaves cores idle). On each connection, the view `events` reads either the table of the
 * run's small windows, or the snapshot's partitions that the job's window needs (as partition pruning
 * does on Spectrum); `users` is the users dimension.
 */
export class DuckDbAggregateEngine implements AggregateEngine {
  constructor(
    private readonly store: ObjectStore,
    private readonly props: DuckDbAggregateEngineProps = {},
  ) {}

  async open({ snapshot, reads }: AggregateRun): Promise<AggregateSession> {
    const connections = this.props.connections ?? 2;
    const engine = await DuckDbQueryEngine.open({
      memoryLimit: AGGREGATE_MEMORY_LIMIT,
      tempDirectory: path.join(this.store.scratchDir, `aggregate-spill-${randomUUID()}`),
      // The cores shared among the connections: the jobs already run side by side, and a small job on
      // more threads than its share takes about a third more CPU for no less time.
      threads: Math.max(1, Math.floor(availableParallelism() / connections)),
    });
    const engines = [engine];
    try {
      await createUsersView(engine, this.store);
      const smallWindows = await loadSmallWindows(engine, snapshot, reads, this.store, this.props.smallWindowsRows ?? 1_000_000);
      for (let i = 1; i < connections; i++) engines.push(await engine.connectAnother());
      const scratch = path.join(this.store.scratchDir, `aggregate-${randomUUID()}`);
      await fs.mkdir(scratch, { recursive: true });
      return new DuckDbAggregateSession(engines, snapshot, smallWindows, this.store, scratch);
    } catch (error) {
      await closeAll(engines);
      throw error;
    }
  }
}

/** A window of at most this many rows is small: its rows are worth loading into memory with the other small windows. */
const MAX_SMALL_WINDOW_ROWS = 200_000;
/** What a lane's view `events` reads when it reads the table of the small windows. */
const SMALL_WINDOWS = 'small windows';

/** The windows whose rows the table `small_windows` holds, by readWindowKey, and the event times they span. */
interface SmallWindows {
  readonly windows: ReadonlySet<string>;
  readonly span: { readonly start: Date; readonly end: Date } | undefined;
}

/**
 * The table `small_windows`: the rows of every partition that the run's small windows read (a run
 * with late events has dozens of hours holding a few thousand rows each), loaded once, in event time
 * order. A job over such a window then scans one small table in memory instead of opening its own
 * Parquet files. The table holds more hours than any one job reads, which changes no result: every
 * query bounds its own event times to its window (its period with its look-back and look-ahead),
 * and the table holds every row of the hours it bounds to. Windows are taken in the order given
 * while their rows together stay within `maxRows`.
 */
async function loadSmallWindows(engine: DuckDbQueryEngine, snapshot: CatalogSnapshot, reads: AggregateRun['reads'], store: ObjectStore, maxRows: number): Promise<SmallWindows> {
  const windows = new Set<string>();
  const partitions: Record<string, PartitionState> = {};
  let rows = 0;
  let span: SmallWindows['span'];
  for (const read of reads) {
    const window = readWindowKey(read);
    if (windows.has(window)) continue;
    const needed = eventPartitionsOverlapping(snapshot, read.start.getTime(), read.end.getTime());
    const windowRows = rowsOf(Object.values(needed));
    const added = rowsOf(Object.entries(needed).filter(([key]) => !partitions[key]).map(([, state]) => state));
    if (windowRows > MAX_SMALL_WINDOW_ROWS || rows + added > maxRows) continue;
    Object.assign(partitions, needed);
    rows += added;
    windows.add(window);
    span = { start: span && span.start < read.start ? span.start : read.start, end: span && span.end > read.end ? span.end : read.end };
  }
  if (windows.size > 0) await engine.run(`CREATE TABLE small_windows AS ${curatedEventsSql(withPartitions(snapshot, partitions), store)} ORDER BY event_time`);
  return { windows, span };
}

/** One connection of a session, and what its view `events` reads: a window's Parquet files, or `SMALL_WINDOWS`. */
interface Lane {
  readonly engine: DuckDbQueryEngine;
  busy: boolean;
  reads: string | undefined;
}

class DuckDbAggregateSession implements AggregateSession {
  private readonly lanes: Lane[];
  /** Callers of acquire() waiting for a connection to become idle. */
  private readonly waiting: (() => void)[] = [];
  /** Per query: its result's header line and its fields as UNLOAD's text. */
  private readonly csvShapes = new Map<string, Promise<CsvShape>>();
  /** Per query with an hour column: its CSV lines for every hour of the small windows (see smallHourCsv). */
  private readonly smallHours = new Map<string, Promise<SmallHours>>();

  constructor(
    private readonly engines: readonly DuckDbQueryEngine[],
    private readonly snapshot: CatalogSnapshot,
    private readonly smallWindows: SmallWindows,
    private readonly store: ObjectStore,
    /** Where each job's files are written before they move into the store; made by open(), removed by close(). */
    private readonly scratch: string,
  ) {
    this.lanes = engines.map((engine) => ({ engine, busy: false, reads: undefined }));
  }

  get concurrency(): number {
    return this.lanes.length;
  }

  async unload(job: AggregateUnload): Promise<string[]> {
    const window = readWindowKey(job.reads);
    const reads = this.smallWindows.windows.has(window) ? SMALL_WINDOWS : window;
    const hourColumn = AGGREGATE_QUERIES.find(({ name }) => name === job.query)?.hourColumn;
    if (reads === SMALL_WINDOWS && hourColumn !== undefined && job.outputs.every(({ format }) => format === 'csv')) {
      const csv = await this.smallHourCsv(job, hourColumn);
      for (const { key } of job.outputs) await this.store.put(key, csv);
      return job.outputs.map(({ key }) => key);
    }
    const lane = await this.acquire(reads);
    try {
      await this.readEvents(lane, reads, job.reads);
      await computeAggregateResult(lane.engine, job);
      for (const { key, format } of job.outputs) {
        const local = path.join(this.scratch, `${job.query}-${randomUUID()}.${format}`);
        if (format === 'csv') {
          // Written by DuckDB, which quotes as csvField does: a large result (a few hundred thousand rows
          // of high_interest_views) took three times as long through JavaScript. A table scan keeps
          // insertion order, which is the query's ORDER BY.
          const { texts } = await this.csvShape(lane.engine, job.query);
          await lane.engine.run(`COPY (SELECT ${texts.join(', ')} FROM aggregate_result) TO ${sqlString(local)} (${UNLOAD_CSV_OPTIONS})`);
        } else {
          await lane.engine.run(`COPY aggregate_result TO ${sqlString(local)} (FORMAT parquet)`);
        }
        await this.store.putFile(key, local);
      }
      return job.outputs.map(({ key }) => key);
    } finally {
      this.release(lane);
    }
  }

  /** Points the lane's view `events` at `reads`: the table of the small windows, or the partitions of the window `bounds`. */
  private async readEvents(lane: Lane, reads: string, bounds: AggregateUnload['reads']): Promise<void> {
    if (lane.reads === reads) return;
    lane.reads = undefined;
    const source =
      reads === SMALL_WINDOWS
        ? 'SELECT * FROM small_windows'
        : curatedEventsSql(withPartitions(this.snapshot, eventPartitionsOverlapping(this.snapshot, bounds.start.getTime(), bounds.end.getTime())), this.store);
    await lane.engine.run(`CREATE OR REPLACE TEMP VIEW events AS ${source}`);
    lane.reads = reads;
  }

  /**
   * The CSV of a job over a small window whose query has an hour column: its hour's lines, cut from one
   * run of the query over every small window's events. A run with late events has dozens of such hours,
   * and a statement's planning and start-up, not its rows, are most of a small hour's cost.
   */
  private async smallHourCsv(job: AggregateUnload, hourColumn: NonNullable<AggregateQuery['hourColumn']>): Promise<string> {
    let hours = this.smallHours.get(job.query);
    if (!hours) {
      hours = this.computeSmallHours(job, hourColumn);
      this.smallHours.set(job.query, hours);
    }
    const { header, linesByHour } = await hours;
    return header + (linesByHour.get(job.period) ?? []).join('');
  }

  private async computeSmallHours(job: AggregateUnload, hourColumn: string): Promise<SmallHours> {
    const span = this.smallWindows.span as NonNullable<SmallWindows['span']>;
    const lane = await this.acquire(SMALL_WINDOWS);
    try {
      await this.readEvents(lane, SMALL_WINDOWS, job.reads);
      await computeAggregateResult(lane.engine, { query: job.query, parameters: { ...job.parameters, hour_start: span.start, hour_end: span.end } });
      const { header, texts } = await this.csvShape(lane.engine, job.query);
      const hour = `strftime(date_trunc('hour', ${sqlIdentifier(hourColumn)}), '%Y-%m-%dT%H')`;
      const result = await lane.engine.query(`SELECT ${hour}, ${texts.join(', ')} FROM aggregate_result`);
      const linesByHour = new Map<string, string[]>();
      for (const [period, ...fields] of result.rows as [string, ...(string | null)[]][]) {
        const lines = linesByHour.get(period) ?? [];
        lines.push(csvLine(fields));
        linesByHour.set(period, lines);
      }
      return { header, linesByHour };
    } finally {
      this.release(lane);
    }
  }

  /** An idle connection, preferably one whose `events` already reads `reads`; waits for one if all are busy. */
  private async acquire(reads: string): Promise<Lane> {
    for (;;) {
      const idle = this.lanes.filter((lane) => !lane.busy);
      const lane = idle.find((candidate) => candidate.reads === reads) ?? idle[0];
      if (lane) {
        lane.busy = true;
        return lane;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(lane: Lane): void {
    lane.busy = false;
    this.waiting.shift()?.();
  }

  /**
   * How the temp table `aggregate_result` of `query` becomes UNLOAD's CSV (see csvShapeOf; the quoting is
   * csvField's, or UNLOAD_CSV_OPTIONS' where DuckDB writes the file).
   */
  private csvShape(engine: DuckDbQueryEngine, query: string): Promise<CsvShape> {
    // A query's result has the same columns whatever its period: described once per run.
    let shape = this.csvShapes.get(query);
    if (!shape) {
      shape = csvShapeOf(engine);
      this.csvShapes.set(query, shape);
    }
    return shape;
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

/** `snapshot` with only the events `partitions`: a view over it reads what a job needs, as partition pruning does on Spectrum. */
function withPartitions(snapshot: CatalogSnapshot, partitions: Record<string, PartitionState>): CatalogSnapshot {
  const all = snapshot.tables[EVENTS_TABLE];
  return { version: snapshot.version, tables: all ? { [EVENTS_TABLE]: { ...all, partitions } } : {} };
}

/** The rows of `partitions` by the catalog's counts; unbounded when a file's count is unknown. */
function rowsOf(partitions: readonly PartitionState[]): number {
  return partitions.flatMap((partition) => partition.files).reduce((sum, file) => sum + (file.records ?? Number.POSITIVE_INFINITY), 0);
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

interface CsvShape {
  readonly header: string;
  /** Each column of `aggregate_result` as an expression of its text, named as the column. */
  readonly texts: readonly string[];
}

/** A query's CSV lines over the small windows, by hour (`YYYY-MM-DDTHH`), each hour's in the query's order. */
interface SmallHours {
  readonly header: string;
  readonly linesByHour: ReadonlyMap<string, string[]>;
}

/**
 * The `COPY ... TO` options of DuckDB's CSV writer that write UNLOAD's CSV, with the header: `|` between
 * fields, NULL as nothing, and an empty string, or a field holding `|`, `"` or a line break, quoted
 * with quotes doubled, as csvField writes them.
 */
export const UNLOAD_CSV_OPTIONS = "FORMAT csv, DELIMITER '|', HEADER, QUOTE '\"', ESCAPE '\"', NULLSTR ''";

/** The header of `aggregate_result` and its fields as UNLOAD's text: timestamps to the second, the rest as DuckDB casts them. */
async function csvShapeOf(engine: DuckDbQueryEngine): Promise<CsvShape> {
  const described = await engine.query('DESCRIBE aggregate_result');
  const columns = described.rows.map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  const texts = columns.map(({ name, type }) =>
    `${type.startsWith('TIMESTAMP') ? `strftime(${sqlIdentifier(name)}, '%Y-%m-%d %H:%M:%S')` : `CAST(${sqlIdentifier(name)} AS VARCHAR)`} AS ${sqlIdentifier(name)}`,
  );
  return { header: csvLine(columns.map(({ name }) => name)), texts };
}

