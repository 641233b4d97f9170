import type { Catalog, CatalogChange, CatalogSnapshot, CommitRecord, CommitToken } from '../ports/catalog';
import { CommitConflictError, InvalidInputError } from '../ports/errors';

export interface CommitWithRetryOptions {
  /**
   * How many times to read, build and commit before giving up on conflicts.
   * @default 5
   */
  readonly attempts?: number;
}

/**
 * Commits the changes `build` derives from the latest snapshot, once per token:
 * - if a commit with `token` exists (a retry after an unknown outcome), returns it without building;
 * - otherwise builds against the latest snapshot, so the changes are re-validated against whatever
 *   other writers committed meanwhile, and commits on top of that snapshot's version;
 * - returns undefined when `build` finds nothing to change (no commit is made);
 * - on a conflict, starts over; after `attempts` conflicts throws CommitConflictError.
 */
export async function commitWithRetry(
  catalog: Catalog,
  token: CommitToken,
  build: (snapshot: CatalogSnapshot) => readonly CatalogChange[] | Promise<readonly CatalogChange[]>,
  options: CommitWithRetryOptions = {},
): Promise<CommitRecord | undefined> {
  const attempts = options.attempts ?? 5;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new InvalidInputError(`invalid attempts ${attempts}: expected a positive integer`);
  }
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const applied = await catalog.findCommit(token);
    if (applied) return applied;
    const snapshot = await catalog.snapshot();
    const changes = await build(snapshot);
    if (changes.length === 0) return undefined;
    try {
      return await catalog.commit(snapshot.version, token, changes);
    } catch (error) {
      if (!(error instanceof CommitConflictError)) throw error;
    }
  }
  throw new CommitConflictError(
    `gave up committing ${token.step} of hour ${token.hour} (execution ${token.executionId}): another writer committed first on each of ${attempts} attempts`,
  );
}
