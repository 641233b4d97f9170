/**
 * Where curated events live and how the catalog describes them: the contract between the merge,
 * compaction, vacuum and every reader (DuckDB views locally, the Glue table on AWS).
 *
 * A partition is one event-time hour, `dt=YYYY-MM-DD/hr=HH`. Its files are named by the catalog:
 * base files written by a compaction under a fresh version prefix, plus sorted delta files that
 * merges append next to them. Readers read exactly the files of a catalog snapshot, never a listing.
 */
import type { CatalogSnapshot, Column, DataFile, PartitionState } from '../ports/catalog';
import { formatHour, HOUR_IN_MS } from '../shared/hours';

export const EVENTS_TABLE = 'events';
export const REJECTS_TABLE = 'rejects';
/** Raw objects already merged, one partition per arrival hour; see `ledger.ts`. */
export const RAW_LEDGER_TABLE = 'raw_ledger';
/** Where each merged click_id went, one partition per arrival hour; see `click-index.ts`. */
export const CLICK_INDEX_TABLE = 'click_index';

export const CURATED_PREFIX = 'curated/events/';
export const REJECTS_PREFIX = 'rejects/';
export const CLICK_INDEX_PREFIX = 'curated/click_index/';
/** On AWS, each partition version's list of files, which the Glue tables read (see glue-catalog-sync.ts). */
export const MANIFESTS_PREFIX = 'curated/manifests/';
/** The users dimension (`user_id`, `name`, `segment`, ...), one JSON object a line: user names for the merge, segments for the aggregates. */
export const USERS_DIMENSION_KEY = 'dims/users/users.jsonl';

/** The curated columns in file order, with the DuckDB type each is written as (Glue/Hive type in `type`). */
export const EVENT_COLUMNS: readonly (Column & { readonly duckdb: string })[] = [
  { name: 'click_id', type: 'string', duckdb: 'VARCHAR' },
  { name: 'event_time', type: 'timestamp', duckdb: 'TIMESTAMP', comment: 'client timestamp, UTC' },
  { name: 'sent_time', type: 'timestamp', duckdb: 'TIMESTAMP', comment: 'client insertion_timestamp, UTC' },
  { name: 'arrival_hour', type: 'timestamp', duckdb: 'TIMESTAMP', comment: 'start of the Firehose arrival hour' },
  { name: 'derived_time', type: 'timestamp', duckdb: 'TIMESTAMP', comment: 'arrival time minus the client send delay (skew-corrected)' },
  { name: 'event_name', type: 'string', duckdb: 'VARCHAR' },
  { name: 'user_id', type: 'string', duckdb: 'VARCHAR' },
  { name: 'pixel_id', type: 'string', duckdb: 'VARCHAR' },
  { name: 'product_id', type: 'bigint', duckdb: 'BIGINT' },
  { name: 'price', type: 'double', duckdb: 'DOUBLE' },
  { name: 'percent_viewed', type: 'double', duckdb: 'DOUBLE' },
  { name: 'time_on_data', type: 'bigint', duckdb: 'BIGINT' },
  { name: 'extra', type: 'string', duckdb: 'JSON', comment: 'unknown client fields, as a JSON object' },
  { name: 'ip_prefix', type: 'string', duckdb: 'VARCHAR', comment: 'client IP truncated (/24 for IPv4, /48 for IPv6)' },
  { name: 'country', type: 'string', duckdb: 'VARCHAR' },
  { name: 'region', type: 'string', duckdb: 'VARCHAR' },
  { name: 'city', type: 'string', duckdb: 'VARCHAR' },
  { name: 'user_name', type: 'string', duckdb: 'VARCHAR' },
  { name: 'source_key', type: 'string', duckdb: 'VARCHAR', comment: 'raw object the event was read from' },
  { name: 'record_number', type: 'int', duckdb: 'INTEGER', comment: 'record number within source_key, from 1' },
  { name: 'dt', type: 'string', duckdb: 'VARCHAR' },
  { name: 'hr', type: 'string', duckdb: 'VARCHAR' },
];

