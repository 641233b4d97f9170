import { createHash, randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { Catalog, CatalogHistory, CatalogChange, CatalogSnapshot, CommitRecord, CommitToken } from '../../ports/catalog';
import { CommitConflictError, InvalidInputError, NotFoundError, TransientStorageError } from '../../ports/errors';
import type { ObjectStore } from '../../ports/object-store';
import { describeIssues } from '../../shared/describe-issues';
import { mapInFlight } from '../../shared/map-in-flight';
import type { KeyAttribute, TableDefinition } from '../../tables/definitions';
import { isConditionFailure } from '../../tables/table-errors';
import {
  baseAheadError,
  CATALOG_PREFIX,
  conflictError,
  CorruptCatalogError,
  decodeCommitRecord,
  encodeCommitRecord,
  FoldedCommitLog,
  tokenKey,
  validateCommit,
  versionName,
} from '../catalog-fold';
import { GlueSyncError, type GlueCatalogSync } from './glue-catalog-sync';
import { isTransientSdkError, sdkErrorName, sdkErrorSummary } from '../../shared/sdk-errors';

/**
 * The key of the catalog table: the partition key holds the catalog's prefix (several catalogs may
 * share a table), the sort key the commit's version. Commit N is the item (prefix, N); the item
 * (`<prefix>#glue`, 0) records how far Glue has followed.
 */
export const CATALOG_TABLE_KEY = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'version', type: 'N' },
} as const satisfies { readonly partitionKey: KeyAttribute; readonly sortKey: KeyAttribute };

/** The catalog table as a definition, for `createTableInput` (tests) and the CDK app. Needs no index and no stream. */
export const CATALOG_TABLE: TableDefinition = { name: 'catalog', ...CATALOG_TABLE_KEY };

export interface DynamoDbCatalogProps {
  /** The document client, built by the caller (region, credentials, retries). */
  readonly doc: DynamoDBDocumentClient;
  /** The table keyed as CATALOG_TABLE_KEY says. */
  readonly tableName: string;
  /** Holds commit bodies and checkpoints (the lake's bucket on AWS). */
  readonly store: ObjectStore;
  /** Makes Glue follow the commits. @default none: nothing follows the catalog */
  readonly glue?: GlueCatalogSync;
  /** The partition key of this catalog's items, and the prefix of its objects in the store. @default '_catalog/' */
  readonly prefix?: string;
  /**
   * A checkpoint (the folded state) is written to the store at every version that is a multiple of
   * this, so that reading the catalog folds at most this many commits.
   * @default 50
   */
  readonly checkpointInterval?: number;
  /** The clock that stamps `committedAt` and times the Glue lease. @default () => new Date() */
  readonly now?: () => Date;
  /** At most this many items per Query page. @default DynamoDB's own limit (1 MB a page) */
  readonly pageSize?: number;
  /**
   * How long a Glue catch-up may hold its lease before another may take over. Longer than a Lambda
   * may run (15 minutes), so that a lease is only taken over from a process that died.
   * @default 900000
   */
  readonly glueLeaseMs?: number;
}

/** How many commit bodies are read from the store at once. */
const BODY_READS_IN_FLIGHT = 16;

const names = { '#pk': CATALOG_TABLE_KEY.partitionKey.name, '#v': CATALOG_TABLE_KEY.sortKey.name } as const;

/**
 * The catalog on AWS. Glue cannot compare-and-set, so the version of record is here: commit N is
 * the DynamoDB item (prefix, N), created with a conditional put (`attribute_not_exists`), so of two
 * writers at the same base version exactly one wins. The item holds the version, token, time and the
 * key of the commit's body; the body itself (any size: DynamoDB items stop at 400 KB) is written to
 * the store before the put, under `<prefix>commit-bodies/<N, 20 digits>/<sha256>.json`.
 *
 * A body written by a writer that lost version N (or died before its put) is garbage: it lies under
 * `<prefix>commit-bodies/<N>/` beside the body item N names, and nothing reads it. Every body there
 * that item N does not name may be deleted.
 *
 * Reads fold the commits from the newest checkpoint (`<prefix>checkpoints/`, as FsCatalog keeps
 * them; the fold is shared, catalog-fold.ts), with consistent reads.
 *
 * With `glue`, Glue follows the commits: after each commit, and on every snapshot and found commit,
 * whatever Glue has not followed yet is applied, and the version it reached is recorded in the item
 * (`<prefix>#glue`, 0). A process that dies between its commit and Glue leaves the marker behind,
 * and the next call catches Glue up. One process at a time applies (a lease on the marker item), so
 * that an older commit is never applied over a newer one; a process that finds the lease held leaves
 * its commit to the holder, which looks for new commits after it lets go of the lease.
 */
export class DynamoDbCatalog implements Catalog {
  private readonly prefix: string;
  private readonly now: () => Date;
  private readonly glueLeaseMs: number;
  private readonly log: FoldedCommitLog;
  /** The version Glue was last seen to follow: the marker only grows, so reads at or below it need not ask DynamoDB again. */
  private glueFollowed = 0;

