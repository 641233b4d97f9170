import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { FsCatalog } from '../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { runCompaction } from '../../../tasks/compact/run';
import { CLICK_INDEX_PREFIX, CLICK_INDEX_TABLE, EVENTS_TABLE, REJECTS_TABLE, compactedLocation, deltaFileKey, initialLocation, type CuratedFile } from '../../../tasks/curated/layout';
import type { DataFile } from '../../../tasks/ports/catalog';
import { InvalidInputError } from '../../../tasks/ports/errors';
import { createVacuumHandler } from '../../../tasks/vacuum/handler';
import { MINIMUM_CLICK_INDEX_RETENTION_HOURS, minimumRetentionHours, runVacuum, type VacuumPorts } from '../../../tasks/vacuum/run';
import { keysUnder, putEventsPartition, writeCuratedFile } from '../compact/curated-fixtures';

const P5 = 'dt=2021-07-12/hr=05';
const P6 = 'dt=2021-07-12/hr=06';
const T0 = Date.parse('2021-07-12T00:00:00Z');
const HOUR = 3_600_000;
/** The instant `hours` after T0. */
const at = (hours: number) => new Date(T0 + hours * HOUR);

let lake: string;
let store: FsObjectStore;
let catalog: FsCatalog;
let clock: Date;
let ports: VacuumPorts;

beforeEach(async () => {
  lake = await fs.mkdtemp(path.join(os.tmpdir(), 'vacuum-'));
  store = new FsObjectStore(lake);
  clock = at(0);
  catalog = new FsCatalog(store, '_catalog/', { now: () => clock });
  ports = { store, catalog };
});

afterEach(async () => {
  await fs.rm(lake, { recursive: true, force: true });
});

/** Writes an object as if written at `when` (its lastModified). */
async function writeObject(key: string, when: Date, body = `body of ${key}`): Promise<DataFile> {
  await store.put(key, body);
  await fs.utimes(store.locate(key), when, when);
  return { key, size: Buffer.byteLength(body) };
}

/** Commits partition `partition` of `table` as exactly `files`, at `when`. */
async function commitPartition(when: Date, partition: string, files: readonly DataFile[], table = EVENTS_TABLE): Promise<void> {
  clock = when;
  const snapshot = await catalog.snapshot();
  await catalog.commit(snapshot.version, { executionId: `exec-${snapshot.version + 1}`, hour: '2021-07-12T05', step: 'merge' }, [
    { kind: 'putPartition', table, partition, location: initialLocation(partition), files, properties: {} },
  ]);
}

function vacuum(nowHours: number, retentionHours?: number, dryRun = false) {
  return runVacuum({ executionId: 'vacuum-1', ...(retentionHours === undefined ? {} : { retentionHours }) }, ports, { now: () => at(nowHours), dryRun });
}

/**
 * A partition whose first version (three files written at hour 0) a compaction replaced at hour 1,
 * plus an orphan from a writer that crashed at hour 0 and one from a writer that crashed at hour 3.
 */
async function buildHistory() {
  const old = [
    await writeObject(`${initialLocation(P5)}part-00000.parquet`, at(0)),
    await writeObject(deltaFileKey(initialLocation(P5), 'a'), at(0)),
    await writeObject(deltaFileKey(initialLocation(P5), 'b'), at(0)),
  ];
  await commitPartition(at(0), P5, old);
  const compacted = await writeObject(`${compactedLocation(P5, 'c')}part-00000.parquet`, at(1));
  await commitPartition(at(1), P5, [compacted]);
  const oldOrphan = await writeObject(deltaFileKey(initialLocation(P6), 'crashed-early'), at(0));
  const youngOrphan = await writeObject(deltaFileKey(initialLocation(P6), 'crashed-late'), at(3));
  return { old, compacted, oldOrphan, youngOrphan };
}

