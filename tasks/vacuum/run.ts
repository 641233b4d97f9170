import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Catalog, CatalogHistory } from '../ports/catalog';
import { InvalidInputError } from '../ports/errors';
import type { ObjectStore } from '../ports/object-store';
import { CLICK_INDEX_PREFIX, CLICK_INDEX_TABLE, CURATED_PREFIX, EVENTS_TABLE, REJECTS_PREFIX, REJECTS_TABLE } from '../curated/layout';
import { commitWithRetry } from '../shared/commit-with-retry';
import { formatHour, hourStartMs } from '../shared/hours';
import { clickIndexTrims, DEFAULT_CLICK_INDEX_RETENTION_HOURS } from '../merge/click-index';

export const DEFAULT_RETENTION_HOURS = 72;

/**
 * The shortest click index retention: a normal run reads the index up to 48 hours before its
 * arrival hour (late deliveries into the 24 before it, each looking 24 hours around), and starts in
 * the hours after it.
 */
export const MINIMUM_CLICK_INDEX_RETENTION_HOURS = 72;

/**
 * The prefixes a vacuum cleans, each with the catalog table that names the live files under it. A
 * prefix is cleaned only once its table exists: before that the catalog does not name the files
 * there, and "not referenced" would not mean "not used".
 */
export const VACUUMED_PREFIXES: readonly { readonly prefix: string; readonly table: string }[] = [
  { prefix: CURATED_PREFIX, table: EVENTS_TABLE },
  { prefix: REJECTS_PREFIX, table: REJECTS_TABLE },
  { prefix: CLICK_INDEX_PREFIX, table: CLICK_INDEX_TABLE },
];

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

export interface VacuumInput {
  /** The workflow execution (or CLI invocation) running the vacuum. */
  readonly executionId: string;
  /** The arrival hour of the run that includes the vacuum, if any; informational. */
  readonly hour?: string;
  /** How long a file stays after it stopped being live. @default settings.retentionHours */
  readonly retentionHours?: number;
}

export interface VacuumPorts {
  readonly store: ObjectStore;
  readonly catalog: Catalog;
}

export interface VacuumSettings {
  /** The clock the retention counts back from. @default () => new Date() */
  readonly now?: () => Date;
  /** The retention when the input gives none. @default 72 */
  readonly retentionHours?: number;
  /** The longest a task may run between reading the catalog and committing. @default 15 (the Lambda limit) */
  readonly maxTaskMinutes?: number;
  /** The longest a query may read the files of one snapshot. @default 60 */
  readonly maxQueryMinutes?: number;
  /** Count what would be deleted, and delete nothing. @default false */
  readonly dryRun?: boolean;
  /**
   * How long the click index keeps an arrival hour's entries after the hour ended and they were
   * last written; a merge that needs trimmed entries reads every event partition they could name.
   * @default 720 (30 days)
   */
  readonly clickIndexRetentionHours?: number;
}

/** The vacuum's report; JSON-serialisable, it becomes the Step Functions state output. */
export interface VacuumResult {
  /** Files deleted (or, in a dry run, that would be). */
  readonly filesDeleted: number;
  readonly bytesDeleted: number;
  readonly retentionHours: number;
  /** Files not live since before this instant (and written before it) were deleted. */
  readonly cutoff: string;
  readonly dryRun: boolean;
  /** Entries of the scratch directory left by tasks that died, older than the longest task. */
  readonly scratchEntriesDeleted: number;
  /** Arrival hours whose click index entries were trimmed (or, in a dry run, would be). */
  readonly clickIndexHoursTrimmed: number;
}

/**
 * Deletes the data files under the vacuumed prefixes that no reader or writer can still use: files
 * that no catalog snapshot since `now - retention` names, and that were written before that instant.
 * That covers files a commit dropped more than the retention ago (walking the commit history since
 * the cutoff to learn when each file stopped being live) and orphans that no commit ever named (files
 * of crashed or superseded writers), by their age. Files of the current snapshot are never deleted. A retention
 * shorter than the longest task plus the longest query is refused. Idempotent.
 */
