import {
  DuckDBArrayValue,
  DuckDBConnection,
  DuckDBDecimalValue,
  DuckDBInstance,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBResultReader,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBUnionValue,
  DuckDBVariantValue,
  listValue,
  StatementType,
  timestampValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import { QueryError, type QueryEngine, type QueryResult } from '../../ports/query-engine';
import { sqlString } from '../../shared/sql-text';

export interface DuckDbQueryEngineOptions {
  /** Worker threads. @default DuckDB's default, the number of cores */
  readonly threads?: number;
  /** For example `'2GB'`. @default DuckDB's default, 80 % of the machine's memory */
  readonly memoryLimit?: string;
  /** Where operators spill when they exceed the memory limit. @default DuckDB's default, `.tmp` in the working directory */
  readonly tempDirectory?: string;
}

/**
 * The query engine of the embedded default: an in-memory DuckDB database. Other local adapters that
 * need DuckDB itself (writing Parquet with `COPY`, for instance) use `connection`.
 */
export class DuckDbQueryEngine implements QueryEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    /** The DuckDB connection every call of this engine runs on. */
    readonly connection: DuckDBConnection,
    /** Whether closing this engine closes the database too (false for one from `connectAnother`). */
    private readonly ownsDatabase = true,
  ) {}

  /**
   * Another engine on the same database, with a connection of its own: its statements run alongside
   * this engine's, and its temporary views and tables are its own. Close it before this one.
   */
  async connectAnother(): Promise<DuckDbQueryEngine> {
    return new DuckDbQueryEngine(this.instance, await translateErrors(() => this.instance.connect()), false);
  }

  static async open(options: DuckDbQueryEngineOptions = {}): Promise<DuckDbQueryEngine> {
    const config: Record<string, string> = {};
    if (options.threads !== undefined) config.threads = String(options.threads);
    if (options.memoryLimit !== undefined) config.memory_limit = options.memoryLimit;
    if (options.tempDirectory !== undefined) config.temp_directory = options.tempDirectory;
    const instance = await translateErrors(() => DuckDBInstance.create(':memory:', config));
    try {
      return new DuckDbQueryEngine(instance, await translateErrors(() => instance.connect()));
    } catch (error) {
      instance.closeSync();
      throw error;
    }
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    const reader = await translateErrors(() => this.connection.runAndReadAll(sql, toDuckDbParams(params)));
    return resultOf(reader);
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<void> {
    await translateErrors(() => this.connection.run(sql, toDuckDbParams(params)));
  }

  /**
   * Runs `sql` only if it is one statement that reads (a `SELECT`, which includes `FROM ...`,
   * `VALUES`, `DESCRIBE`, `SHOW` and `SUMMARIZE`). Anything else (`COPY`, `ATTACH`, `CREATE`, `SET`,
   * `EXPLAIN ANALYZE` of a write, ...) is refused before it runs.
   */
  async queryReadOnly(sql: string): Promise<QueryResult> {
    const statements = await translateErrors(() => this.connection.extractStatements(sql));
    if (statements.count !== 1) throw new QueryError(`expected exactly one SQL statement, got ${statements.count}`);
    const prepared = await translateErrors(() => statements.prepare(0));
    try {
      if (prepared.statementType !== StatementType.SELECT) {
        throw new QueryError(`only statements that read (SELECT, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE) may run here, got a ${StatementType[prepared.statementType]} statement`);
      }
      return resultOf(await translateErrors(() => prepared.runAndReadAll()));
    } finally {
      prepared.destroySync();
    }
  }

  /**
   * Confines the engine, irreversibly, to reading and writing `paths` (exact files) and nothing else
   * on any filesystem, and locks its configuration so that SQL cannot undo this. Views created before
   * keep working as long as the files they read are among `paths`.
   */
  async confineTo(paths: readonly string[]): Promise<void> {
    await this.run(`SET allowed_paths = [${paths.map(sqlString).join(', ')}]`);
    await this.run('SET enable_external_access = false');
    await this.run('SET lock_configuration = true');
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    if (this.ownsDatabase) this.instance.closeSync();
  }
}

async function translateErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof QueryError) throw error;
    throw new QueryError(oneLine(error instanceof Error ? error.message : String(error)), { cause: error });
  }
}

