import { z } from 'zod';
import type {
  Catalog,
  CatalogChange,
  CatalogSnapshot,
  Column,
  CommitRecord,
  CommitToken,
  DriftEvent,
  PartitionState,
  TableState,
} from '../../ports/catalog';
import { CommitConflictError, InvalidInputError, NotFoundError } from '../../ports/errors';
import type { ObjectStore } from '../../ports/object-store';
import { describeIssues } from '../../shared/describe-issues';

/** A catalog object that exists but cannot be read as what it must be; retrying cannot help. */
export class CorruptCatalogError extends Error {
  override readonly name = 'CorruptCatalogError';
}

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
 * rewritten by whichever reader finds it missing or unreadable.
 */
export class FsCatalog implements Catalog {
  private readonly checkpointInterval: number;
  private readonly now: () => Date;
  private state: FoldedState | undefined;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    private readonly prefix = '_catalog/',
    options: FsCatalogOptions = {},
  ) {
    this.checkpointInterval = options.checkpointInterval ?? 50;
    this.now = options.now ?? (() => new Date());
    if (!Number.isInteger(this.checkpointInterval) || this.checkpointInterval < 1) {
      throw new InvalidInputError(`invalid checkpointInterval ${this.checkpointInterval}: expected a positive integer`);
    }
  }

  async snapshot(): Promise<CatalogSnapshot> {
    return (await this.refresh()).snapshot;
  }

  async commit(baseVersion: number, token: CommitToken, changes: readonly CatalogChange[]): Promise<CommitRecord> {
    if (!Number.isInteger(baseVersion) || baseVersion < 0) {
      throw new InvalidInputError(`invalid base version ${baseVersion}: expected the version of a snapshot (an integer >= 0)`);
    }
    const parsed = commitBodySchema.safeParse({ token, changes });
    if (!parsed.success) {
      throw new InvalidInputError(`invalid commit: ${describeIssues(parsed.error)}`);
    }
    // Commits are contiguous: a base ahead of the log is a caller bug, not a conflict.
    if (baseVersion > 0 && !(await this.store.exists(this.commitKey(baseVersion)))) {
      const latest = (await this.refresh()).snapshot.version;
      if (baseVersion > latest) {
        throw new InvalidInputError(`base version ${baseVersion} is ahead of the catalog, which is at version ${latest}`);
      }
    }
    const record: CommitRecord = {
      version: baseVersion + 1,
      token: parsed.data.token,
      committedAt: this.now().toISOString(),
      changes: parsed.data.changes,
    };
    const created = await this.store.putIfAbsent(this.commitKey(record.version), `${JSON.stringify(record)}\n`);
    if (!created) {
      throw new CommitConflictError(
        `catalog version ${record.version} was committed by another writer while ${token.step} of ${token.hour} worked from version ${baseVersion}; re-read and retry`,
      );
    }
    return record;
  }

  async findCommit(token: CommitToken): Promise<CommitRecord | undefined> {
    const version = (await this.refresh()).tokens.get(tokenKey(token));
    return version === undefined ? undefined : this.readCommit(version);
  }

  async history(afterVersion = 0): Promise<CommitRecord[]> {
    const records: CommitRecord[] = [];
    for (let version = Math.max(0, afterVersion) + 1; ; version++) {
      const record = await this.readCommitIfPresent(version);
      if (!record) return records;
      records.push(record);
    }
  }

  /** Folds the commits made since the last call (or since the newest checkpoint); one fold at a time per instance. */
  private refresh(): Promise<FoldedState> {
    const run = this.lock.then(() => this.foldNewCommits());
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async foldNewCommits(): Promise<FoldedState> {
    let state = this.state ?? (await this.loadCheckpoint()) ?? emptyState();
    let checkpointed = state.snapshot.version;
    let pending: CommitRecord[] = [];
    for (let version = state.snapshot.version + 1; ; version++) {
      const record = await this.readCommitIfPresent(version);
      if (!record) break;
      pending.push(record);
      if (version % this.checkpointInterval === 0 && version > checkpointed) {
        state = applyCommits(state, pending);
        pending = [];
        await this.writeCheckpoint(state);
        checkpointed = version;
      }
    }
    if (pending.length > 0) state = applyCommits(state, pending);
    this.state = state;
    return state;
  }

  private async loadCheckpoint(): Promise<FoldedState | undefined> {
    const versions: number[] = [];
    for await (const info of this.store.list(`${this.prefix}checkpoints/`)) {
      const match = /\/(\d{20})\.json$/.exec(info.key);
      if (match) versions.push(Number(match[1]));
    }
    // Newest first; an unreadable checkpoint (e.g. torn by a crash) is skipped and rewritten by the next fold.
    for (const version of versions.sort((a, b) => b - a)) {
      let body: Buffer;
      try {
        body = await this.store.get(this.checkpointKey(version));
      } catch (error) {
        if (error instanceof NotFoundError) continue;
        throw error;
      }
      const parsed = checkpointSchema.safeParse(parseJson(body));
      if (parsed.success && parsed.data.version === version) {
        return {
          snapshot: { version, tables: parsed.data.tables as Record<string, TableState> },
          tokens: new Map(Object.entries(parsed.data.tokens)),
        };
      }
    }
    return undefined;
  }

  private async writeCheckpoint(state: FoldedState): Promise<void> {
    const checkpoint = { version: state.snapshot.version, tables: state.snapshot.tables, tokens: Object.fromEntries(state.tokens) };
    try {
      await this.store.put(this.checkpointKey(state.snapshot.version), JSON.stringify(checkpoint));
    } catch {
      // A checkpoint only shortens reads: failing to write one must not fail a read; a later fold from an older checkpoint rewrites it.
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
    const parsed = commitRecordSchema.safeParse(parseJson(await this.store.get(key)));
    if (!parsed.success || parsed.data.version !== version) {
      throw new CorruptCatalogError(
        `catalog commit "${key}" is unreadable: ${parsed.success ? `it claims version ${parsed.data.version}` : describeIssues(parsed.error)}`,
      );
    }
    return parsed.data;
  }

  private commitKey(version: number): string {
    return `${this.prefix}commits/${String(version).padStart(20, '0')}.json`;
  }

  private checkpointKey(version: number): string {
    return `${this.prefix}checkpoints/${String(version).padStart(20, '0')}.json`;
  }
}

interface FoldedState {
  readonly snapshot: CatalogSnapshot;
  /** Every commit token up to `snapshot.version`, keyed by `tokenKey`, to its version. */
  readonly tokens: Map<string, number>;
}

interface TableDraft {
  columns: readonly Column[];
  partitions: Record<string, PartitionState>;
  drift: DriftEvent[];
}

function emptyState(): FoldedState {
  return { snapshot: { version: 0, tables: {} }, tokens: new Map() };
}

/**
 * Applies commits in order, returning a new snapshot (the input snapshot is not modified):
 * setColumns replaces a table's columns, putPartition replaces a partition and bumps its version
 * (1 when new), dropPartition removes it, recordDrift appends events. A table exists once mentioned.
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
  }
  const tables: Record<string, TableState> = { ...state.snapshot.tables };
  for (const [name, draft] of drafts) tables[name] = draft;
  return { snapshot: { version, tables }, tokens: state.tokens };
}

function tokenKey(token: CommitToken): string {
  return JSON.stringify([token.executionId, token.hour, token.step]);
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
});