export async function runVacuum(input: VacuumInput, ports: VacuumPorts, settings: VacuumSettings = {}): Promise<VacuumResult> {
  if (input.hour !== undefined) hourStartMs(input.hour);
  const retentionHours = checkRetention(input.retentionHours ?? settings.retentionHours ?? DEFAULT_RETENTION_HOURS, settings);
  const now = (settings.now ?? (() => new Date()))();
  const cutoffMs = now.getTime() - retentionHours * HOUR_MS;
  const dryRun = settings.dryRun ?? false;
  const clickIndexHoursTrimmed = await trimClickIndex(input, ports.catalog, now, checkClickIndexRetention(settings.clickIndexRetentionHours ?? DEFAULT_CLICK_INDEX_RETENTION_HOURS), dryRun);

  // The snapshot before the history: a commit landing in between is then in the history, and its files count as live.
  const snapshot = await ports.catalog.snapshot();
  const liveness = fileLiveness(await ports.catalog.historyFrom(new Date(cutoffMs)));
  for (const table of Object.values(snapshot.tables)) {
    for (const partition of Object.values(table.partitions)) for (const file of partition.files) liveness.live.add(file.key);
  }

  let filesDeleted = 0;
  let bytesDeleted = 0;
  for (const { prefix, table } of VACUUMED_PREFIXES) {
    if (!snapshot.tables[table]) continue;
    for await (const object of ports.store.list(prefix)) {
      if (liveness.live.has(object.key)) continue;
      // Still named by a snapshot current at or after the cutoff: a reader or a writer may be using it.
      if ((liveness.droppedAt.get(object.key) ?? -Infinity) > cutoffMs) continue;
      // Written after the cutoff: possibly by a writer that has not committed yet.
      if (object.lastModified.getTime() > cutoffMs) continue;
      if (!dryRun) await ports.store.delete(object.key);
      filesDeleted += 1;
      bytesDeleted += object.size;
    }
  }
  const scratchEntriesDeleted = await deleteStaleScratch(ports.store.scratchDir, now.getTime() - (settings.maxTaskMinutes ?? 15) * 60_000, dryRun);
  return { filesDeleted, bytesDeleted, retentionHours, cutoff: new Date(cutoffMs).toISOString(), dryRun, scratchEntriesDeleted, clickIndexHoursTrimmed };
}

/** Trims the click index partitions past their retention in one commit (see clickIndexTrims); returns how many. */
async function trimClickIndex(input: VacuumInput, catalog: Catalog, now: Date, retentionHours: number, dryRun: boolean): Promise<number> {
  if (dryRun) return clickIndexTrims(await catalog.snapshot(), now, retentionHours).length;
  const token = { executionId: input.executionId, hour: input.hour ?? formatHour(now.getTime()), step: 'vacuum' };
  const commit = await commitWithRetry(catalog, token, (snapshot) => clickIndexTrims(snapshot, now, retentionHours));
  return commit?.changes.length ?? 0;
}

function checkClickIndexRetention(hours: number): number {
  if (!Number.isFinite(hours) || hours < MINIMUM_CLICK_INDEX_RETENTION_HOURS) {
    throw new InvalidInputError(
      `click index retention ${hours} h is shorter than the minimum of ${MINIMUM_CLICK_INDEX_RETENTION_HOURS} h: normal runs still read the index that far back`,
    );
  }
  return hours;
}

/**
 * Removes what killed tasks left in the scratch directory (staged input, DuckDB spill, unfinished
 * Parquet): nothing there outlives the task that made it, so an entry older than the longest task is dead.
 */
