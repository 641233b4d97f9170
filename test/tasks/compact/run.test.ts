import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { FsCatalog } from '../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { createCompactHandler } from '../../../tasks/compact/handler';
import { runCompaction, type CompactionPorts } from '../../../tasks/compact/run';
import { deltaFileKey, EVENT_SORT_ORDER, initialLocation, type CuratedFile } from '../../../tasks/curated/layout';
import type { Catalog, CatalogChange, CommitToken } from '../../../tasks/ports/catalog';
import { CommitConflictError, InvalidInputError, TransientStorageError } from '../../../tasks/ports/errors';
import {
  eventsPartition,
  isSorted,
  keysUnder,
  multisetDifference,
  parquetList,
  putEventsPartition,
  sortKeysOf,
  writeCuratedFile,
  type FileSpec,
} from './curated-fixtures';

const P5 = 'dt=2021-07-12/hr=05';
const P6 = 'dt=2021-07-12/hr=06';
const P7 = 'dt=2021-07-12/hr=07';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:hourly:run-2021-07-12T08';
const INPUT = { executionId: EXECUTION, hour: '2021-07-12T08' };
const clock = () => new Date('2021-07-12T08:30:00Z');

let lake: string;
let store: FsObjectStore;
let catalog: FsCatalog;
let instance: DuckDBInstance;
let db: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
});

afterAll(() => {
  db.closeSync();
  instance.closeSync();
});

beforeEach(async () => {
  lake = await fs.mkdtemp(path.join(os.tmpdir(), 'compact-'));
  store = new FsObjectStore(lake);
  catalog = new FsCatalog(store);
});

afterEach(async () => {
  await fs.rm(lake, { recursive: true, force: true });
});

function ports(overrides: Partial<CompactionPorts> = {}): CompactionPorts {
  return { store, catalog, ...overrides };
}

/** A partition as merges leave it: a base file and `deltas` delta files appended by later runs. */
async function buildPartition(partition: string, specs: readonly FileSpec[], properties: Record<string, unknown> = { mergedBy: 'fixture' }): Promise<CuratedFile[]> {
  const location = initialLocation(partition);
  const files: CuratedFile[] = [];
  for (const [index, spec] of specs.entries()) {
    const key = index === 0 ? `${location}part-00000.parquet` : deltaFileKey(location, `merge-${spec.tag}`);
    files.push(await writeCuratedFile(db, store, partition, key, spec, index === 0 ? 'base' : 'delta'));
  }
  await putEventsPartition(catalog, partition, location, files, properties);
  return files;
}

function specs(count: number, rows: number, prefix = 'f'): FileSpec[] {
  return Array.from({ length: count }, (_, index) => ({ tag: `${prefix}${index}`, rows: rows + index * 7, scrambled: index % 2 === 1 }));
}