/**
 * DuckDB's messages may end with a multi-line excerpt of the SQL (`LINE 1: ...` and a caret); the
 * part before it says what went wrong, and is kept on one line, without the wrapper the Node API
 * adds when a statement does not even parse.
 */
function oneLine(message: string): string {
  return message
    .split(/\n\s*LINE \d+:/)[0]!
    .replace(/^(Error: )?(Failed to extract statements: )?/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function resultOf(reader: DuckDBResultReader): QueryResult {
  const names = reader.columnNames();
  const types = reader.columnTypes();
  const columns = names.map((name, index) => {
    const type = types[index]!;
    return { name, type: type.alias ?? type.toString() };
  });
  return { columns, rows: reader.getRows().map((row) => row.map(toPlain)) };
}

/** Without parameters, the SQL runs unprepared, so that a text of several statements runs too. */
function toDuckDbParams(params: readonly unknown[]): DuckDBValue[] | undefined {
  return params.length === 0 ? undefined : params.map((param, index) => toDuckDbValue(param, index + 1));
}

function toDuckDbValue(value: unknown, position: number): DuckDBValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'boolean':
    case 'number':
    case 'bigint':
    case 'string':
      return value;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new QueryError(`parameter $${position}: invalid Date`);
    return timestampValue(BigInt(value.getTime()) * 1000n);
  }
  if (Array.isArray(value)) return listValue(value.map((item) => toDuckDbValue(item, position)));
  throw new QueryError(`parameter $${position}: cannot bind a ${value.constructor?.name ?? typeof value}; expected null, a boolean, number, bigint, string, Date or an array of these`);
}

/** A DuckDB value as the port's plain value; see QueryResult. */
function toPlain(value: DuckDBValue): unknown {
  switch (typeof value) {
    case 'boolean':
    case 'number':
    case 'string':
      return value;
    case 'bigint':
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (value === null) return null;
  if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue) return isoTimestamp(value, value.micros, 1000n);
  if (value instanceof DuckDBTimestampMillisecondsValue) return isoTimestamp(value, value.millis, 1n);
  if (value instanceof DuckDBTimestampSecondsValue) return isoTimestamp(value, value.seconds * 1000n, 1n);
  if (value instanceof DuckDBTimestampNanosecondsValue) return isoTimestamp(value, value.nanos, 1_000_000n);
  if (value instanceof DuckDBDecimalValue) return value.toDouble();
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(toPlain);
  if (value instanceof DuckDBStructValue) {
    return Object.fromEntries(Object.entries(value.entries).map(([name, entry]) => [name, toPlain(entry)]));
  }
  if (value instanceof DuckDBMapValue) {
    const entries = value.entries.map(({ key, value: entry }) => [toPlain(key), toPlain(entry)] as const);
    // An object when the keys can be property names; otherwise the entries, so that no key is lost.
    return entries.every(([key]) => typeof key === 'string' || typeof key === 'number')
      ? Object.fromEntries(entries)
      : entries.map(([key, entry]) => ({ key, value: entry }));
  }
  if (value instanceof DuckDBUnionValue || value instanceof DuckDBVariantValue) return toPlain(value.value);
  // DATE, TIME, TIME WITH TIME ZONE, INTERVAL, UUID, BLOB, BIT, GEOMETRY: DuckDB's own text.
  return value.toString();
}

/**
 * `ticks` since the epoch (UTC), `ticksPerMs` of them to a millisecond, as ISO 8601 with `Z`:
 * milliseconds always, and micro- or nanoseconds only when they are not zero.
 */
function isoTimestamp(value: { readonly isFinite: boolean; toString(): string }, ticks: bigint, ticksPerMs: bigint): string {
  if (!value.isFinite) return ticks > 0n ? 'infinity' : '-infinity';
  let ms = ticks / ticksPerMs;
  if (ms * ticksPerMs > ticks) ms -= 1n; // BigInt division truncates towards zero; we need the floor.
  const date = new Date(Number(ms));
  // Beyond what a JavaScript Date can hold (about ±275,000 years): DuckDB's own text.
  if (Number.isNaN(date.getTime())) return value.toString();
  const iso = date.toISOString();
  const rest = ticks - ms * ticksPerMs;
  if (rest === 0n) return iso;
  const digits = String(ticksPerMs).length - 1;
  return `${iso.slice(0, -1)}${rest.toString().padStart(digits, '0').replace(/(000)+$/, '')}Z`;
}