describe('runVacuum', () => {
  it('keeps dropped files until they have not been live for the whole retention, then deletes them', async () => {
    const { old, compacted } = await buildHistory();

    const early = await vacuum(72.5); // the cutoff, hour 0.5, is before the compaction dropped them at hour 1
    for (const file of old) expect(await store.exists(file.key)).toBe(true);

    const late = await vacuum(73.5); // cutoff at hour 1.5
    for (const file of old) expect(await store.exists(file.key)).toBe(false);
    expect(await store.exists(compacted.key)).toBe(true);
    expect(early).toMatchObject({ filesDeleted: 1, retentionHours: 72, cutoff: '2021-07-12T00:30:00.000Z', dryRun: false });
    expect(late).toMatchObject({ filesDeleted: 3, bytesDeleted: old.reduce((sum, file) => sum + file.size, 0), retentionHours: 72 });
  });

  it('never deletes a file of the current snapshot, however old', async () => {
    const live = await writeObject(`${initialLocation(P6)}part-00000.parquet`, at(0));
    await commitPartition(at(0), P6, [live]);

    const result = await vacuum(10_000);

    expect(result.filesDeleted).toBe(0);
    expect(await store.exists(live.key)).toBe(true);
  });

  it('deletes orphans that no commit ever named once they are older than the retention', async () => {
    const { oldOrphan, youngOrphan } = await buildHistory();

    await vacuum(74); // cutoff at hour 2

    expect(await store.exists(oldOrphan.key)).toBe(false);
    expect(await store.exists(youngOrphan.key)).toBe(true);
    await vacuum(75.5);
    expect(await store.exists(youngOrphan.key)).toBe(false);
  });

  it('counts a file as live until the last commit that dropped it', async () => {
    const file = await writeObject(`${initialLocation(P5)}part-00000.parquet`, at(0));
    await commitPartition(at(0), P5, [file]);
    await commitPartition(at(1), P5, []);
    await commitPartition(at(2), P5, [file]); // named again, e.g. by a repair
    await commitPartition(at(50), P5, []);

    await vacuum(100); // cutoff at hour 28: the last drop, at hour 50, is within the retention
    expect(await store.exists(file.key)).toBe(true);
    await vacuum(123);
    expect(await store.exists(file.key)).toBe(false);
  });

  it('dates a commit no earlier than the commit before it, whatever its writer\'s clock says', async () => {
    const file = await writeObject(`${initialLocation(P5)}part-00000.parquet`, at(0));
    await commitPartition(at(0), P5, [file]);
    await commitPartition(at(50), P6, []);
    await commitPartition(at(10), P5, []); // a writer whose clock is 40 hours behind

    await vacuum(100); // cutoff at hour 28: the drop came after the commit at hour 50
    expect(await store.exists(file.key)).toBe(true);
    await vacuum(123);
    expect(await store.exists(file.key)).toBe(false);
  });

  it('treats a dropped partition like a replaced one', async () => {
    const file = await writeObject(`${initialLocation(P5)}part-00000.parquet`, at(0));
    await commitPartition(at(0), P5, [file]);
    clock = at(10);
    const snapshot = await catalog.snapshot();
    await catalog.commit(snapshot.version, { executionId: 'drop', hour: '2021-07-12T05', step: 'drop' }, [{ kind: 'dropPartition', table: EVENTS_TABLE, partition: P5 }]);

    await vacuum(81);
    expect(await store.exists(file.key)).toBe(true);
    await vacuum(83);
    expect(await store.exists(file.key)).toBe(false);
  });

  it('is idempotent', async () => {
    await buildHistory();
    const first = await vacuum(100);
    const keys = await keysUnder(store, '');

    const second = await vacuum(100);

    expect(first.filesDeleted).toBe(5);
    expect(second).toMatchObject({ filesDeleted: 0, bytesDeleted: 0 });
    expect(await keysUnder(store, '')).toEqual(keys);
  });

  it('deletes nothing in a dry run but counts what it would delete', async () => {
    await buildHistory();
    const keys = await keysUnder(store, '');

    const result = await vacuum(100, undefined, true);

    expect(result).toMatchObject({ filesDeleted: 5, dryRun: true });
    expect(await keysUnder(store, '')).toEqual(keys);
  });

  it('leaves raw objects, the catalog and prefixes whose table the catalog does not know alone', async () => {
    await buildHistory();
    const raw = await writeObject('raw/2021/07/12/00/events-1-2021-07-12-00-00-00-x.gz', at(0));
    const reject = await writeObject('rejects/arrival_hour=2021-07-12T00/events-1.jsonl', at(0));
    const catalogKeys = await keysUnder(store, '_catalog/');

    await vacuum(1000);
    expect(await store.exists(raw.key)).toBe(true);
    expect(await store.exists(reject.key)).toBe(true); // no rejects table: the catalog does not name these files
    expect(await keysUnder(store, '_catalog/')).toEqual(catalogKeys);

    const liveReject = await writeObject('rejects/arrival_hour=2021-07-12T01/events-2.jsonl', at(0));
    await commitPartition(at(0), '2021-07-12T01', [liveReject], REJECTS_TABLE);
    await vacuum(1000);
    expect(await store.exists(reject.key)).toBe(false);
    expect(await store.exists(liveReject.key)).toBe(true);
  });

  it('refuses a retention shorter than the longest task plus the longest query', async () => {
    await buildHistory();
    const keys = await keysUnder(store, '');

    await expect(vacuum(100, 1)).rejects.toThrow(InvalidInputError);
    await expect(vacuum(100, 1)).rejects.toThrow(/minimum of 1\.25 h/);
    await expect(
      runVacuum({ executionId: 'v', retentionHours: 2 }, ports, { now: () => at(100), maxTaskMinutes: 15, maxQueryMinutes: 120 }),
    ).rejects.toMatchObject({ name: 'InvalidInputError', message: expect.stringContaining('2.25 h') });
    expect(await keysUnder(store, '')).toEqual(keys);

    expect(minimumRetentionHours()).toBe(1.25);
    await expect(vacuum(100, 1.25)).resolves.toMatchObject({ retentionHours: 1.25 });
  });
});