describe('runCompaction', () => {
  it('merges many small files into one fully sorted base file holding exactly the same rows', async () => {
    const before = await buildPartition(P5, specs(6, 400));
    const beforeVersion = (await catalog.snapshot()).version;

    const result = await runCompaction({ ...INPUT, partitions: [P5] }, ports(), { now: clock });

    const after = await eventsPartition(catalog, P5);
    expect(after.location).toBe('curated/events/dt=2021-07-12/hr=05/v=run-2021-07-12T08/');
    expect(after.files).toHaveLength(1);
    const [file] = after.files as CuratedFile[];
    expect(file!.key.startsWith(after.location)).toBe(true);
    expect(file!.key).toMatch(/\/part-00000-[0-9a-f]{8}\.parquet$/);
    expect(file!.kind).toBe('base');
    expect(file!.records).toBe(before.reduce((sum, f) => sum + f.records, 0));
    expect(file!.size).toBe((await fs.stat(store.locate(file!.key))).size);
    expect(await multisetDifference(db, store, before.map((f) => f.key), [file!.key])).toBe(0);
    expect(isSorted(await sortKeysOf(db, store, file!.key))).toBe(true);
    // The rows sorted as plain text give the same bytes: the text sorted as ENUMs is written as text.
    const plain = path.join(lake, 'plain-sort.parquet');
    await db.run(`COPY (SELECT * FROM ${parquetList(store, before.map((f) => f.key))} ORDER BY ${EVENT_SORT_ORDER}) TO '${plain}' (FORMAT parquet, COMPRESSION zstd)`);
    expect((await fs.readFile(store.locate(file!.key))).equals(await fs.readFile(plain))).toBe(true);
    expect(after.properties).toEqual({
      mergedBy: 'fixture',
      compactedAt: '2021-07-12T08:30:00.000Z',
      filesBeforeCompaction: 6,
      filesAfterCompaction: 1,
      bytesBeforeCompaction: before.reduce((sum, f) => sum + f.size, 0),
      rows: file!.records,
    });
    expect(result).toEqual({
      partitionsConsidered: 1,
      partitionsCompacted: 1,
      filesBefore: 6,
      filesAfter: 1,
      bytesBefore: before.reduce((sum, f) => sum + f.size, 0),
      bytesAfter: file!.size,
      catalogVersion: beforeVersion + 1,
    });
    // Old files stay for readers of older snapshots until a vacuum; scratch is cleaned up.
    for (const old of before) expect(await store.exists(old.key)).toBe(true);
    const scratch = await fs.readdir(store.scratchDir).catch(() => []);
    expect(scratch.filter((name) => name.startsWith('compact-'))).toEqual([]);
  });

  it('rewrites neither untouched partitions nor touched partitions under the thresholds', async () => {
    await buildPartition(P5, specs(2, 100, 'a')); // touched, 2 small files: under both thresholds
    await buildPartition(P6, specs(6, 100, 'b')); // many files, but this run's merge did not touch it
    await buildPartition(P7, specs(3, 100, 'c')); // touched, 3 small files: compacted
    const before = await catalog.snapshot();

    const result = await runCompaction({ ...INPUT, partitions: [P5, P7, P5] }, ports());

    const after = await catalog.snapshot();
    expect(after.tables.events!.partitions[P5]).toEqual(before.tables.events!.partitions[P5]);
    expect(after.tables.events!.partitions[P6]).toEqual(before.tables.events!.partitions[P6]);
    expect(after.tables.events!.partitions[P7]!.files).toHaveLength(1);
    expect(result).toMatchObject({ partitionsConsidered: 2, partitionsCompacted: 1, filesBefore: 3, filesAfter: 1 });
  });

  it('compacts on file count alone when no file is small, and not at the limit', async () => {
    await buildPartition(P5, specs(5, 50, 'a'));
    await buildPartition(P6, specs(4, 50, 'b'));
    const settings = { smallFileBytes: 1, maxFiles: 4 };

    const result = await runCompaction({ ...INPUT, partitions: [P5, P6] }, ports(), settings);

    expect(result).toMatchObject({ partitionsConsidered: 2, partitionsCompacted: 1, filesBefore: 5 });
    expect((await eventsPartition(catalog, P5)).files).toHaveLength(1);
    expect((await eventsPartition(catalog, P6)).files).toHaveLength(4);
  });

  it('makes no commit when nothing needs compacting', async () => {
    await buildPartition(P5, specs(1, 100));
    const before = await catalog.snapshot();

    const result = await runCompaction({ ...INPUT, partitions: [P5, P6] }, ports());

    expect(result).toEqual({ partitionsConsidered: 2, partitionsCompacted: 0, filesBefore: 0, filesAfter: 0, bytesBefore: 0, bytesAfter: 0, catalogVersion: before.version });
    expect((await catalog.snapshot()).version).toBe(before.version);
  });

  it('splits a partition into files near the target size, each sorted, in order, with exact record counts', async () => {
    const before = await buildPartition(P5, specs(5, 3000));
    const bytes = before.reduce((sum, f) => sum + f.size, 0);

    const result = await runCompaction({ ...INPUT, partitions: [P5] }, ports(), { targetFileBytes: Math.ceil(bytes / 3) });

    const after = (await eventsPartition(catalog, P5)).files as CuratedFile[];
    expect(after.length).toBe(3);
    expect(result).toMatchObject({ partitionsCompacted: 1, filesBefore: 5, filesAfter: 3 });
    const all = [];
    for (const file of after) {
      const keys = await sortKeysOf(db, store, file.key);
      expect(keys.length).toBe(file.records);
      expect(isSorted(keys)).toBe(true);
      expect(file.size).toBe((await fs.stat(store.locate(file.key))).size);
      all.push(...keys);
    }
    // The files in catalog order are consecutive slices of one sorted sequence.
    expect(isSorted(all)).toBe(true);
    expect(after.map((file) => file.records).reduce((a, b) => a + b, 0)).toBe(before.reduce((sum, f) => sum + f.records, 0));
    expect(await multisetDifference(db, store, before.map((f) => f.key), after.map((f) => f.key))).toBe(0);
  });

  it('keeps columns beyond the contract instead of dropping them', async () => {
    await buildPartition(P5, [
      { tag: 'a', rows: 20 },
      { tag: 'b', rows: 20, extraColumns: { experiment: `'x-' || i` } },
      { tag: 'c', rows: 20 },
    ]);

    await runCompaction({ ...INPUT, partitions: [P5] }, ports());

    const [file] = (await eventsPartition(catalog, P5)).files;
    const reader = await db.runAndReadAll(
      `SELECT count(experiment) AS n FROM read_parquet('${store.locate(file!.key)}', hive_partitioning = false)`,
    );
    expect(Number(reader.getRowObjectsJson()[0]!.n)).toBe(20);
  });

  it('rebases a partition that a merge appended to between the read and the swap, keeping every row exactly once', async () => {
    const before = await buildPartition(P5, specs(4, 200));
    let late: CuratedFile | undefined;
    const racing = interceptCompactCommits(catalog, async () => {
      if (late) return;
      const state = await eventsPartition(catalog, P5);
      late = await writeCuratedFile(db, store, P5, deltaFileKey(state.location, 'racing-merge'), { tag: 'late', rows: 37 });
      await putEventsPartition(catalog, P5, state.location, [...(state.files as CuratedFile[]), late], state.properties);
    });

    const result = await runCompaction({ ...INPUT, partitions: [P5] }, ports({ catalog: racing }));

    const after = await eventsPartition(catalog, P5);
    expect(late).toBeDefined();
    expect(after.files.map((file) => file.key)).not.toContain(late!.key);
    expect(await multisetDifference(db, store, [...before, late!].map((f) => f.key), after.files.map((f) => f.key))).toBe(0);
    expect(result).toMatchObject({ partitionsCompacted: 1, filesBefore: 5, filesAfter: 1 });
    expect(after.properties).toMatchObject({ filesBeforeCompaction: 5, rows: 4 * 200 + 6 * 7 + 37 });
  });

  it('fails with CommitConflictError when the partition keeps changing beyond the rebase attempts', async () => {
    await buildPartition(P5, specs(4, 50));
    let appended = 0;
    const racing = interceptCompactCommits(catalog, async () => {
      const state = await eventsPartition(catalog, P5);
      const delta = await writeCuratedFile(db, store, P5, deltaFileKey(state.location, `racer-${++appended}`), { tag: `r${appended}`, rows: 5 });
      await putEventsPartition(catalog, P5, state.location, [...(state.files as CuratedFile[]), delta], state.properties);
    });

    const failure = runCompaction({ ...INPUT, partitions: [P5] }, ports({ catalog: racing }), { rebaseAttempts: 2 });

    await expect(failure).rejects.toThrow(CommitConflictError);
    await expect(failure).rejects.toMatchObject({ name: 'CommitConflictError', message: expect.stringContaining(P5) });
    const state = await eventsPartition(catalog, P5);
    expect(state.files).toHaveLength(4 + appended);
    expect((state.files as CuratedFile[]).every((file) => file.kind !== 'base' || file.key.includes('/v=0/'))).toBe(true);
  });

  it('applies nothing twice when retried with the same token after a success', async () => {
    await buildPartition(P5, specs(4, 100));
    const first = await runCompaction({ ...INPUT, partitions: [P5] }, ports());
    const keys = await keysUnder(store, 'curated/');
    const version = (await catalog.snapshot()).version;

    const second = await runCompaction({ ...INPUT, partitions: [P5] }, ports());

    expect(second).toEqual(first);
    expect((await catalog.snapshot()).version).toBe(version);
    expect(await keysUnder(store, 'curated/')).toEqual(keys);
  });

  it('reads back its commit when the first attempt committed but reported a failure', async () => {
    const before = await buildPartition(P5, specs(4, 100));
    const flaky: Catalog = {
      snapshot: () => catalog.snapshot(),
      findCommit: (token) => catalog.findCommit(token),
      history: (after) => catalog.history(after),
      historyFrom: (instant) => catalog.historyFrom(instant),
      commit: async (base, token, changes) => {
        await catalog.commit(base, token, changes);
        throw new TransientStorageError('connection reset after the commit was written');
      },
    };
    await expect(runCompaction({ ...INPUT, partitions: [P5] }, ports({ catalog: flaky }))).rejects.toThrow(TransientStorageError);
    const committed = await catalog.snapshot();
    const keys = await keysUnder(store, 'curated/');

    const retry = await runCompaction({ ...INPUT, partitions: [P5] }, ports());

    expect(retry).toMatchObject({ partitionsCompacted: 1, filesBefore: 4, filesAfter: 1, catalogVersion: committed.version });
    expect((await catalog.snapshot()).version).toBe(committed.version);
    expect(await keysUnder(store, 'curated/')).toEqual(keys);
    const after = await eventsPartition(catalog, P5);
    expect(await multisetDifference(db, store, before.map((f) => f.key), after.files.map((f) => f.key))).toBe(0);
  });

  it('handles a partition of a million rows within a small memory limit', async () => {
    const before = await buildPartition(P5, [
      { tag: 'big', rows: 1_000_000 },
      { tag: 'l1', rows: 1000, scrambled: true },
      { tag: 'l2', rows: 1000 },
    ]);

    const result = await runCompaction({ ...INPUT, partitions: [P5] }, ports(), { memoryLimit: '256MB', threads: 2 });

    expect(result).toMatchObject({ partitionsCompacted: 1, filesBefore: 3 });
    const after = await eventsPartition(catalog, P5);
    expect(after.properties.rows).toBe(before.reduce((sum, f) => sum + f.records, 0));
    const reader = await db.runAndReadAll(
      `SELECT count(*) AS unsorted FROM (SELECT file_row_number, row_number() OVER (ORDER BY event_time, user_id, click_id) - 1 AS rank FROM read_parquet('${store.locate(after.files[0]!.key)}', hive_partitioning = false, file_row_number = true)) WHERE file_row_number <> rank`,
    );
    expect(Number(reader.getRowObjectsJson()[0]!.unsorted)).toBe(0);
  });
});

