import { DuckDBInstance } from '@duckdb/node-api';
import { sqlString } from '../tasks/adapters/local/duckdb-query-engine';

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

/** The raw event fields, typed as the event schema reads them; timestamps as text, parsed with try_cast. */
const RAW_COLUMNS = {
  timestamp: 'VARCHAR',
  user_id: 'VARCHAR',
  pixel_id: 'VARCHAR',
  click_id: 'VARCHAR',
  insertion_timestamp: 'VARCHAR',
  event_name: 'VARCHAR',
  user_ip: 'VARCHAR',
  additional_data: 'JSON',
};

export function baselineSql(input: BaselineInput): string {
  const columns = Object.entries(RAW_COLUMNS)
    .map(([name, type]) => `'${name}': '${type}'`)
    .join(', ');
  const glob = `${input.lake}/raw/**/*.gz`;
  return `
COPY (
  WITH raw AS (
    SELECT * FROM read_json(${sqlString(glob)}, format = 'newline_delimited', ignore_errors = true, filename = true, columns = {${columns}})
  ),
  typed AS (
    SELECT click_id,
           try_cast("timestamp" AS TIMESTAMP) AS event_time,
           try_cast(insertion_timestamp AS TIMESTAMP) AS sent_time,
           event_name, user_id, pixel_id, user_ip,
           -- additional_data may be a string holding the JSON object
           CASE WHEN json_type(additional_data) = 'VARCHAR' THEN json(additional_data ->> '$') ELSE additional_data END AS ad,
           filename
    FROM raw
  )
  SELECT click_id, event_time, sent_time, event_name, user_id, pixel_id, user_ip,
         try_cast(ad ->> 'product_id' AS BIGINT) AS product_id,
         try_cast(ad ->> 'price' AS DOUBLE) AS price,
         try_cast(ad ->> 'percent_viewed' AS DOUBLE) AS percent_viewed,
         try_cast(ad ->> 'time_on_data' AS BIGINT) AS time_on_data,
         filename AS source_key,
         strftime(event_time, '%Y-%m-%d') AS dt, strftime(event_time, '%H') AS hr
  FROM typed
  WHERE click_id IS NOT NULL AND click_id <> '' AND event_time IS NOT NULL AND event_name IS NOT NULL AND event_name <> ''
  QUALIFY row_number() OVER (PARTITION BY click_id ORDER BY filename) = 1
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

