import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchCreatePartitionCommand,
  BatchDeletePartitionCommand,
  BatchUpdatePartitionCommand,
  GetTableCommand,
  UpdateTableCommand,
  type Column as GlueColumn,
  type ErrorDetail,
  type GlueClient,
  type PartitionInput,
  type StorageDescriptor,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import { EVENTS_TABLE, MANIFESTS_PREFIX } from '../../curated/layout';
import type { Column, CommitRecord, DataFile } from '../../ports/catalog';
import { InvalidInputError, TransientStorageError } from '../../ports/errors';
import type { ObjectStore } from '../../ports/object-store';
import { isTransientSdkError, sdkErrorName, sdkErrorSummary } from '../../shared/sdk-errors';

/**
 * The catalog tables that have a Glue counterpart by default, to the Glue table's name. The others
 * (raw_events, whose Glue table the raw crawler keeps; raw_ledger and click_index, which only the
 * tasks read) are not synced unless a `tables` prop names them.
 */
export const DEFAULT_GLUE_TABLES: Readonly<Record<string, string>> = { [EVENTS_TABLE]: 'events' };

const PARALLEL_MANIFEST_WRITES = 16;

/** Where the manifest of a partition holding `files` lies: a folder named by the list of files. */
export function manifestFolder(table: string, partition: string, files: readonly DataFile[]): string {
  const digest = createHash('sha256').update(files.map((file) => file.key).join('\n')).digest('hex').slice(0, 16);
  return `${MANIFESTS_PREFIX}${table}/${partition}/${digest}/`;
}

/** Glue's limits per call. */
export const GLUE_BATCH_LIMITS = { create: 100, update: 100, delete: 25 } as const;

/** A Glue sync that retrying cannot fix (a missing table, a partition name that does not fit the table, a refused entry). */
export class GlueSyncError extends Error {
  override readonly name = 'GlueSyncError';
}

export interface GlueCatalogSyncProps {
  /** The Glue client, built by the caller (region, credentials, retries of whole calls). */
  readonly client: GlueClient;
  /** The Glue database holding the tables. */
  readonly database: string;
  /** The lake's S3 object store: holds the partitions' manifests and gives their `s3://` URLs. */
  readonly store: Pick<ObjectStore, 'locate' | 'put'>;
  /**
   * Which catalog tables Glue follows, to their Glue table names; the Glue tables must exist (the CDK
   * app creates them). Changes of other catalog tables are skipped.
   * @default DEFAULT_GLUE_TABLES
   */
  readonly tables?: Readonly<Record<string, string>>;
  /**
   * How many times entries that failed with a retryable error (throttling, concurrent modification,
   * internal error, timeout) are sent, in all.
   * @default 5
   */
  readonly maxAttempts?: number;
  /** The wait before the first retry of failed entries; doubled before each next one. @default 200 */
  readonly retryDelayMs?: number;
}

/** What one `apply` did in Glue. */
export interface GlueSyncSummary {
  readonly tablesUpdated: number;
  readonly partitionsCreated: number;
  readonly partitionsUpdated: number;
  readonly partitionsDeleted: number;
}

/** Per-entry error codes of the Batch* calls worth sending the entry again for. */
const RETRYABLE_ENTRY_ERRORS = new Set([
  'ThrottlingException',
  'ConcurrentModificationException',
  'InternalServiceException',
  'OperationTimeoutException',
  'ResourceNotReadyException',
]);

interface TablePlan {
  /** The last setColumns of the range, if any. */
  columns?: readonly Column[];
  /** Each touched partition's last change: its files, or null when dropped. */
  readonly partitions: Map<string, readonly DataFile[] | null>;
}

interface PartitionEntry {
  readonly partition: string;
  readonly values: string[];
  readonly input: PartitionInput;
}

