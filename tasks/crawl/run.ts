import { isDeepStrictEqual } from 'node:util';
import type { Catalog, CatalogChange, CatalogSnapshot, Column, CommitRecord, DataFile, DriftEvent } from '../ports/catalog';
import type { ObjectInfo, ObjectStore } from '../ports/object-store';
import { commitWithRetry } from '../shared/commit-with-retry';
import { rawPrefix } from '../shared/hours';
import { parseRecordText, readRawRecords } from '../shared/raw-records';
import { diffColumns, listFields, mergeColumns, SchemaInference } from './schema-inference';

/** The catalog table of the raw arrival hours. */
export const RAW_EVENTS_TABLE = 'raw_events';

const CRAWL_STEP = 'crawl';

/** Fields that producers sometimes send as a string holding a JSON object: typed from the parsed object. */
const STRINGIFIED_OBJECT_FIELDS = ['additional_data'] as const;

export interface CrawlInput {
  /** The arrival hour, `YYYY-MM-DDTHH` (UTC). */
  readonly hour: string;
  /** The workflow execution: with the hour, the token of the crawl's commit. */
  readonly executionId: string;
}

export interface CrawlSettings {
  /**
   * How much of each object the crawl reads, in stored (compressed) bytes, as a Glue crawler samples
   * the start of each file: enough records to infer the columns and see drift, at a cost that does not
   * grow with the hour. The merge reads every record; a field first seen past the sample still lands
   * in the curated `extra` column.
   */
  readonly sampleBytes: number;
}

export const DEFAULT_CRAWL_SETTINGS: CrawlSettings = { sampleBytes: 256 * 1024 };

export interface CrawlPorts {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
}

/** The crawl's report; JSON-serialisable, it becomes the Step Functions state output. */
export interface CrawlResult {
  readonly hour: string;
  readonly objects: number;
  /** Objects larger than the sample, of which the crawl read only the start. */
  readonly sampledObjects: number;
  /** Records read, malformed ones included: every record of the objects not sampled. */
  readonly records: number;
  /** Stored (compressed) bytes of the objects. */
  readonly bytes: number;
  /** Records that are not JSON objects, not valid UTF-8, or too large: counted, not typed. */
  readonly malformedRecords: number;
  /** Top-level columns of the raw table after this crawl. */
  readonly columns: number;
  /** True when this crawl gave the table its first columns: a first crawl reports no drift. */
  readonly schemaEstablished: boolean;
  /** The drift this crawl recorded; empty on a rerun. */
  readonly drift: DriftEvent[];
  readonly catalogVersion: number;
}

/**
 * Registers one raw arrival hour in table `raw_events`: the partition (objects with size and record
 * count, record counts, the hour's own inferred columns), the union of the table's columns, and the
 * schema drift of this hour against the columns the table had before it, all in one commit.
 * Rerunning an hour converges: when nothing changed, no commit is made and no drift recorded twice.
 */
