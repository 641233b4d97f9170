import { DuckDBInstance } from '@duckdb/node-api';
import { sqlString } from '../tasks/shared/sql-text';
import { rawEventsSql } from './raw-events';

/**
 * The yardstick of the hourly run: what a plain DuckDB job does with the same raw objects in one SQL
 * statement, `read_json → dedup → sort → COPY … PARTITION_BY`, on the same machine with DuckDB's defaults
 * (one thread per core, memory limit 80 % of RAM), writing zstd Parquet as the pipeline does.
 *
 * It is a fair floor, not an equivalent: it does not do what the pipeline is for. It has
 * - no strict per-record validation: `ignore_errors` drops unparseable lines silently, with no reason, source
 *   or count; a numeric click_id is accepted as text; invalid UTF-8 is not checked strictly; no record size
 *   limit, no future_timestamp or too_late windows; concatenated `}{` records are not split;
 * - no rejects table, no accepted + rejected + duplicates = read accounting;
 * - no enrichment: no IP geolocation, no /24 ip_prefix, no users-dimension join, no derived (skew-corrected)
 *   time, no `extra` column for unknown fields (they are dropped);
 * - a weaker dedup order: the first object by file name wins, ties inside an object are arbitrary (the pipeline
 *   orders by arrival hour, object key, record number) and nothing is deduplicated against earlier runs;
 * - no processed-object ledger (late Firehose deliveries into old prefixes), no catalog, no versioned
 *   partitions, no atomic commit with a retry token, no crash safety (COPY writes in place), no fsync;
 * - no compaction and no vacuum, no execution record, no workflow interpreter.
 */
export interface BaselineInput {
  /** The lake whose `raw/` objects are read. */
  readonly lake: string;
  /** The directory the partitioned Parquet goes to (must not exist). */
  readonly out: string;
}

export interface BaselineResult {
  readonly rowsOut: number;
  readonly sql: string;
}

export function baselineSql(input: BaselineInput): string {
  return `
COPY (
  WITH events AS (${rawEventsSql(input.lake)})
  SELECT *, strftime(event_time, '%Y-%m-%d') AS dt, strftime(event_time, '%H') AS hr
  FROM events
  QUALIFY row_number() OVER (PARTITION BY click_id ORDER BY source_key) = 1
  ORDER BY event_time, user_id, click_id
) TO ${sqlString(input.out)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt, hr))`;
}

export async function runBaseline(input: BaselineInput): Promise<BaselineResult> {
  const sql = baselineSql(input);
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    const result = await db.run(sql);
    const rowsOut = Number(result.rowsChanged);
    return { rowsOut, sql };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

