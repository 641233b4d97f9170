/**
 * What every catalog adapter shares, whatever holds its version of record: the commit record's
 * schema, the fold of commits into a snapshot (with the token index that `findCommit` reads), and the
 * checkpoints of folded state kept in the object store. FsCatalog (a commit log in the object store)
 * and DynamoDbCatalog (commit items in DynamoDB) differ only in how commit N is created and read.
 */
import { z } from 'zod';
import type { CatalogChange, CatalogHistory, CatalogSnapshot, Column, CommitRecord, CommitToken, DriftEvent, PartitionState, TableState } from '../ports/catalog';
import { CommitConflictError, InvalidInputError, NotFoundError } from '../ports/errors';
import type { ObjectStore } from '../ports/object-store';
import { describeIssues } from '../shared/describe-issues';

/** Where a catalog keeps its objects in the lake (commit log or bodies, checkpoints) unless told otherwise. */
export const CATALOG_PREFIX = '_catalog/';

/** A catalog object that exists but cannot be read as what it must be; retrying cannot help. */
export class CorruptCatalogError extends Error {
  override readonly name = 'CorruptCatalogError';
}

/** A snapshot together with the index of the commit tokens folded into it. */
export interface FoldedState {
  readonly snapshot: CatalogSnapshot;
  /** Every commit token up to `snapshot.version`, keyed by `tokenKey`, to its version. */
  readonly tokens: Map<string, number>;
  /** When the commit of `snapshot.version` was made; unknown in the empty state and in checkpoints written without it. */
  readonly committedAt?: string;
}

function emptyState(): FoldedState {
  return { snapshot: { version: 0, tables: {} }, tokens: new Map() };
}

/** The key of a token in `FoldedState.tokens`. */
export function tokenKey(token: CommitToken): string {
  return JSON.stringify([token.executionId, token.hour, token.step]);
}

/** A commit's version as catalogs name its objects: 20 digits, so that keys sort as versions do. */
export function versionName(version: number): string {
  return String(version).padStart(20, '0');
}

/** Throws InvalidInputError unless `checkpointInterval` is a positive integer; returns it. */
function checkCheckpointInterval(checkpointInterval: number): number {
  if (!Number.isInteger(checkpointInterval) || checkpointInterval < 1) {
    throw new InvalidInputError(`invalid checkpointInterval ${checkpointInterval}: expected a positive integer`);
  }
  return checkpointInterval;
}

/**
 * The token and changes of a commit as the catalog stores them, checked; throws InvalidInputError
 * for a base version that no snapshot can have, or a malformed token or change.
 */