export async function runCrawl(
  input: CrawlInput,
  ports: CrawlPorts,
  now: () => Date = () => new Date(),
  settings: CrawlSettings = DEFAULT_CRAWL_SETTINGS,
): Promise<CrawlResult> {
  const { hour } = input;
  const location = rawPrefix(hour);
  const objects: ObjectInfo[] = [];
  for await (const info of ports.store.list(location)) objects.push(info);
  const scan = await scanObjects(ports.store, objects, settings.sampleBytes);
  const facts = { hour, objects: objects.length, sampledObjects: scan.sampledObjects, records: scan.records, bytes: scan.bytes, malformedRecords: scan.malformedRecords };

  if (objects.length === 0) {
    const snapshot = await ports.catalog.snapshot();
    return { ...facts, columns: columnsOf(snapshot).length, schemaEstablished: false, drift: [], catalogVersion: snapshot.version };
  }

  const partitionColumns = scan.inference.columns();
  const partition = {
    location,
    files: scan.files,
    properties: {
      records: scan.records,
      sampledObjects: scan.sampledObjects,
      malformedRecords: scan.malformedRecords,
      malformedByReason: scan.malformedByReason,
      stringified: scan.stringified,
      columns: partitionColumns,
    },
  };
  let plan: { readonly version: number; readonly columns: number } | undefined;
  const commit = await commitWithRetry(ports.catalog, { executionId: input.executionId, hour, step: CRAWL_STEP }, (snapshot) => {
    const before = columnsOf(snapshot);
    const after = mergeColumns(before, partitionColumns);
    plan = { version: snapshot.version, columns: after.length };
    const changes: CatalogChange[] = [];
    const existing = snapshot.tables[RAW_EVENTS_TABLE]?.partitions[hour];
    if (!existing || !isDeepStrictEqual({ location: existing.location, files: existing.files, properties: existing.properties }, partition)) {
      changes.push({ kind: 'putPartition', table: RAW_EVENTS_TABLE, partition: hour, ...partition });
    }
    // A first crawl establishes the schema; after that, columns change only together with drift events.
    const drift = before.length === 0 ? [] : driftEvents(before, after, scan.inference, hour, now().toISOString());
    if ((before.length === 0 && after.length > 0) || drift.length > 0) {
      changes.push({ kind: 'setColumns', table: RAW_EVENTS_TABLE, columns: after });
    }
    if (drift.length > 0) changes.push({ kind: 'recordDrift', table: RAW_EVENTS_TABLE, events: drift });
    return changes;
  });

  if (!commit) {
    // commitWithRetry returns undefined only after a build found nothing to change.
    const { version, columns } = plan!;
    return { ...facts, columns, schemaEstablished: false, drift: [], catalogVersion: version };
  }
  return { ...facts, ...(await describeCommit(commit, plan, ports.catalog)) };
}

/**
 * What a crawl commit did, read from the commit itself: on a retry after an unknown outcome the
 * commit was made by an earlier attempt, and this attempt did not build it.
 */
async function describeCommit(
  commit: CommitRecord,
  plan: { readonly columns: number } | undefined,
  catalog: Catalog,
): Promise<Pick<CrawlResult, 'columns' | 'schemaEstablished' | 'drift' | 'catalogVersion'>> {
  const own = commit.changes.filter((change) => change.table === RAW_EVENTS_TABLE);
  const setColumns = own.find((change) => change.kind === 'setColumns');
  const drift = own.flatMap((change) => (change.kind === 'recordDrift' ? change.events : []));
  const columns = setColumns?.columns.length ?? plan?.columns ?? columnsOf(await catalog.snapshot()).length;
  return { columns, schemaEstablished: setColumns !== undefined && drift.length === 0, drift: [...drift], catalogVersion: commit.version };
}

function columnsOf(snapshot: CatalogSnapshot): readonly Column[] {
  return snapshot.tables[RAW_EVENTS_TABLE]?.columns ?? [];
}

function driftEvents(before: readonly Column[], after: readonly Column[], inference: SchemaInference, hour: string, detectedAt: string): DriftEvent[] {
  return diffColumns(before, after).map(({ path, field, change, from, to }) => ({
    field,
    change,
    ...(from === undefined ? {} : { from }),
    to,
    partition: hour,
    detectedAt,
    records: inference.valuesAt(path),
  }));
}

interface HourScan {
  readonly files: DataFile[];
  readonly sampledObjects: number;
  readonly records: number;
  readonly bytes: number;
  readonly malformedRecords: number;
  readonly malformedByReason: Record<'malformed_json' | 'invalid_encoding' | 'too_large', number>;
  readonly stringified: Record<string, number>;
  readonly inference: SchemaInference;
}

