import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDbQueryEngine } from '../tasks/adapters/local/duckdb-query-engine';
import { createLakeViews } from '../tasks/adapters/local/lake-views';
import { EVENTS_TABLE, executionNameOf, hourOfPartitionKey, REJECTS_TABLE } from '../tasks/curated/layout';
import type { Catalog, CatalogSnapshot, CommitRecord } from '../tasks/ports/catalog';
import type { ObjectStore } from '../tasks/ports/object-store';
import type { HourRange, LakeHealth, PartitionHealth, RejectExample, RejectsSummary } from './api-types';

/** Reject records shown per reason. */
export const REJECT_EXAMPLES_PER_REASON = 3;

/** What the commit log tells about one events partition beyond its current state. */
interface PartitionHistory {
  readonly keys: Set<string>;
  compactions: number;
  lastCommit?: PartitionHealth['lastCommit'];
}

/**
 * The lake-health page's data: per event hour, the catalog's current partition (rows, late rows,
 * files, bytes, the latest compaction's file counts) and what its commit history adds (files ever
 * written, compactions, the last commit); and the rejected records of the arrival hours in the range,
 * counted by reason with a few examples, through the same `rejects` view `lakehouse query` has.
 * The commit history is folded once and then only from the last version read.
 */
export class LakeHealthReader {
  private readonly partitions = new Map<string, PartitionHistory>();
  private foldedVersion = 0;
  private folding: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly catalog: Catalog,
    private readonly store: ObjectStore,
  ) {}

  /** The health of the event hours in `range`, from `snapshot` (the catalog's latest when not given). */
  async read(range: HourRange, snapshot?: CatalogSnapshot): Promise<LakeHealth> {
    snapshot ??= await this.catalog.snapshot();
    await this.foldHistory();
    const events = snapshot.tables[EVENTS_TABLE]?.partitions ?? {};
    const partitions: PartitionHealth[] = [];
    for (const key of Object.keys(events).sort()) {
      const hour = hourOfPartitionKey(key);
      if (hour < range.from || hour >= range.to) continue;
      const state = events[key]!;
      const history = this.partitions.get(key);
      const rows = Number(state.properties['rows'] ?? 0);
      const lateRows = Number(state.properties['lateRows'] ?? 0);
      const before = state.properties['filesBeforeCompaction'];
      const after = state.properties['filesAfterCompaction'];
      partitions.push({
        hour,
        rows,
        lateRows,
        lateShare: rows > 0 ? lateRows / rows : 0,
        files: state.files.length,
        bytes: state.files.reduce((sum, file) => sum + file.size, 0),
        filesWritten: Math.max(history?.keys.size ?? 0, state.files.length),
        compactions: history?.compactions ?? 0,
        ...(typeof before === 'number' ? { filesBeforeCompaction: before } : {}),
        ...(typeof after === 'number' ? { filesAfterCompaction: after } : {}),
        ...(history?.lastCommit === undefined ? {} : { lastCommit: history.lastCommit }),
      });
    }
    const sum = (field: 'rows' | 'lateRows' | 'files' | 'bytes' | 'compactions') => partitions.reduce((total, partition) => total + partition[field], 0);
    return {
      range,
      catalogVersion: snapshot.version,
      totals: { partitions: partitions.length, rows: sum('rows'), lateRows: sum('lateRows'), files: sum('files'), bytes: sum('bytes'), compactions: sum('compactions') },
      partitions,
      rejects: await readRejects(snapshot, this.store, range),
    };
  }

  /** Folds the commits made since the last fold; one fold at a time. */
  private foldHistory(): Promise<void> {
    const run = this.folding.then(async () => {
      for (const commit of await this.catalog.history(this.foldedVersion)) {
        this.fold(commit);
        this.foldedVersion = commit.version;
      }
    });
    this.folding = run.catch(() => undefined);
    return run;
  }

  private fold(commit: CommitRecord): void {
    for (const change of commit.changes) {
      if (change.kind !== 'putPartition' || change.table !== EVENTS_TABLE) continue;
      let history = this.partitions.get(change.partition);
      if (history === undefined) {
        history = { keys: new Set(), compactions: 0 };
        this.partitions.set(change.partition, history);
      }
      for (const file of change.files) history.keys.add(file.key);
      if (commit.token.step === 'compact') history.compactions += 1;
      history.lastCommit = { version: commit.version, at: commit.committedAt, execution: executionLabel(commit.token.executionId), step: commit.token.step };
    }
  }
}

/**
 * Rejected records of the arrival hours in `range`, by reason with examples: DuckDB over the `rejects`
 * view of a snapshot narrowed to those hours' partitions, confined to their files.
 */
async function readRejects(snapshot: CatalogSnapshot, store: ObjectStore, range: HourRange): Promise<RejectsSummary> {
  const rejects = snapshot.tables[REJECTS_TABLE];
  const partitions = Object.fromEntries(Object.entries(rejects?.partitions ?? {}).filter(([hour]) => hour >= range.from && hour < range.to));
  if (rejects === undefined || Object.keys(partitions).length === 0) return { total: 0, byReason: [], examples: [] };
  const narrowed: CatalogSnapshot = { version: snapshot.version, tables: { [REJECTS_TABLE]: { ...rejects, partitions } } };
  const engine = await DuckDbQueryEngine.open({ threads: 1, tempDirectory: path.join(os.tmpdir(), `lakehouse-console-${process.pid}`) });
  try {
    const views = await createLakeViews(engine, narrowed, store, { aggregates: false });
    await engine.confineTo(views.files);
    const byReason = await engine.query('SELECT reason, count(*) AS records FROM rejects GROUP BY reason ORDER BY records DESC, reason');
    const examples = await engine.query(
      `SELECT reason, strftime(arrival_hour, '%Y-%m-%dT%H') AS arrival_hour, source_key, record_number, record
       FROM (SELECT *, row_number() OVER (PARTITION BY reason ORDER BY arrival_hour, source_key, record_number) AS example FROM rejects)
       WHERE example <= $1 ORDER BY reason, example`,
      [REJECT_EXAMPLES_PER_REASON],
    );
    const counts = byReason.rows.map(([reason, count]) => ({ reason: String(reason), count: Number(count) }));
    return {
      total: counts.reduce((sum, { count }) => sum + count, 0),
      byReason: counts,
      examples: examples.rows.map(
        ([reason, arrivalHour, sourceKey, recordNumber, record]): RejectExample => ({
          reason: String(reason),
          arrivalHour: String(arrivalHour),
          sourceKey: String(sourceKey),
          recordNumber: Number(recordNumber),
          record: record === null ? null : String(record),
        }),
      ),
    };
  } finally {
    await engine.close();
  }
}

function executionLabel(executionId: string): string {
  try {
    return executionNameOf(executionId);
  } catch {
    return executionId;
  }
}