  constructor(private readonly props: DynamoDbCatalogProps) {
    if (props.tableName === '') throw new InvalidInputError('invalid catalog table name "": expected the name of a table keyed as CATALOG_TABLE_KEY says');
    this.prefix = props.prefix ?? CATALOG_PREFIX;
    this.now = props.now ?? (() => new Date());
    this.glueLeaseMs = props.glueLeaseMs ?? 900_000;
    if (props.pageSize !== undefined && (!Number.isInteger(props.pageSize) || props.pageSize < 1)) {
      throw new InvalidInputError(`invalid pageSize ${props.pageSize}: expected a positive integer`);
    }
    this.log = new FoldedCommitLog((after) => this.commitsAfter(after), props.store, this.prefix, props.checkpointInterval);
  }

  async snapshot(): Promise<CatalogSnapshot> {
    const { snapshot } = await this.log.refresh();
    await this.followInGlue(snapshot.version);
    return snapshot;
  }

  async commit(baseVersion: number, token: CommitToken, changes: readonly CatalogChange[]): Promise<CommitRecord> {
    const valid = validateCommit(baseVersion, token, changes);
    if (baseVersion > 0 && !(await this.getItem(this.prefix, baseVersion))) {
      const latest = await this.latestVersion();
      if (baseVersion > latest) throw baseAheadError(baseVersion, latest);
    }
    const record: CommitRecord = { version: baseVersion + 1, token: valid.token, committedAt: this.now().toISOString(), changes: valid.changes };
    const body = encodeCommitRecord(record);
    const bodyKey = `${this.prefix}commit-bodies/${versionName(record.version)}/${createHash('sha256').update(body).digest('hex')}.json`;
    // Before the item: once the item exists, its body must be there for every reader.
    await this.props.store.put(bodyKey, body);
    const item: CommitItem = { pk: this.prefix, version: record.version, token: record.token, committed_at: record.committedAt, body_key: bodyKey };
    try {
      await this.props.doc.send(
        new PutCommand({ TableName: this.props.tableName, Item: item, ConditionExpression: 'attribute_not_exists(#v)', ExpressionAttributeNames: { '#v': names['#v'] } }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw conflictError(baseVersion, token, error);
      throw this.translate(error, `committing catalog version ${record.version}`);
    }
    await this.followInGlue(record.version);
    return record;
  }

  async findCommit(token: CommitToken): Promise<CommitRecord | undefined> {
    const state = await this.log.refresh();
    const version = state.tokens.get(tokenKey(token));
    if (version === undefined) return undefined;
    const item = await this.getItem(this.prefix, version);
    if (!item) throw new CorruptCatalogError(`catalog commit ${version} is in the folded state but its item is missing from ${this.props.tableName}`);
    const record = await this.readCommit(parseCommitItem(item, this.props.tableName));
    // A retry after an unknown outcome finds its commit here: Glue must follow it before the retry goes on.
    await this.followInGlue(state.snapshot.version);
    return record;
  }

  history(afterVersion = 0): Promise<CommitRecord[]> {
    return this.log.history(afterVersion);
  }

  historyFrom(instant: Date): Promise<CatalogHistory> {
    return this.log.historyFrom(instant);
  }

  /** The commits after `afterVersion` in version order, a Query page at a time. */
  private async *commitsAfter(afterVersion: number): AsyncIterable<CommitRecord> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.call(`reading the catalog commits after version ${afterVersion}`, () =>
        this.props.doc.send(
          new QueryCommand({
            TableName: this.props.tableName,
            KeyConditionExpression: '#pk = :pk AND #v > :after',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':pk': this.prefix, ':after': Math.max(0, afterVersion) },
            ConsistentRead: true,
            Limit: this.props.pageSize,
            ExclusiveStartKey: start,
          }),
        ),
      );
      const items = (page.Items ?? []).map((item) => parseCommitItem(item, this.props.tableName));
      yield* await mapInFlight(items, BODY_READS_IN_FLIGHT, (item) => this.readCommit(item));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
  }

  private async readCommit(item: CommitItem): Promise<CommitRecord> {
    let body: Buffer;
    try {
      body = await this.props.store.get(item.body_key);
    } catch (error) {
      if (error instanceof NotFoundError) throw new CorruptCatalogError(`catalog commit ${item.version} names the body "${item.body_key}", which is missing`, { cause: error });
      throw error;
    }
    const record = decodeCommitRecord(body, item.version, item.body_key);
    if (tokenKey(record.token) !== tokenKey(item.token)) {
      throw new CorruptCatalogError(`catalog commit ${item.version}: the body "${item.body_key}" holds the commit of another token than the item`);
    }
    return record;
  }

