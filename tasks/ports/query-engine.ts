/**
 * The SQL engine that reads the lake: DuckDB locally, Redshift Spectrum (or Athena) on AWS. Values
 * cross this port as plain JSON-friendly JavaScript, whatever the engine's own types are.
 */

/** A column of a result: its name and the engine's name for its type (`VARCHAR`, `TIMESTAMP`, `DECIMAL(18,3)`, ...). */
export interface ResultColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * A whole result. Values are `null`, booleans, numbers, strings, arrays and plain objects:
 * 64-bit and wider integers are numbers when they are safe integers and decimal strings otherwise;
 * decimals are numbers; timestamps are ISO 8601 strings in UTC ending in `Z`; dates, times and
 * intervals are strings; JSON values are their text; lists are arrays and structs are objects.
 */
export interface QueryResult {
  readonly columns: ResultColumn[];
  readonly rows: unknown[][];
}

/**
 * Runs SQL. `params` bind positional parameters (`$1`, `$2`, ... or `?`) and accept `null`,
 * booleans, numbers, bigints, strings, Dates (as UTC timestamps) and arrays of these.
 * Failures of the SQL itself (syntax, binding, permissions, conversion) reject with a QueryError.
 */
export interface QueryEngine {
  /** Runs one statement and reads its whole result. */
  query(sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  /** Runs SQL for its effect (views, settings, `COPY`), discarding any result. */
  run(sql: string, params?: readonly unknown[]): Promise<void>;
  /** Releases the engine; no call may follow. */
  close(): Promise<void>;
}

/** The engine refused or failed a statement; the message is the engine's, on one line. */
export class QueryError extends Error {
  override readonly name = 'QueryError';
}