export function validateCommit(
  baseVersion: number,
  token: CommitToken,
  changes: readonly CatalogChange[],
): { readonly token: CommitToken; readonly changes: readonly CatalogChange[] } {
  if (!Number.isInteger(baseVersion) || baseVersion < 0) {
    throw new InvalidInputError(`invalid base version ${baseVersion}: expected the version of a snapshot (an integer >= 0)`);
  }
  const parsed = commitBodySchema.safeParse({ token, changes });
  if (!parsed.success) {
    throw new InvalidInputError(`invalid commit: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** Commits are contiguous: a base ahead of the log is a caller bug, not a conflict. */
export function baseAheadError(baseVersion: number, latest: number): InvalidInputError {
  return new InvalidInputError(`base version ${baseVersion} is ahead of the catalog, which is at version ${latest}`);
}

/** What a writer that lost version `baseVersion + 1` to another writer is told. */
export function conflictError(baseVersion: number, token: CommitToken, cause?: unknown): CommitConflictError {
  return new CommitConflictError(
    `catalog version ${baseVersion + 1} was committed by another writer while ${token.step} of ${token.hour} worked from version ${baseVersion}; re-read and retry`,
    cause === undefined ? undefined : { cause },
  );
}

/** A commit record as stored: one JSON document and a newline. */
export function encodeCommitRecord(record: CommitRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** The commit record stored in `body` (read from `where`), which must be version `version`; throws CorruptCatalogError otherwise. */
export function decodeCommitRecord(body: Buffer, version: number, where: string): CommitRecord {
  const parsed = commitRecordSchema.safeParse(parseJson(body));
  if (!parsed.success || parsed.data.version !== version) {
    throw new CorruptCatalogError(
      `catalog commit "${where}" is unreadable: ${parsed.success ? `it claims version ${parsed.data.version}` : describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

/**
 * The checkpoints of a catalog, `<prefix>checkpoints/<N, 20 digits>.json`, each the state folded up
 * to N. A checkpoint is only a shortcut: an unreadable one is skipped, and rewritten by the next fold.
 */
class CatalogCheckpoints {
  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
  ) {}

  /** The state of the newest readable checkpoint, if any; with `accept`, of the newest that it accepts. */
  async loadNewest(accept: (state: FoldedState) => boolean = () => true): Promise<FoldedState | undefined> {
    const versions: number[] = [];
    for await (const info of this.store.list(`${this.prefix}checkpoints/`)) {
      const match = /\/(\d{20})\.json$/.exec(info.key);
      if (match) versions.push(Number(match[1]));
    }
    // Newest first; an unreadable checkpoint (e.g. torn by a crash) is skipped and rewritten by the next fold.
    for (const version of versions.sort((a, b) => b - a)) {
      let body: Buffer;
      try {
        body = await this.store.get(this.key(version));
      } catch (error) {
        if (error instanceof NotFoundError) continue;
        throw error;
      }
      const parsed = checkpointSchema.safeParse(parseJson(body));
      if (parsed.success && parsed.data.version === version) {
        const state: FoldedState = {
          snapshot: { version, tables: parsed.data.tables as Record<string, TableState> },
          tokens: new Map(Object.entries(parsed.data.tokens)),
          ...(parsed.data.committedAt === undefined ? {} : { committedAt: parsed.data.committedAt }),
        };
        if (accept(state)) return state;
      }
    }
    return undefined;
  }

  async write(state: FoldedState): Promise<void> {
    const checkpoint = { version: state.snapshot.version, committedAt: state.committedAt, tables: state.snapshot.tables, tokens: Object.fromEntries(state.tokens) };
    try {
      await this.store.put(this.key(state.snapshot.version), JSON.stringify(checkpoint));
    } catch {
      // A checkpoint only shortens reads: failing to write one must not fail a read; a later fold from an older checkpoint rewrites it.
    }
  }

  private key(version: number): string {
    return `${this.prefix}checkpoints/${versionName(version)}.json`;
  }
}

/**
 * Folds `records` (the commits right after `state`, in version order) into `state`, writing a
 * checkpoint at every version that is a multiple of `checkpointInterval`, so that the next reader
 * folds at most that many commits. A version that does not follow the one before is refused with
 * CorruptCatalogError: a snapshot never skips a commit.
 */
async function foldCommits(
  state: FoldedState,
  records: AsyncIterable<CommitRecord>,
  checkpointInterval: number,
  checkpoints: CatalogCheckpoints,
): Promise<FoldedState> {
  const checkpointed = state.snapshot.version;
  let expected = state.snapshot.version + 1;
  let pending: CommitRecord[] = [];
  for await (const record of records) {
    if (record.version !== expected) {
      throw new CorruptCatalogError(`catalog commit ${expected} is missing: the commit after version ${expected - 1} is version ${record.version}`);
    }
    expected += 1;
    pending.push(record);
    if (record.version % checkpointInterval === 0 && record.version > checkpointed) {
      state = applyCommits(state, pending);
      pending = [];
      await checkpoints.write(state);
    }
  }
  return pending.length > 0 ? applyCommits(state, pending) : state;
}

/**
 * A catalog's folded state, kept in memory and brought up to date one fold at a time: what both
 * catalogs share. `commitsAfter` reads the commits after a version, in version order, from wherever
 * the catalog keeps them.
 */
export class FoldedCommitLog {
  private state: FoldedState | undefined;
  private lock: Promise<unknown> = Promise.resolve();

  private readonly checkpoints: CatalogCheckpoints;
  private readonly checkpointInterval: number;

  /** Checkpoints are kept in `store` under `<prefix>checkpoints/`, one every `checkpointInterval` commits. */
  constructor(
    private readonly commitsAfter: (afterVersion: number) => AsyncIterable<CommitRecord>,
    store: ObjectStore,
    prefix: string,
    checkpointInterval = 50,
  ) {
    this.checkpoints = new CatalogCheckpoints(store, prefix);
    this.checkpointInterval = checkCheckpointInterval(checkpointInterval);
  }

  /** Folds the commits made since the last call (or since the newest checkpoint). */
  refresh(): Promise<FoldedState> {
    const run = this.lock.then(async () => {
      const state = this.state ?? (await this.checkpoints.loadNewest()) ?? emptyState();
      this.state = await foldCommits(state, this.commitsAfter(state.snapshot.version), this.checkpointInterval, this.checkpoints);
      return this.state;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  async history(afterVersion = 0): Promise<CommitRecord[]> {
    const records: CommitRecord[] = [];
    for await (const record of this.commitsAfter(afterVersion)) records.push(record);
    return records;
  }

  /**
   * The history from the newest checkpoint made at or before `instant` (see Catalog.historyFrom).
   * Checkpoints are tried newest first, and only those that know their commit's time qualify.
   */
  async historyFrom(instant: Date): Promise<CatalogHistory> {
    const base = await this.checkpoints.loadNewest((state) => state.committedAt !== undefined && Date.parse(state.committedAt) <= instant.getTime());
    const commits = await this.history(base?.snapshot.version ?? 0);
    return base === undefined ? { commits } : { base: { snapshot: base.snapshot, committedAt: base.committedAt! }, commits };
  }
}

interface TableDraft {
  columns: readonly Column[];
  partitions: Record<string, PartitionState>;
  drift: DriftEvent[];
}

/**
 * Applies commits in order, returning a new snapshot (the input snapshot is not modified; its token
 * map is extended in place): setColumns replaces a table's columns, putPartition replaces a partition
 * and bumps its version (1 when new), dropPartition removes it, recordDrift appends events. A table
 * exists once mentioned.
 */
function applyCommits(state: FoldedState, records: readonly CommitRecord[]): FoldedState {
  // Each touched table is copied once per batch, not once per change: folding stays linear in the batch.
  const drafts = new Map<string, TableDraft>();
  const draftOf = (table: string): TableDraft => {
    let draft = drafts.get(table);
    if (!draft) {
      const current = state.snapshot.tables[table];
      draft = {
        columns: current?.columns ?? [],
        partitions: { ...current?.partitions },
        drift: [...(current?.drift ?? [])],
      };
      drafts.set(table, draft);
    }
    return draft;
  };
  let version = state.snapshot.version;
  let committedAt = state.committedAt;
  for (const record of records) {
    for (const change of record.changes) {
      const draft = draftOf(change.table);
      switch (change.kind) {
        case 'setColumns':
          draft.columns = change.columns;
          break;
        case 'putPartition':
          draft.partitions[change.partition] = {
            location: change.location,
            files: change.files,
            version: (draft.partitions[change.partition]?.version ?? 0) + 1,
            properties: change.properties,
          };
          break;
        case 'dropPartition':
          delete draft.partitions[change.partition];
          break;
        case 'recordDrift':
          draft.drift.push(...change.events);
          break;
      }
    }
    state.tokens.set(tokenKey(record.token), record.version);
    version = record.version;
    committedAt = record.committedAt;
  }
  const tables: Record<string, TableState> = { ...state.snapshot.tables };
  for (const [name, draft] of drafts) tables[name] = draft;
  return { snapshot: { version, tables }, tokens: state.tokens, ...(committedAt === undefined ? {} : { committedAt }) };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

const tableName = z.string().min(1);
const jsonObject = z.record(z.string(), z.unknown());

// Loose where the catalog only stores what callers give (extra fields survive), strict where it acts on the shape.
const columnSchema = z.looseObject({ name: z.string().min(1), type: z.string().min(1), comment: z.string().optional() });
const dataFileSchema = z.looseObject({ key: z.string().min(1), size: z.number(), records: z.number().optional() });
const driftEventSchema = z.looseObject({
  field: z.string(),
  change: z.enum(['added', 'type_changed']),
  from: z.string().optional(),
  to: z.string(),
  partition: z.string(),
  detectedAt: z.string(),
  records: z.number(),
});

const changeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('setColumns'), table: tableName, columns: z.array(columnSchema) }),
  z.strictObject({
    kind: z.literal('putPartition'),
    table: tableName,
    partition: z.string().min(1),
    location: z.string(),
    files: z.array(dataFileSchema),
    properties: jsonObject,
  }),
  z.strictObject({ kind: z.literal('dropPartition'), table: tableName, partition: z.string().min(1) }),
  z.strictObject({ kind: z.literal('recordDrift'), table: tableName, events: z.array(driftEventSchema) }),
]);

const tokenSchema = z.strictObject({ executionId: z.string().min(1), hour: z.string().min(1), step: z.string().min(1) });

const commitBodySchema = z.strictObject({ token: tokenSchema, changes: z.array(changeSchema) });

const commitRecordSchema = commitBodySchema.extend({ version: z.number().int().min(1), committedAt: z.string() });

const checkpointSchema = z.object({
  version: z.number().int().min(1),
  tables: z.record(
    z.string(),
    z.object({
      columns: z.array(columnSchema),
      partitions: z.record(
        z.string(),
        z.looseObject({ location: z.string(), files: z.array(dataFileSchema), version: z.number(), properties: jsonObject }),
      ),
      drift: z.array(driftEventSchema),
    }),
  ),
  tokens: z.record(z.string(), z.number()),
  committedAt: z.string().optional(),
});
