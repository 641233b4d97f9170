import type { DuckDBConnection } from '@duckdb/node-api';
import { EVENT_SORT_ORDER } from './layout';

/**
 * Sorting curated rows with their repetitive text as ENUMs. Strings in a sort's payload are most of its
 * cost: on the benchmark's large hour, sorting every column took 6.4 s where sorting the keys alone took
 * 0.5 s. The columns below hold few distinct values in a partition (the raw objects, the client
 * locations, the users' names), so they are sorted as ENUMs, small integers, and cast back to text after
 * the sort, which writes the same bytes as a plain sort (see sortedAsText).
 */
export const ENUM_SORTED_COLUMNS = ['source_key', 'ip_prefix', 'country', 'region', 'city', 'user_name'] as const;
export type EnumSortedColumn = (typeof ENUM_SORTED_COLUMNS)[number];

/** Whether `column` is one of ENUM_SORTED_COLUMNS. */
export function isEnumSorted(column: string): column is EnumSortedColumn {
  return (ENUM_SORTED_COLUMNS as readonly string[]).includes(column);
}

/**
 * Creates, for each entry of `valuesOf`, an ENUM type named `<prefix><column>` over the distinct non-null
 * texts of the entry's query (a query of one column).
 */
export async function createEnumTypes(db: DuckDBConnection, prefix: string, valuesOf: Readonly<Record<string, string>>): Promise<void> {
  for (const [column, values] of Object.entries(valuesOf)) {
    await db.run(`CREATE TYPE ${prefix}${column} AS ENUM (SELECT DISTINCT text FROM (${values}) AS t (text) WHERE text IS NOT NULL ORDER BY 1)`);
  }
}

export async function dropEnumTypes(db: DuckDBConnection, prefix: string, columns: readonly string[]): Promise<void> {
  for (const column of columns) await db.run(`DROP TYPE IF EXISTS ${prefix}${column}`);
}

/** `column` cast to its ENUM type of createEnumTypes, as a select-list item. */
export function asEnum(column: string, prefix: string): string {
  return `CAST(${column} AS ${prefix}${column}) AS ${column}`;
}

/**
 * The rows of `query` in EVENT_SORT_ORDER, its `enumColumns` text again after the sort: DuckDB would
 * write every value of an ENUM type into each file's dictionary. The outer projection keeps the order of
 * the sorted subquery it reads (DuckDB's insertion-order preservation).
 */
export function sortedAsText(query: string, enumColumns: readonly string[]): string {
  const sorted = `SELECT * FROM (${query}) ORDER BY ${EVENT_SORT_ORDER}`;
  if (enumColumns.length === 0) return sorted;
  return `SELECT * REPLACE (${enumColumns.map((column) => `CAST(${column} AS VARCHAR) AS ${column}`).join(', ')}) FROM (${sorted})`;
}
