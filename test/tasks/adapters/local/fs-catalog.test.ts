import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CorruptCatalogError, FsCatalog } from '../../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../../tasks/adapters/local/fs-object-store';
import type { CatalogChange, CommitToken } from '../../../../tasks/ports/catalog';
import { CommitConflictError, InvalidInputError, TransientStorageError } from '../../../../tasks/ports/errors';
import type { ObjectStore } from '../../../../tasks/ports/object-store';

let lake: string;

beforeEach(async () => {
  lake = await fs.mkdtemp(path.join(os.tmpdir(), 'fs-catalog-'));
});

afterEach(async () => {
  await fs.rm(lake, { recursive: true, force: true });
});

function openCatalog(options: ConstructorParameters<typeof FsCatalog>[2] = {}): FsCatalog {
  return new FsCatalog(new FsObjectStore(lake), '_catalog/', options);
}

function token(executionId: string, hour = '2021-07-12T05', step = 'crawl'): CommitToken {
  return { executionId, hour, step };
}

function putPartition(partition: string, records: number): CatalogChange {
  return {
    kind: 'putPartition',
    table: 'raw_events',
    partition,
    location: `raw/${partition}/`,
    files: [{ key: `raw/${partition}/a.gz`, size: 10, records }],
    properties: { records },
  };
}

function commitFile(version: number): string {
  return path.join(lake, '_catalog', 'commits', `${String(version).padStart(20, '0')}.json`);
}

function checkpointFile(version: number): string {
  return path.join(lake, '_catalog', 'checkpoints', `${String(version).padStart(20, '0')}.json`);
}

/** Commits `count` changes one after another, each on top of the latest version. */
async function commitMany(catalog: FsCatalog, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const { version } = await catalog.snapshot();
    await catalog.commit(version, token(`run-${i}`), [putPartition(`p${i % 7}`, i)]);
  }
}