/**
 * Makes Glue follow the catalog: Glue has no compare-and-set, so it is a projection of the commits
 * (DynamoDbCatalog holds the version of record) written after them. `apply` gives Glue the net effect
 * of a range of commits: each touched partition ends as the last commit of the range left it, each
 * table's columns as its last setColumns. Applying a range again changes nothing, which is what makes
 * a catch-up after a crash safe.
 *
 * - putPartition: BatchCreatePartition; the partitions that exist already are updated with
 *   BatchUpdatePartition. Each partition gets the table's storage descriptor (formats, SerDe,
 *   columns) with the `s3://` location of its manifest (see writeManifests).
 * - dropPartition: BatchDeletePartition; a partition already gone counts as deleted.
 * - setColumns: GetTable, then UpdateTable (at the version read) with the new columns, keeping the
 *   table's partition keys; a column that is also a partition key (events carry `dt` and `hr` in their
 *   files) is left out, as Glue requires. Nothing is written when the columns are already those.
 * - recordDrift: nothing. Drift is an audit that only grows, while Glue table parameters are small
 *   strings; what drift changes in a schema reaches Glue through the setColumns that accompanies it.
 *
 * Partition names become values in the order of the Glue table's partition keys: `dt=2021-07-12/hr=05`
 * by key names; a name without `=` (an hour, `2021-07-12T05`) is the value of a table with one key.
 */
export class GlueCatalogSync {
  private readonly tables: Readonly<Record<string, string>>;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;