describe('runVacuum on the click index', () => {
  /** Commits the index partition of arrival hour `hour` as one file, its entries written at `indexedAt` (none recorded when undefined). */
  async function indexHour(hour: string, indexedAt: Date | undefined): Promise<DataFile> {
    const file = await writeObject(`${CLICK_INDEX_PREFIX}arrival_hour=${hour}/exec.parquet`, indexedAt ?? at(0));
    clock = indexedAt ?? at(0);
    const snapshot = await catalog.snapshot();
    await catalog.commit(snapshot.version, { executionId: `exec-${snapshot.version + 1}`, hour, step: 'merge' }, [
      {
        kind: 'putPartition',
        table: CLICK_INDEX_TABLE,
        partition: hour,
        location: `${CLICK_INDEX_PREFIX}arrival_hour=${hour}/`,
        files: [file],
        properties: { hashChecks: { [file.key]: '42' }, ...(indexedAt === undefined ? {} : { indexedAt: indexedAt.toISOString() }) },
      },
    ]);
    return file;
  }

  function vacuumIndex(nowHours: number, executionId: string, dryRun = false) {
    clock = at(nowHours);
    return runVacuum({ executionId, hour: '2021-07-15T00' }, ports, { now: () => at(nowHours), dryRun, clickIndexRetentionHours: 72 });
  }

  it('trims an arrival hour once it ended and its entries were written more than the retention ago, and deletes its files after the file retention', async () => {
    const written = await indexHour('2021-07-12T00', at(1));
    const rerun = await indexHour('2021-07-12T01', at(30));
    const unrecorded = await indexHour('2021-07-12T02', undefined);

    // At hour 74 only 00 is past: 02 records no time, and its arrival hour ended at hour 3.
    expect((await vacuumIndex(74, 'v-1', true)).clickIndexHoursTrimmed).toBe(1);
    expect((await catalog.snapshot()).tables[CLICK_INDEX_TABLE]!.partitions['2021-07-12T00']!.files).toEqual([written]);

    const result = await vacuumIndex(76, 'v-2');
    expect(result).toMatchObject({ clickIndexHoursTrimmed: 2, filesDeleted: 0 });
    const partitions = (await catalog.snapshot()).tables[CLICK_INDEX_TABLE]!.partitions;
    expect(partitions['2021-07-12T00']).toMatchObject({ files: [], properties: { indexedAt: at(1).toISOString(), trimmedAt: at(76).toISOString() } });
    expect(partitions['2021-07-12T00']!.properties).not.toHaveProperty('hashChecks');
    expect(partitions['2021-07-12T02']).toMatchObject({ files: [], properties: { trimmedAt: at(76).toISOString() } });
    expect(partitions['2021-07-12T01']!.files).toEqual([rerun]);

    // A retry of the same execution reports its commit; another vacuum finds nothing more to trim.
    expect((await vacuumIndex(76, 'v-2')).clickIndexHoursTrimmed).toBe(2);
    expect((await vacuumIndex(77, 'v-3')).clickIndexHoursTrimmed).toBe(0);
    expect(await keysUnder(store, CLICK_INDEX_PREFIX)).toEqual([written.key, rerun.key, unrecorded.key].sort());

    const later = await vacuumIndex(76 + 73, 'v-4');
    expect(later).toMatchObject({ clickIndexHoursTrimmed: 1, filesDeleted: 2 });
    expect(await keysUnder(store, CLICK_INDEX_PREFIX)).toEqual([rerun.key]);
  });

  it('refuses a click index retention shorter than normal runs read the index back', async () => {
    await indexHour('2021-07-12T00', at(1));
    const short = runVacuum({ executionId: 'v-1' }, ports, { now: () => at(200), clickIndexRetentionHours: MINIMUM_CLICK_INDEX_RETENTION_HOURS - 1 });
    await expect(short).rejects.toThrow(InvalidInputError);
    await expect(short).rejects.toThrow(/^click index retention 71 h is shorter than the minimum of 72 h/);
    expect((await catalog.snapshot()).tables[CLICK_INDEX_TABLE]!.partitions['2021-07-12T00']!.files).toHaveLength(1);
  });
});