describe('FsCatalog', () => {
  it('starts empty', async () => {
    expect(await openCatalog().snapshot()).toEqual({ version: 0, tables: {} });
    expect(await openCatalog().history()).toEqual([]);
  });

  it('applies commits as documented and keeps them across instances (processes)', async () => {
    const writer = openCatalog({ now: () => new Date('2021-07-12T06:00:00Z') });
    const first = await writer.commit(0, token('a'), [
      { kind: 'setColumns', table: 'raw_events', columns: [{ name: 'click_id', type: 'string' }] },
      putPartition('2021-07-12T05', 3),
      putPartition('2021-07-12T06', 1),
    ]);
    expect(first).toMatchObject({ version: 1, token: token('a'), committedAt: '2021-07-12T06:00:00.000Z' });
    const drift = { field: 'x', change: 'added' as const, to: 'bigint', partition: '2021-07-12T05', detectedAt: '2021-07-12T06:00:00.000Z', records: 2 };
    await writer.commit(1, token('b'), [
      putPartition('2021-07-12T05', 4),
      { kind: 'dropPartition', table: 'raw_events', partition: '2021-07-12T06' },
      { kind: 'recordDrift', table: 'raw_events', events: [drift] },
      { kind: 'recordDrift', table: 'other', events: [] },
    ]);

    const snapshot = await openCatalog().snapshot();
    expect(snapshot).toEqual({
      version: 2,
      tables: {
        raw_events: {
          columns: [{ name: 'click_id', type: 'string' }],
          partitions: {
            '2021-07-12T05': { location: 'raw/2021-07-12T05/', files: [{ key: 'raw/2021-07-12T05/a.gz', size: 10, records: 4 }], version: 2, properties: { records: 4 } },
          },
          drift: [drift],
        },
        other: { columns: [], partitions: {}, drift: [] },
      },
    });
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    expect((await openCatalog().history(1)).map((record) => record.token.executionId)).toEqual(['b']);
    expect(await openCatalog().findCommit(token('a'))).toEqual(first);
    expect(await openCatalog().findCommit(token('a', '2021-07-12T06'))).toBeUndefined();
  });

  it('sees the commits of another instance made after its own last read', async () => {
    const reader = openCatalog();
    expect((await reader.snapshot()).version).toBe(0);
    await openCatalog().commit(0, token('a'), [putPartition('p', 1)]);
    expect((await reader.snapshot()).version).toBe(1);
    expect(await reader.findCommit(token('a'))).toMatchObject({ version: 1 });
  });

  it('lets exactly one of many concurrent writers at the same base version win; the others get CommitConflictError', async () => {
    for (let round = 0; round < 5; round++) {
      const writers = Array.from({ length: 12 }, () => openCatalog());
      const outcomes = await Promise.allSettled(writers.map((writer, i) => writer.commit(round, token(`w${round}-${i}`), [putPartition('p', i)])));
      const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(CommitConflictError);
      }
      const snapshot = await openCatalog().snapshot();
      expect(snapshot.version).toBe(round + 1);
      expect(snapshot.tables.raw_events!.partitions.p!.version).toBe(round + 1);
    }
  });

  it('writes a checkpoint every 50 commits that gives the same snapshot as folding every commit', async () => {
    const catalog = openCatalog();
    await commitMany(catalog, 120);
    const latest = await catalog.snapshot();
    await expect(fs.access(checkpointFile(50))).resolves.toBeUndefined();
    await expect(fs.access(checkpointFile(100))).resolves.toBeUndefined();
    await expect(fs.access(checkpointFile(120))).rejects.toThrow();

    const fromCheckpoint = await openCatalog().snapshot();
    await fs.rm(path.join(lake, '_catalog', 'checkpoints'), { recursive: true });
    const fullFold = openCatalog({ checkpointInterval: 1000 });
    expect(await fullFold.snapshot()).toEqual(fromCheckpoint);
    expect(fromCheckpoint).toEqual(latest);
  });

  it('reads from the newest checkpoint instead of folding all the history', async () => {
    await commitMany(openCatalog({ checkpointInterval: 10 }), 25);
    const expected = await openCatalog({ checkpointInterval: 10 }).snapshot();
    // Commits up to the checkpoint are no longer needed to read the catalog.
    for (let version = 1; version <= 20; version++) await fs.rm(commitFile(version));
    const catalog = openCatalog({ checkpointInterval: 10 });
    expect(await catalog.snapshot()).toEqual(expected);
    expect(await catalog.findCommit(token('run-23'))).toMatchObject({ version: 24 });
  });

  it('gives the history from the newest checkpoint made at or before an instant, skipping checkpoints that do not know their time', async () => {
    let clock = new Date('2021-07-12T00:00:00Z');
    const catalog = () => openCatalog({ checkpointInterval: 10, now: () => clock });
    for (let i = 0; i < 35; i++) {
      clock = new Date(Date.parse('2021-07-12T00:00:00Z') + i * 3_600_000);
      const { version } = await catalog().snapshot();
      await catalog().commit(version, token(`run-${i}`), [putPartition(`p${i % 7}`, i)]);
    }
    const history = await catalog().history();
    const at = (version: number) => new Date(history[version - 1]!.committedAt);

    // Version 25 was committed after version 20's checkpoint and before version 30's.
    const fromV25 = await catalog().historyFrom(at(25));
    expect(fromV25.base?.committedAt).toBe(at(20).toISOString());
    expect(fromV25.base?.snapshot.version).toBe(20);
    // The state as of version 20 (commit i is version i + 1): p5 last put by i = 19, p6 by i = 13.
    expect(fromV25.base?.snapshot.tables.raw_events?.partitions.p5?.properties).toEqual({ records: 19 });
    expect(fromV25.base?.snapshot.tables.raw_events?.partitions.p6?.properties).toEqual({ records: 13 });
    expect(fromV25.commits).toEqual(history.slice(20));
    // Exactly at a checkpoint's commit time, that checkpoint is the base.
    expect((await catalog().historyFrom(at(30))).base?.snapshot.version).toBe(30);
    // Before the first checkpoint: the whole history, from the empty catalog.
    expect(await catalog().historyFrom(at(9))).toEqual({ commits: history });

    // A checkpoint written without its commit's time (an older catalog's) is passed over for an older one.
    const checkpoint = JSON.parse(await fs.readFile(checkpointFile(30), 'utf8'));
    delete checkpoint.committedAt;
    await fs.writeFile(checkpointFile(30), JSON.stringify(checkpoint));
    const fromV33 = await catalog().historyFrom(at(33));
    expect(fromV33.base?.snapshot.version).toBe(20);
    expect(fromV33.commits).toEqual(history.slice(20));
  });

  it('ignores a torn checkpoint, folds from the one before, and rewrites it', async () => {
    await commitMany(openCatalog({ checkpointInterval: 10 }), 25);
    const expected = await openCatalog().snapshot();
    const checkpoint = await fs.readFile(checkpointFile(20));
    await fs.writeFile(checkpointFile(20), checkpoint.subarray(0, checkpoint.length >> 1));

    expect(await openCatalog({ checkpointInterval: 10 }).snapshot()).toEqual(expected);
    expect(JSON.parse(await fs.readFile(checkpointFile(20), 'utf8'))).toMatchObject({ version: 20 });
  });

  it('is not affected by what a crash mid-commit leaves behind: a partial temporary file', async () => {
    const catalog = openCatalog();
    await catalog.commit(0, token('a'), [putPartition('p', 1)]);
    const before = await openCatalog().snapshot();
    await fs.mkdir(path.join(lake, '.tmp'), { recursive: true });
    await fs.writeFile(path.join(lake, '.tmp', 'crashed-commit'), '{"version":2,"token":{"execu');

    expect(await openCatalog().snapshot()).toEqual(before);
    await expect(openCatalog().commit(1, token('b'), [putPartition('p', 2)])).resolves.toMatchObject({ version: 2 });
    expect((await openCatalog().snapshot()).tables.raw_events!.partitions.p!.properties).toEqual({ records: 2 });
  });

  it('refuses to read a commit file that is not a commit rather than guess', async () => {
    await openCatalog().commit(0, token('a'), [putPartition('p', 1)]);
    await fs.writeFile(commitFile(2), '{"version":2,"tok');
    await expect(openCatalog().snapshot()).rejects.toThrow(CorruptCatalogError);
    await expect(openCatalog().snapshot()).rejects.toThrow(/00000000000000000002\.json/);
  });

  it('rejects a base version ahead of the log and malformed changes with InvalidInputError', async () => {
    const catalog = openCatalog();
    await expect(catalog.commit(3, token('a'), [putPartition('p', 1)])).rejects.toThrow(InvalidInputError);
    await expect(catalog.commit(-1, token('a'), [])).rejects.toThrow(InvalidInputError);
    await expect(catalog.commit(0, token(''), [])).rejects.toThrow(InvalidInputError);
    const unknown = { kind: 'renameTable', table: 'x' } as unknown as CatalogChange;
    await expect(catalog.commit(0, token('a'), [unknown])).rejects.toThrow(InvalidInputError);
    expect((await catalog.snapshot()).version).toBe(0);
  });

  it('passes storage failures on as port errors', async () => {
    const inner = new FsObjectStore(lake);
    const failing: ObjectStore = {
      list: (prefix) => inner.list(prefix),
      get: async () => {
        throw new TransientStorageError('disk unavailable');
      },
      put: (key, body) => inner.put(key, body),
      putIfAbsent: (key, body) => inner.putIfAbsent(key, body),
      delete: (key) => inner.delete(key),
      exists: (key) => inner.exists(key),
      locate: (key) => inner.locate(key),
      putFile: (key, localPath) => inner.putFile(key, localPath),
      scratchDir: inner.scratchDir,
    };
    await expect(new FsCatalog(failing).snapshot()).rejects.toThrow(TransientStorageError);
  });
});