describe('createCompactHandler', () => {
  it('rejects malformed input with InvalidInputError before reading anything', async () => {
    const handler = createCompactHandler(ports());
    await expect(handler({ executionId: EXECUTION, hour: '2021-07-12T08', partitions: ['2021-07-12T05'] })).rejects.toThrow(InvalidInputError);
    await expect(handler({ executionId: EXECUTION, hour: '2021-13-12T08', partitions: [] })).rejects.toMatchObject({ name: 'InvalidInputError' });
    await expect(handler({ hour: '2021-07-12T08', partitions: [] })).rejects.toThrow(/executionId/);
  });

  it('runs the compaction on valid input', async () => {
    await buildPartition(P5, specs(3, 10));
    const handler = createCompactHandler(ports());
    await expect(handler({ ...INPUT, partitions: [P5], extra: 'ignored' })).resolves.toMatchObject({ partitionsCompacted: 1 });
  });
});

/**
 * A catalog whose compaction commits are preceded by `race`: another writer commits first, exactly
 * between the compaction's read and its swap.
 */
function interceptCompactCommits(inner: Catalog, race: () => Promise<void>): Catalog {
  return {
    snapshot: () => inner.snapshot(),
    findCommit: (token) => inner.findCommit(token),
    history: (after) => inner.history(after),
    historyFrom: (instant) => inner.historyFrom(instant),
    commit: async (base: number, token: CommitToken, changes: readonly CatalogChange[]) => {
      if (token.step === 'compact') await race();
      return inner.commit(base, token, changes);
    },
  };
}