  constructor(private readonly props: GlueCatalogSyncProps) {
    if (props.database === '') throw new InvalidInputError('invalid Glue database "": expected a name');
    this.tables = props.tables ?? DEFAULT_GLUE_TABLES;
    for (const [table, glueTable] of Object.entries(this.tables)) {
      if (glueTable === '') throw new InvalidInputError(`invalid Glue table name "" for catalog table ${table}: expected a name`);
    }
    this.maxAttempts = props.maxAttempts ?? 5;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new InvalidInputError(`invalid maxAttempts ${this.maxAttempts}: expected a positive integer`);
    }
    this.retryDelayMs = props.retryDelayMs ?? 200;
  }

  /** Gives Glue the net effect of `records` (committed, contiguous, in any order); changes of tables Glue does not follow are skipped. */
  async apply(records: readonly CommitRecord[]): Promise<GlueSyncSummary> {
    const plans = this.plan(records);
    let summary: GlueSyncSummary = { tablesUpdated: 0, partitionsCreated: 0, partitionsUpdated: 0, partitionsDeleted: 0 };
    for (const [table, plan] of [...plans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const done = await this.applyTable(table, this.tables[table]!, plan);
      summary = {
        tablesUpdated: summary.tablesUpdated + done.tablesUpdated,
        partitionsCreated: summary.partitionsCreated + done.partitionsCreated,
        partitionsUpdated: summary.partitionsUpdated + done.partitionsUpdated,
        partitionsDeleted: summary.partitionsDeleted + done.partitionsDeleted,
      };
    }
    return summary;
  }

  private plan(records: readonly CommitRecord[]): Map<string, TablePlan> {
    const plans = new Map<string, TablePlan>();
    for (const record of [...records].sort((a, b) => a.version - b.version)) {
      for (const change of record.changes) {
        if (this.tables[change.table] === undefined || change.kind === 'recordDrift') continue;
        let plan = plans.get(change.table);
        if (!plan) plans.set(change.table, (plan = { partitions: new Map() }));
        if (change.kind === 'setColumns') plan.columns = change.columns;
        else if (change.kind === 'putPartition') plan.partitions.set(change.partition, change.files);
        else plan.partitions.set(change.partition, null);
      }
    }
    return plans;
  }

  private async applyTable(table: string, glueTable: string, plan: TablePlan): Promise<GlueSyncSummary> {
    let current = await this.getTable(table, glueTable);
    let tablesUpdated = 0;
    if (plan.columns) {
      const updated = await this.updateColumns(table, glueTable, current, plan.columns);
      if (updated) {
        current = updated;
        tablesUpdated = 1;
      }
    }
    const keys = (current.PartitionKeys ?? []).map((key) => key.Name ?? '');
    const template: StorageDescriptor = current.StorageDescriptor ?? {};
    const puts: PartitionEntry[] = [];
    const drops: { partition: string; values: string[] }[] = [];
    const manifests: { key: string; files: readonly DataFile[] }[] = [];
    for (const [partition, files] of plan.partitions) {
      const values = this.partitionValues(table, glueTable, keys, partition);
      if (files === null) {
        drops.push({ partition, values });
        continue;
      }
      const folder = manifestFolder(table, partition, files);
      manifests.push({ key: `${folder}manifest`, files });
      puts.push({ partition, values, input: { Values: values, StorageDescriptor: { ...template, Location: this.locate(table, folder) } } });
    }
    await this.writeManifests(manifests);
    const { created, updated } = await this.putPartitions(glueTable, puts);
    const deleted = await this.deletePartitions(glueTable, drops);
    return { tablesUpdated, partitionsCreated: created, partitionsUpdated: updated, partitionsDeleted: deleted };
  }

  /** Sets the table's columns unless they are those already; returns the table as updated, or undefined when unchanged. */
  private async updateColumns(table: string, glueTable: string, current: Table, columns: readonly Column[]): Promise<Table | undefined> {
    for (let attempt = 1; ; attempt++) {
      const keys = new Set((current.PartitionKeys ?? []).map((key) => (key.Name ?? '').toLowerCase()));
      const wanted: GlueColumn[] = columns
        .filter((column) => !keys.has(column.name.toLowerCase()))
        .map((column) => (column.comment === undefined ? { Name: column.name, Type: column.type } : { Name: column.name, Type: column.type, Comment: column.comment }));
      const present = (current.StorageDescriptor?.Columns ?? []).map(({ Name, Type, Comment }) => (Comment === undefined ? { Name, Type } : { Name, Type, Comment }));
      if (JSON.stringify(present) === JSON.stringify(wanted)) return undefined;
      const input = tableInputOf(current, { ...current.StorageDescriptor, Columns: wanted });
      try {
        // VersionId makes this a compare-and-set on the table: a concurrent UpdateTable makes it fail instead of being undone.
        await this.props.client.send(new UpdateTableCommand({ DatabaseName: this.props.database, TableInput: input, VersionId: current.VersionId }));
        return { ...current, StorageDescriptor: input.StorageDescriptor };
      } catch (error) {
        if (sdkErrorName(error) !== 'ConcurrentModificationException' || attempt >= this.maxAttempts) {
          throw translate(error, `UpdateTable of Glue table ${this.props.database}.${glueTable}`);
        }
      }
      await this.pause(attempt);
      current = await this.getTable(table, glueTable);
    }
  }

  private async putPartitions(glueTable: string, puts: readonly PartitionEntry[]): Promise<{ created: number; updated: number }> {
    let created = 0;
    let updated = 0;
    let toCreate = puts;
    let toUpdate: PartitionEntry[] = [];
    for (let attempt = 1; ; attempt++) {
      const retryCreate: PartitionEntry[] = [];
      const retryUpdate: PartitionEntry[] = [];
      const failures: EntryFailure[] = [];
      for (const batch of chunks(toCreate, GLUE_BATCH_LIMITS.create)) {
        const { Errors } = await this.call(`BatchCreatePartition on Glue table ${this.props.database}.${glueTable}`, (client) =>
          client.send(new BatchCreatePartitionCommand({ DatabaseName: this.props.database, TableName: glueTable, PartitionInputList: batch.map((entry) => entry.input) })),
        );
        const failed = matchErrors(batch, Errors ?? [], (error) => error.PartitionValues);
        created += batch.length - failed.length;
        for (const { entry, detail } of failed) {
          if (detail.ErrorCode === 'AlreadyExistsException') toUpdate.push(entry);
          else if (isRetryable(detail)) retryCreate.push(entry);
          else failures.push({ call: 'BatchCreatePartition', entry, detail });
        }
      }
      for (const batch of chunks(toUpdate, GLUE_BATCH_LIMITS.update)) {
        const { Errors } = await this.call(`BatchUpdatePartition on Glue table ${this.props.database}.${glueTable}`, (client) =>
          client.send(
            new BatchUpdatePartitionCommand({
              DatabaseName: this.props.database,
              TableName: glueTable,
              Entries: batch.map((entry) => ({ PartitionValueList: entry.values, PartitionInput: entry.input })),
            }),
          ),
        );
        const failed = matchErrors(batch, Errors ?? [], (error) => error.PartitionValueList);
        updated += batch.length - failed.length;
        for (const { entry, detail } of failed) {
          // Dropped by someone else between our create and update: create it again.
          if (detail.ErrorCode === 'EntityNotFoundException') retryCreate.push(entry);
          else if (isRetryable(detail)) retryUpdate.push(entry);
          else failures.push({ call: 'BatchUpdatePartition', entry, detail });
        }
      }
      if (failures.length > 0) throw refused(this.props.database, glueTable, failures);
      if (retryCreate.length + retryUpdate.length === 0) return { created, updated };
      this.checkAttempts(attempt, glueTable, [...retryCreate, ...retryUpdate]);
      await this.pause(attempt);
      toCreate = retryCreate;
      toUpdate = retryUpdate;
    }
  }

  private async deletePartitions(glueTable: string, drops: readonly { partition: string; values: string[] }[]): Promise<number> {
    let deleted = 0;
    let pending = drops;
    for (let attempt = 1; ; attempt++) {
      const retry: { partition: string; values: string[] }[] = [];
      const failures: EntryFailure[] = [];
      for (const batch of chunks(pending, GLUE_BATCH_LIMITS.delete)) {
        const { Errors } = await this.call(`BatchDeletePartition on Glue table ${this.props.database}.${glueTable}`, (client) =>
          client.send(new BatchDeletePartitionCommand({ DatabaseName: this.props.database, TableName: glueTable, PartitionsToDelete: batch.map((entry) => ({ Values: entry.values })) })),
        );
        const failed = matchErrors(batch, Errors ?? [], (error) => error.PartitionValues);
        deleted += batch.length - failed.length;
        for (const { entry, detail } of failed) {
          if (detail.ErrorCode === 'EntityNotFoundException') deleted += 1;
          else if (isRetryable(detail)) retry.push(entry);
          else failures.push({ call: 'BatchDeletePartition', entry, detail });
        }
      }
      if (failures.length > 0) throw refused(this.props.database, glueTable, failures);
      if (retry.length === 0) return deleted;
      this.checkAttempts(attempt, glueTable, retry);
      await this.pause(attempt);
      pending = retry;
    }
  }

  private async getTable(table: string, glueTable: string): Promise<Table> {
    const what = `GetTable of Glue table ${this.props.database}.${glueTable} (catalog table ${table})`;
    const { Table: found } = await this.call(what, (client) => client.send(new GetTableCommand({ DatabaseName: this.props.database, Name: glueTable })));
    if (!found) throw new GlueSyncError(`${what} returned no table`);
    return found;
  }

  private partitionValues(table: string, glueTable: string, keys: readonly string[], partition: string): string[] {
    const where = `partition "${partition}" of catalog table ${table} does not fit the partition keys of Glue table ${this.props.database}.${glueTable} (${keys.join(', ') || 'none'})`;
    if (!partition.includes('=')) {
      if (keys.length !== 1) throw new GlueSyncError(`${where}: a name without "=" is the value of a table with one partition key`);
      return [partition];
    }
    const named = new Map<string, string>();
    for (const segment of partition.split('/')) {
      const equals = segment.indexOf('=');
      if (equals <= 0) throw new GlueSyncError(`${where}: expected key=value segments separated by "/"`);
      named.set(segment.slice(0, equals).toLowerCase(), segment.slice(equals + 1));
    }
    const values = keys.map((key) => named.get(key.toLowerCase()));
    if (named.size !== keys.length || values.some((value) => value === undefined)) throw new GlueSyncError(`${where}: expected exactly those keys`);
    return values as string[];
  }

  /**
   * Each partition's manifest: the `s3://` URLs of its committed files, one a line, as Hive's
   * SymlinkTextInputFormat (which the Glue tables use) reads them. Spectrum and Athena then read exactly
   * the files the catalog's version of record names, never a file a merge wrote into the partition's
   * folder before its commit, nor one a crashed writer left there. A manifest is written once per
   * file list of its partition (its folder is named by the list), so a query running while Glue moves
   * on keeps reading the manifest it started with, and a sync repeated after a crash writes the same.
   */
  private async writeManifests(manifests: readonly { key: string; files: readonly DataFile[] }[]): Promise<void> {
    for (const batch of chunks(manifests, PARALLEL_MANIFEST_WRITES)) {
      await Promise.all(batch.map(({ key, files }) => this.props.store.put(key, files.map((file) => `${this.props.store.locate(file.key)}\n`).join(''))));
    }
  }

  private locate(table: string, location: string): string {
    const url = this.props.store.locate(location);
    if (!url.startsWith('s3://')) throw new GlueSyncError(`the location "${location}" of a partition of catalog table ${table} is "${url}" in the store, not an s3:// URL that Glue can point to`);
    return url;
  }

  private checkAttempts(attempt: number, glueTable: string, failing: readonly { partition: string }[]): void {
    if (attempt < this.maxAttempts) return;
    throw new TransientStorageError(
      `Glue table ${this.props.database}.${glueTable}: ${failing.length} partitions (first "${failing[0]!.partition}") still failed with retryable errors after ${this.maxAttempts} attempts`,
    );
  }

  private pause(attempt: number): Promise<void> {
    const ms = this.retryDelayMs * 2 ** (attempt - 1);
    return ms > 0 ? sleep(ms) : Promise.resolve();
  }

  private async call<T>(what: string, send: (client: GlueClient) => Promise<T>): Promise<T> {
    try {
      return await send(this.props.client);
    } catch (error) {
      throw translate(error, what);
    }
  }
}