  private async latestVersion(): Promise<number> {
    const page = await this.call('reading the latest catalog version', () =>
      this.props.doc.send(
        new QueryCommand({
          TableName: this.props.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':pk': this.prefix },
          ProjectionExpression: '#v',
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
        }),
      ),
    );
    return Number(page.Items?.[0]?.[names['#v']] ?? 0);
  }

  private async getItem(pk: string, version: number): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.call(`reading catalog item ${version}`, () =>
      this.props.doc.send(new GetCommand({ TableName: this.props.tableName, Key: { [names['#pk']]: pk, [names['#v']]: version }, ConsistentRead: true })),
    );
    return Item;
  }

  /** Catches Glue up to `version` at least; a failure says that the commits stand and Glue lags. */
  private async followInGlue(version: number): Promise<void> {
    if (!this.props.glue || version <= this.glueFollowed) return;
    try {
      await this.catchUpGlue(this.props.glue, version);
    } catch (error) {
      const message = `catalog version ${version} is committed, but Glue does not follow it yet (the next commit, snapshot or found commit catches Glue up): ${(error as Error).message}`;
      throw error instanceof GlueSyncError ? new GlueSyncError(message, { cause: error }) : new TransientStorageError(message, { cause: error });
    }
  }

  private async catchUpGlue(glue: GlueCatalogSync, target: number): Promise<void> {
    const key = { [names['#pk']]: `${this.prefix}#glue`, [names['#v']]: 0 };
    for (;;) {
      const marker = glueMarkerSchema.parse((await this.getItem(`${this.prefix}#glue`, 0)) ?? {});
      this.glueFollowed = Math.max(this.glueFollowed, marker.synced_version);
      if (marker.synced_version >= target) return;
      const now = this.now().getTime();
      // The holder looks for new commits after it lets go of the lease, so it will apply this one.
      if (marker.lease_owner !== undefined && (marker.lease_expires_at ?? 0) > now) return;
      const owner = randomUUID();
      let from: number;
      try {
        const { Attributes } = await this.props.doc.send(
          new UpdateCommand({
            TableName: this.props.tableName,
            Key: key,
            UpdateExpression: 'SET lease_owner = :owner, lease_expires_at = :expires, synced_version = if_not_exists(synced_version, :zero)',
            ConditionExpression: 'attribute_not_exists(lease_owner) OR lease_expires_at < :now',
            ExpressionAttributeValues: { ':owner': owner, ':expires': now + this.glueLeaseMs, ':zero': 0, ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        );
        from = glueMarkerSchema.parse(Attributes ?? {}).synced_version;
      } catch (error) {
        if (isConditionFailure(error)) return;
        throw this.translate(error, 'taking the Glue lease');
      }
      let reached = from;
      try {
        const records = await this.history(from);
        if (records.length > 0) await glue.apply(records);
        reached = records.at(-1)?.version ?? from;
      } finally {
        await this.releaseGlueLease(key, owner, reached);
      }
      this.glueFollowed = Math.max(this.glueFollowed, reached);
      target = Math.max(target, await this.latestVersion());
    }
  }

  /** Records how far Glue got and lets go of the lease, unless it was taken over (the new holder re-applies, which changes nothing). */
  private async releaseGlueLease(key: Record<string, unknown>, owner: string, reached: number): Promise<void> {
    try {
      await this.props.doc.send(
        new UpdateCommand({
          TableName: this.props.tableName,
          Key: key,
          UpdateExpression: 'SET synced_version = :reached REMOVE lease_owner, lease_expires_at',
          ConditionExpression: 'lease_owner = :owner',
          ExpressionAttributeValues: { ':reached': reached, ':owner': owner },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw this.translate(error, 'releasing the Glue lease');
    }
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw this.translate(error, what);
    }
  }

  private translate(error: unknown, what: string): Error {
    if (error instanceof CommitConflictError || error instanceof TransientStorageError || error instanceof NotFoundError || error instanceof InvalidInputError) return error;
    const message = `${what} in DynamoDB table ${this.props.tableName} failed: ${sdkErrorSummary(error)}`;
    if (sdkErrorName(error) === 'ResourceNotFoundException') return new NotFoundError(message, { cause: error });
    if (sdkErrorName(error) === 'ValidationException') return new InvalidInputError(message, { cause: error });
    // An access or configuration error fails the step at once: retrying cannot fix it.
    return isTransientSdkError(error) ? new TransientStorageError(message, { cause: error }) : new Error(message, { cause: error });
  }
}

/** Commit N as an item of the catalog table. */
interface CommitItem {
  readonly pk: string;
  readonly version: number;
  readonly token: CommitToken;
  readonly committed_at: string;
  /** The key of the commit's body (the whole CommitRecord as JSON) in the store. */
  readonly body_key: string;
}

const commitItemSchema = z.object({
  pk: z.string(),
  version: z.number().int().min(1),
  token: z.object({ executionId: z.string(), hour: z.string(), step: z.string() }),
  committed_at: z.string(),
  body_key: z.string().min(1),
});

const glueMarkerSchema = z.object({
  synced_version: z.number().int().min(0).default(0),
  lease_owner: z.string().optional(),
  lease_expires_at: z.number().optional(),
});

function parseCommitItem(item: Record<string, unknown>, tableName: string): CommitItem {
  const parsed = commitItemSchema.safeParse(item);
  if (!parsed.success) throw new CorruptCatalogError(`catalog item ${JSON.stringify(item[names['#v']] ?? null)} in ${tableName} is not a commit: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