async function scanObjects(store: ObjectStore, objects: readonly ObjectInfo[], sampleBytes: number): Promise<HourScan> {
  const inference = new SchemaInference();
  const malformedByReason = { malformed_json: 0, invalid_encoding: 0, too_large: 0 };
  const stringified: Record<string, number> = Object.fromEntries(STRINGIFIED_OBJECT_FIELDS.map((field) => [field, 0]));
  const files: DataFile[] = [];
  let records = 0;
  let bytes = 0;
  let sampledObjects = 0;
  // Reads the next object while this one is parsed.
  let next = objects[0] && prefetch(store, objects[0].key);
  for (let i = 0; i < objects.length; i++) {
    const info = objects[i]!;
    const body = await next!;
    next = objects[i + 1] && prefetch(store, objects[i + 1]!.key);
    let objectRecords = 0;
    const sampled = body.length > sampleBytes;
    for (const record of readRawRecords(body, { sampleBytes })) {
      objectRecords += 1;
      if (record.error !== undefined) {
        malformedByReason[record.error] += 1;
        continue;
      }
      const value = parseRecordText(record.text);
      if (value === 'malformed_json') {
        malformedByReason.malformed_json += 1;
        continue;
      }
      for (const field of STRINGIFIED_OBJECT_FIELDS) {
        const text = value[field];
        if (typeof text !== 'string') continue;
        const parsed = parseRecordText(text);
        if (parsed === 'malformed_json') continue;
        value[field] = parsed;
        stringified[field]! += 1;
      }
      inference.observe(value);
    }
    // A sampled object's record count is unknown here: the merge counts every record.
    files.push(sampled ? { key: info.key, size: body.length } : { key: info.key, size: body.length, records: objectRecords });
    if (sampled) sampledObjects += 1;
    records += objectRecords;
    bytes += body.length;
  }
  const malformedRecords = malformedByReason.malformed_json + malformedByReason.invalid_encoding + malformedByReason.too_large;
  return { files, sampledObjects, records, bytes, malformedRecords, malformedByReason, stringified, inference };
}

function prefetch(store: ObjectStore, key: string): Promise<Buffer> {
  const body = store.get(key);
  // Marks a failure as handled until it is awaited, so an earlier failure cannot surface it as unhandled.
  body.catch(() => undefined);
  return body;
}

/** The raw table's columns (nested fields indented), its partitions, and its drift history, for people. */
export function describeRawSchema(snapshot: CatalogSnapshot): string {
  const table = snapshot.tables[RAW_EVENTS_TABLE];
  if (!table || (table.columns.length === 0 && Object.keys(table.partitions).length === 0)) {
    return `${RAW_EVENTS_TABLE}: no arrival hour crawled yet (run \`lakehouse run --hour YYYY-MM-DDTHH\` first)`;
  }
  const hours = Object.keys(table.partitions).sort();
  let records = 0;
  let malformed = 0;
  let sampled = 0;
  for (const partition of Object.values(table.partitions)) {
    records += numberOr0(partition.properties.records);
    malformed += numberOr0(partition.properties.malformedRecords);
    sampled += numberOr0(partition.properties.sampledObjects);
  }
  const span = hours.length === 0 ? '' : ` (${hours[0]} to ${hours[hours.length - 1]})`;
  const fields = listFields(table.columns);
  const width = Math.max(0, ...fields.map((line) => line.depth * 2 + line.field.length));
  const lines = [
    `${RAW_EVENTS_TABLE}: ${plural(table.columns.length, 'column')}, ${plural(hours.length, 'arrival hour')}${span}, ${plural(records, 'record')} read of which ${malformed} malformed${sampled > 0 ? ` (${plural(sampled, 'large object')} read in part, as a sample)` : ''}`,
    '',
    fields.length === 0 ? 'columns: none yet (no record crawled so far was a JSON object)' : 'columns:',
    ...fields.map((line) => `  ${`${'  '.repeat(line.depth)}${line.field}`.padEnd(width)}  ${line.type}`),
    '',
  ];
  if (table.drift.length === 0) {
    lines.push('schema drift: none since the first crawl established the schema');
  } else {
    lines.push(`schema drift (${table.drift.length} changes):`);
    for (const event of table.drift) {
      const what = event.change === 'added' ? `added ${event.field} ${event.to}` : `${event.field} changed type ${event.from} -> ${event.to}`;
      lines.push(`  ${event.partition}  ${what}  (${plural(event.records, 'record')}, detected ${event.detectedAt})`);
    }
  }
  return lines.join('\n');
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
