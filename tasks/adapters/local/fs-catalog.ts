import type { Catalog, CatalogHistory, CatalogChange, CatalogSnapshot, CommitRecord, CommitToken } from '../../ports/catalog';
import { NotFoundError } from '../../ports/errors';
import type { ObjectStore } from '../../ports/object-store';
import {
  baseAheadError,
  CATALOG_PREFIX,
  conflictError,
  decodeCommitRecord,
  encodeCommitRecord,
  FoldedCommitLog,
  tokenKey,
  validateCommit,
  versionName,
} from '../catalog-fold';

export { CorruptCatalogError } from '../catalog-fold';

export interface FsCatalogOptions {
  /**
   * A checkpoint (the folded state) is written at every version that is a multiple of this,
   * so that reading the catalog folds at most this many commits.
   * @default 50
   */
  readonly checkpointInterval?: number;
  /** The clock that stamps `committedAt`. @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * The embedded catalog: a commit log like Delta Lake's, kept in the object store under `prefix`.
 * Commit N is `commits/<N, 20 digits>.json`, created with `putIfAbsent`: exclusive and fsynced, so a
 * crash leaves either the whole commit or none of it, and of two writers at the same base version
 * exactly one wins. `checkpoints/<N>.json` holds the state folded up to N; it is only a shortcut,
 * rewritten by whichever reader finds it missing or unreadable. The fold and the checkpoints are
 * shared with DynamoDbCatalog (catalog-fold.ts).
 */
export class FsCatalog implements Catalog {
  private readonly now: () => Date;
  private readonly log: FoldedCommitLog;

  constructor(
    private readonly store: ObjectStore,
    private readonly prefix = CATALOG_PREFIX,
    options: FsCatalogOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.log = new FoldedCommitLog((after) => this.commitsAfter(after), store, prefix, options.checkpointInterval);
  }

  async snapshot(): Promise<CatalogSnapshot> {
    return (await this.log.refresh()).snapshot;
  }

  async commit(baseVersion: number, token: CommitToken, changes: readonly CatalogChange[]): Promise<CommitRecord> {
    const valid = validateCommit(baseVersion, token, changes);
    if (baseVersion > 0 && !(await this.store.exists(this.commitKey(baseVersion)))) {
      const latest = (await this.log.refresh()).snapshot.version;
      if (baseVersion > latest) throw baseAheadError(baseVersion, latest);
    }
    const record: CommitRecord = {
      version: baseVersion + 1,
      token: valid.token,
      committedAt: this.now().toISOString(),
      changes: valid.changes,
    };
    const created = await this.store.putIfAbsent(this.commitKey(record.version), encodeCommitRecord(record));
    if (!created) throw conflictError(baseVersion, token);
    return record;
  }

  async findCommit(token: CommitToken): Promise<CommitRecord | undefined> {
    const version = (await this.log.refresh()).tokens.get(tokenKey(token));
    return version === undefined ? undefined : this.readCommit(version);
  }

  history(afterVersion = 0): Promise<CommitRecord[]> {
    return this.log.history(afterVersion);
  }

  historyFrom(instant: Date): Promise<CatalogHistory> {
    return this.log.historyFrom(instant);
  }

  /** The commits after `afterVersion`, up to the first version not created yet. */
  private async *commitsAfter(afterVersion: number): AsyncIterable<CommitRecord> {
    for (let version = Math.max(0, afterVersion) + 1; ; version++) {
      const record = await this.readCommitIfPresent(version);
      if (!record) return;
      yield record;
    }
  }

  private async readCommitIfPresent(version: number): Promise<CommitRecord | undefined> {
    try {
      return await this.readCommit(version);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  private async readCommit(version: number): Promise<CommitRecord> {
    const key = this.commitKey(version);
    return decodeCommitRecord(await this.store.get(key), version, key);
  }

  private commitKey(version: number): string {
    return `${this.prefix}commits/${versionName(version)}.json`;
  }
}