/** Rows within every curated file are in this order. */
export const EVENT_SORT_ORDER = 'event_time, user_id, click_id';

/** A curated data file as the catalog records it. */
export interface CuratedFile extends DataFile {
  readonly records: number;
  /** `base` files come from a compaction (or the first write of a partition); `delta` files from a later merge. */
  readonly kind: 'base' | 'delta';
}

/** The catalog key of the partition holding event hour `hour` ('YYYY-MM-DDTHH'). */
export function partitionKeyOfHour(hour: string): string {
  return `dt=${hour.slice(0, 10)}/hr=${hour.slice(11, 13)}`;
}

/** The event hour ('YYYY-MM-DDTHH') of a partition key. */
export function hourOfPartitionKey(partition: string): string {
  const match = /^dt=(\d{4}-\d{2}-\d{2})\/hr=(\d{2})$/.exec(partition);
  if (!match) throw new Error(`not an events partition key: "${partition}"`);
  return `${match[1]}T${match[2]}`;
}

/** The events partitions of `snapshot` for the hours overlapping [startMs, endMs), by key. */
export function eventPartitionsOverlapping(snapshot: CatalogSnapshot, startMs: number, endMs: number): Record<string, PartitionState> {
  const all = snapshot.tables[EVENTS_TABLE]?.partitions ?? {};
  const partitions: Record<string, PartitionState> = {};
  for (let ms = startMs - (startMs % HOUR_IN_MS); ms < endMs; ms += HOUR_IN_MS) {
    const key = partitionKeyOfHour(formatHour(ms));
    if (all[key]) partitions[key] = all[key];
  }
  return partitions;
}

/**
 * The name of an execution from its id or ARN (`arn:...:execution:<machine>:<name>`): unique per
 * execution, so files named with it never overwrite files another execution wrote.
 */
export function executionNameOf(executionId: string): string {
  const name = executionId.slice(executionId.lastIndexOf(':') + 1);
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`execution id "${executionId}" gives no usable name`);
  return name;
}

/** The prefix a partition's first version lives under. */
export function initialLocation(partition: string): string {
  return `${CURATED_PREFIX}${partition}/v=0/`;
}

/** A fresh version prefix for a compaction of `partition` by `executionName`. */
export function compactedLocation(partition: string, executionName: string): string {
  return `${CURATED_PREFIX}${partition}/v=${executionName}/`;
}

/** The key of the delta file a merge by `executionName` appends to a partition at `location`. */
export function deltaFileKey(location: string, executionName: string): string {
  return `${location}delta-${executionName}.parquet`;
}

/**
 * The key of a rewrite of one file of a partition: when a copy that arrived earlier turns up after a
 * later copy was merged (an out-of-order backfill), the file holding the later copy is rewritten without it.
 */
export function rewrittenFileKey(location: string, executionName: string, index: number): string {
  return `${location}rewrite-${executionName}-${String(index).padStart(5, '0')}.parquet`;
}

/** The key of the rejects file of one raw object. */
export function rejectsFileKey(arrivalHour: string, sourceKey: string): string {
  const base = sourceKey.slice(sourceKey.lastIndexOf('/') + 1).replace(/\.gz$/, '');
  return `${REJECTS_PREFIX}arrival_hour=${arrivalHour}/${base}.jsonl`;
}

/**
 * One line of a rejects file. The record is kept whole, so nothing is lost: as text when it is valid
 * UTF-8, else as base64 of its bytes. The `rejects` view cuts `record` to a readable length.
 */
export interface RejectLine {
  readonly reason: string;
  readonly source_key: string;
  readonly record_number: number;
  /** 'YYYY-MM-DDTHH' */
  readonly arrival_hour: string;
  readonly record: string | null;
  readonly record_base64: string | null;
}
