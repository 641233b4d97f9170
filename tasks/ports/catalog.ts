/**
 * The table catalog: Glue Data Catalog on AWS (following a version of record with compare-and-set),
 * an embedded commit log locally. Every change goes through `commit`, which is atomic and
 * optimistic: it applies only on top of the version the caller read.
 */

/** A column as the catalog records it, with Glue/Hive type names (`string`, `bigint`, `double`, `boolean`, `timestamp`, `struct<...>`, `array<...>`). */
export interface Column {
  readonly name: string;
  readonly type: string;
  readonly comment?: string;
}

/** One data file of a partition. */
export interface DataFile {
  readonly key: string;
  readonly size: number;
  readonly records?: number;
}

export interface PartitionState {
  /** The prefix under which this version of the partition lives. */
  readonly location: string;
  readonly files: readonly DataFile[];
  /** Increases by one on every commit that changes this partition. */
  readonly version: number;
  /** Free-form facts about the partition (record counts, inferred schema, ...), JSON-serialisable. */
  readonly properties: Readonly<Record<string, unknown>>;
}

/** A change of schema seen by a crawl: a field that appeared, or whose type changed. */
export interface DriftEvent {
  readonly field: string;
  readonly change: 'added' | 'type_changed';
  readonly from?: string;
  readonly to: string;
  /** The partition (arrival hour) where the change was first seen. */
  readonly partition: string;
  readonly detectedAt: string;
  readonly records: number;
}

export interface TableState {
  readonly columns: readonly Column[];
  readonly partitions: Readonly<Record<string, PartitionState>>;
  readonly drift: readonly DriftEvent[];
}

export interface CatalogSnapshot {
  /** The commit this snapshot reflects; 0 for an empty catalog. */
  readonly version: number;
  readonly tables: Readonly<Record<string, TableState>>;
}

/** Who made a commit: lets a retry after an unknown outcome find out whether it already applied. */
export interface CommitToken {
  readonly executionId: string;
  readonly hour: string;
  readonly step: string;
}

export type CatalogChange =
  | { readonly kind: 'setColumns'; readonly table: string; readonly columns: readonly Column[] }
  | {
      readonly kind: 'putPartition';
      readonly table: string;
      readonly partition: string;
      readonly location: string;
      readonly files: readonly DataFile[];
      readonly properties: Readonly<Record<string, unknown>>;
    }
  | { readonly kind: 'dropPartition'; readonly table: string; readonly partition: string }
  | { readonly kind: 'recordDrift'; readonly table: string; readonly events: readonly DriftEvent[] };

export interface CommitRecord {
  readonly version: number;
  readonly token: CommitToken;
  readonly committedAt: string;
  readonly changes: readonly CatalogChange[];
}

export interface Catalog {
  /** The latest committed state. */
  snapshot(): Promise<CatalogSnapshot>;
  /**
   * Applies `changes` as version `baseVersion + 1`. Throws CommitConflictError if another commit
   * already took that version: the caller re-reads, re-validates and retries (see `commitWithRetry`).
   */
  commit(baseVersion: number, token: CommitToken, changes: readonly CatalogChange[]): Promise<CommitRecord>;
  /** The commit made with `token`, if any. */
  findCommit(token: CommitToken): Promise<CommitRecord | undefined>;
  /** Commits in version order, optionally only those after `afterVersion`. */
  history(afterVersion?: number): Promise<CommitRecord[]>;
  /**
   * The history from about `instant` on, for readers that need only that (the vacuum): a state whose
   * last commit was made at or before `instant`, and the commits after it. Reads a number of commits
   * bounded by the time since `instant`, not by the catalog's age.
   */
  historyFrom(instant: Date): Promise<CatalogHistory>;
}

export interface CatalogHistory {
  /**
   * A checkpointed state whose last commit was made at or before the instant asked for, with that
   * commit's time; absent when there is none, and then `commits` is the whole history.
   */
  readonly base?: { readonly snapshot: CatalogSnapshot; readonly committedAt: string };
  /** The commits after `base` (every commit without one), in version order. */
  readonly commits: CommitRecord[];
}