interface EntryFailure {
  readonly call: string;
  readonly entry: { readonly partition: string };
  readonly detail: ErrorDetail;
}

/** The entries of `batch` that `errors` name (by partition values), with their error. */
function matchErrors<E extends { values: string[] }, R extends { ErrorDetail?: ErrorDetail }>(
  batch: readonly E[],
  errors: readonly R[],
  valuesOf: (error: R) => string[] | undefined,
): { entry: E; detail: ErrorDetail }[] {
  const byValues = new Map(batch.map((entry) => [JSON.stringify(entry.values), entry]));
  return errors.map((error) => {
    const entry = byValues.get(JSON.stringify(valuesOf(error) ?? []));
    // An error Glue does not tie to an entry of ours cannot be retried selectively: refuse the batch.
    if (!entry) {
      throw new GlueSyncError(`Glue reported ${describe(error.ErrorDetail)} for partition values ${JSON.stringify(valuesOf(error) ?? null)}, which were not sent`);
    }
    return { entry, detail: error.ErrorDetail ?? {} };
  });
}

function isRetryable(detail: ErrorDetail): boolean {
  return RETRYABLE_ENTRY_ERRORS.has(detail.ErrorCode ?? '');
}

function refused(database: string, glueTable: string, failures: readonly EntryFailure[]): GlueSyncError {
  const [first] = failures;
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : '';
  return new GlueSyncError(`${first!.call} on Glue table ${database}.${glueTable} refused partition "${first!.entry.partition}": ${describe(first!.detail)}${more}`);
}

