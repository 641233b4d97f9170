import { sqlString } from '../tasks/shared/sql-text';

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

/**
 * A SELECT of the click events in every raw object of `lake` (the `.gz` files under `raw/`, one JSON record
 * a line, as the generator and Firehose write them), typed in SQL alone, as a plain DuckDB job reads them: columns
 * `click_id, event_time, sent_time, event_name, user_id, pixel_id, user_ip, product_id, price,
 * percent_viewed, time_on_data, source_key` (the object's path).
 *
 * Loose where the pipeline is strict (see baseline.ts): `ignore_errors` skips unparseable lines without
 * a word, and a record only needs a click_id, a timestamp that casts and an event_name. Nothing is
 * deduplicated.
 */
export function rawEventsSql(lake: string): string {
  const columns = Object.entries(RAW_COLUMNS)
    .map(([name, type]) => `'${name}': '${type}'`)
    .join(', ');
  const glob = `${lake}/raw/**/*.gz`;
  return `
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
         filename AS source_key
  FROM typed
  WHERE click_id IS NOT NULL AND click_id <> '' AND event_time IS NOT NULL AND event_name IS NOT NULL AND event_name <> ''`;
}