async function deleteStaleScratch(scratchDir: string, olderThanMs: number, dryRun: boolean): Promise<number> {
  const names = await fs.readdir(scratchDir).catch(() => [] as string[]);
  let deleted = 0;
  for (const name of names) {
    const entry = path.join(scratchDir, name);
    const stat = await fs.stat(entry).catch(() => undefined);
    if (!stat || stat.mtimeMs > olderThanMs) continue;
    if (!dryRun) await fs.rm(entry, { recursive: true, force: true });
    deleted += 1;
  }
  return deleted;
}

/** The shortest retention that cannot delete a file a running task or query still uses, in hours. */
export function minimumRetentionHours(settings: Pick<VacuumSettings, 'maxTaskMinutes' | 'maxQueryMinutes'> = {}): number {
  const task = settings.maxTaskMinutes ?? 15;
  const query = settings.maxQueryMinutes ?? 60;
  for (const [name, value] of [['maxTaskMinutes', task], ['maxQueryMinutes', query]] as const) {
    if (!Number.isFinite(value) || value < 0) throw new InvalidInputError(`invalid vacuum setting ${name} ${value}: expected a number of minutes >= 0`);
  }
  return (task + query) / 60;
}

function checkRetention(retentionHours: number, settings: VacuumSettings): number {
  if (!Number.isFinite(retentionHours) || retentionHours <= 0) {
    throw new InvalidInputError(`invalid retention ${retentionHours} h: expected a positive number of hours`);
  }
  const minimum = minimumRetentionHours(settings);
  if (retentionHours < minimum) {
    const task = settings.maxTaskMinutes ?? 15;
    const query = settings.maxQueryMinutes ?? 60;
    throw new InvalidInputError(
      `retention ${retentionHours} h is shorter than the minimum of ${minimum} h (the longest task, ${task} min, plus the longest query, ${query} min): a writer or reader could still be using the files it would delete`,
    );
  }
  return retentionHours;
}

interface Liveness {
  /** Files named by the state after the last commit. */
  readonly live: Set<string>;
  /** For files some commit stopped naming: when the last such commit was made (epoch ms). */
  readonly droppedAt: Map<string, number>;
}

/**
 * Replays the history from its base, recording when each file stopped being live. A file that the
 * base does not name and no later commit names was dropped (or never named) by the base's commit or
 * before, no later than the cutoff, so it needs no date.
 */
function fileLiveness({ base, commits }: CatalogHistory): Liveness {
  const partitions = new Map<string, readonly string[]>();
  const droppedAt = new Map<string, number>();
  const drop = (keys: readonly string[] | undefined, kept: ReadonlySet<string>, at: number) => {
    for (const key of keys ?? []) {
      if (!kept.has(key)) droppedAt.set(key, at);
    }
  };
  const idOf = (table: string, partition: string) => JSON.stringify([table, partition]);
  for (const [table, state] of Object.entries(base?.snapshot.tables ?? {})) {
    for (const [partition, { files }] of Object.entries(state.partitions)) partitions.set(idOf(table, partition), files.map((file) => file.key));
  }
  let at = base === undefined ? -Infinity : Date.parse(base.committedAt);
  for (const commit of commits) {
    // Commits happen in version order even when writers' clocks disagree: a commit is no earlier than
    // the one before it. One whose time cannot be read counts as made now, so its files wait a whole retention.
    const parsed = Date.parse(commit.committedAt);
    at = Math.max(at, Number.isNaN(parsed) ? Infinity : parsed);
    for (const change of commit.changes) {
      if (change.kind === 'putPartition') {
        const id = idOf(change.table, change.partition);
        const files = change.files.map((file) => file.key);
        drop(partitions.get(id), new Set(files), at);
        partitions.set(id, files);
      } else if (change.kind === 'dropPartition') {
        const id = idOf(change.table, change.partition);
        drop(partitions.get(id), new Set(), at);
        partitions.delete(id);
      }
    }
  }
  const live = new Set<string>();
  for (const files of partitions.values()) for (const key of files) live.add(key);
  return { live, droppedAt };
}