function describe(detail: ErrorDetail | undefined): string {
  return `${detail?.ErrorCode ?? 'unknown error'}: ${(detail?.ErrorMessage ?? '').replace(/\s+/g, ' ')}`;
}

/** The fields of a table that UpdateTable takes back (GetTable also returns read-only ones, which UpdateTable refuses). */
function tableInputOf(table: Table, storageDescriptor: StorageDescriptor): TableInput {
  const input: TableInput = { Name: table.Name, StorageDescriptor: storageDescriptor, PartitionKeys: table.PartitionKeys ?? [] };
  if (table.Description !== undefined) input.Description = table.Description;
  if (table.Owner !== undefined) input.Owner = table.Owner;
  if (table.Retention !== undefined) input.Retention = table.Retention;
  if (table.TableType !== undefined) input.TableType = table.TableType;
  if (table.Parameters !== undefined) input.Parameters = table.Parameters;
  if (table.TargetTable !== undefined) input.TargetTable = table.TargetTable;
  return input;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** SDK errors as port errors: what may pass on retry is transient (the SDK has already retried it); the rest cannot be fixed by retrying. */
function translate(error: unknown, what: string): Error {
  if (error instanceof GlueSyncError || error instanceof TransientStorageError) return error;
  const message = `${what} failed: ${sdkErrorSummary(error)}`;
  return isTransientSdkError(error) ? new TransientStorageError(message, { cause: error }) : new GlueSyncError(message, { cause: error });
}