describe('createVacuumHandler', () => {
  it('rejects malformed input with InvalidInputError', async () => {
    const handler = createVacuumHandler(ports);
    await expect(handler({})).rejects.toThrow(InvalidInputError);
    await expect(handler({ executionId: 'x', retentionHours: -3 })).rejects.toThrow(/retentionHours/);
    await expect(handler({ executionId: 'x', hour: '2021-07-12 05' })).rejects.toMatchObject({ name: 'InvalidInputError' });
  });

  it('uses the retention from its settings unless the input gives one', async () => {
    const handler = createVacuumHandler(ports, { now: () => at(100), retentionHours: 24 });
    await expect(handler({ executionId: 'x', hour: '2021-07-12T05' })).resolves.toMatchObject({ retentionHours: 24 });
    await expect(handler({ executionId: 'x', retentionHours: 48 })).resolves.toMatchObject({ retentionHours: 48 });
  });
});

describe('compaction then vacuum', () => {
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

  it('removes the replaced version only after the retention, and the catalog still reads every row', async () => {
    const realCatalog = new FsCatalog(store);
    const location = initialLocation(P5);
    const before: CuratedFile[] = [];
    for (const tag of ['a', 'b', 'c', 'd']) before.push(await writeCuratedFile(db, store, P5, deltaFileKey(location, tag), { tag, rows: 100 }));
    await putEventsPartition(realCatalog, P5, location, before);
    await runCompaction({ executionId: 'hourly-1', hour: '2021-07-12T08', partitions: [P5] }, { store, catalog: realCatalog });
    const now = Date.now();
    const livePorts = { store, catalog: realCatalog };

    const soon = await runVacuum({ executionId: 'v1' }, livePorts, { now: () => new Date(now + 71 * HOUR) });
    const later = await runVacuum({ executionId: 'v2' }, livePorts, { now: () => new Date(now + 73 * HOUR) });

    expect(soon.filesDeleted).toBe(0);
    expect(later.filesDeleted).toBe(4);
    for (const file of before) expect(await store.exists(file.key)).toBe(false);
    const after = (await realCatalog.snapshot()).tables.events!.partitions[P5]!.files.map((file) => file.key);
    expect(await keysUnder(store, 'curated/')).toEqual(after);
    const expected = `SELECT count(*) AS n FROM read_parquet([${after.map((key) => `'${store.locate(key)}'`).join(', ')}], hive_partitioning = false)`;
    expect(Number((await db.runAndReadAll(expected)).getRowObjectsJson()[0]!.n)).toBe(400);
  });
});

describe('runVacuum on scratch space', () => {
  it('removes what dead tasks left in scratch, but not what a running task may still use', async () => {
    await fs.mkdir(path.join(store.scratchDir, 'duckdb-spill'), { recursive: true });
    const stale = [path.join(store.scratchDir, 'stage-dead.ndjson'), path.join(store.scratchDir, 'duckdb-spill')];
    const fresh = path.join(store.scratchDir, 'stage-running.ndjson');
    await fs.writeFile(stale[0]!, 'staged rows');
    await fs.writeFile(fresh, 'staged rows');
    for (const entry of stale) await fs.utimes(entry, at(10), at(10));
    await fs.utimes(fresh, at(99.9), at(99.9));

    expect(await vacuum(100, undefined, true)).toMatchObject({ scratchEntriesDeleted: 2 });
    expect((await fs.readdir(store.scratchDir)).sort()).toEqual(['duckdb-spill', 'stage-dead.ndjson', 'stage-running.ndjson']);
    expect(await vacuum(100)).toMatchObject({ scratchEntriesDeleted: 2 });
    expect(await fs.readdir(store.scratchDir)).toEqual(['stage-running.ndjson']);
  });
});
