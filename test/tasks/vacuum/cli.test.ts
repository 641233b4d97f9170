import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { registerVacuum } from '../../../cli/commands/vacuum';
import { FsCatalog } from '../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { CLICK_INDEX_PREFIX, CLICK_INDEX_TABLE, EVENTS_TABLE, initialLocation } from '../../../tasks/curated/layout';

const P5 = 'dt=2021-07-12/hr=05';
const LONG_AGO = new Date('2021-07-12T00:00:00Z');

let lake: string;
let stdout: string[];
let stderr: string[];

beforeEach(async () => {
  lake = await fs.mkdtemp(path.join(os.tmpdir(), 'vacuum-cli-'));
  stdout = [];
  stderr = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
  jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => stderr.push(String(chunk)) > 0);
});

afterEach(async () => {
  jest.restoreAllMocks();
  process.exitCode = undefined;
  await fs.rm(lake, { recursive: true, force: true });
});

async function lakehouse(...args: string[]): Promise<void> {
  const program = new Command('lakehouse').exitOverride();
  registerVacuum(program);
  await program.parseAsync(['node', 'lakehouse', ...args]);
}

/** A partition replaced long ago: its first file is no longer live, its second is. */
async function replacedPartition(): Promise<{ dropped: string; live: string }> {
  const store = new FsObjectStore(lake);
  const catalog = new FsCatalog(store, '_catalog/', { now: () => LONG_AGO });
  const dropped = `${initialLocation(P5)}part-00000.parquet`;
  const live = `${initialLocation(P5)}part-00001.parquet`;
  for (const key of [dropped, live]) {
    await store.put(key, 'parquet bytes');
    await fs.utimes(store.locate(key), LONG_AGO, LONG_AGO);
  }
  const token = (n: number) => ({ executionId: `e-${n}`, hour: '2021-07-12T05', step: 'merge' });
  const put = (key: string) => ({ kind: 'putPartition' as const, table: EVENTS_TABLE, partition: P5, location: initialLocation(P5), files: [{ key, size: 13 }], properties: {} });
  await catalog.commit(0, token(1), [put(dropped)]);
  await catalog.commit(1, token(2), [put(live)]);
  return { dropped, live };
}

describe('lakehouse vacuum', () => {
  it('deletes files dropped longer ago than the retention and prints a one-line summary', async () => {
    const { dropped, live } = await replacedPartition();

    await lakehouse('vacuum', '--lake', lake, '--dry-run');
    expect(stdout.join('')).toMatch(/^vacuum \(dry run\): would delete 1 file \(13 B\) not live since .* \(retention 72 h\)\n$/);
    await lakehouse('vacuum', '--lake', lake);

    expect(stdout[1]).toMatch(/^vacuum: deleted 1 file \(13 B\) not live since \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z \(retention 72 h\)\n$/);
    await expect(fs.access(path.join(lake, dropped))).rejects.toThrow();
    await expect(fs.access(path.join(lake, live))).resolves.toBeUndefined();
    expect(process.exitCode).toBeUndefined();
  });

  it("takes the lake's vacuum settings unless the command line gives a retention, and says when it trimmed the click index", async () => {
    const { dropped } = await replacedPartition();
    const store = new FsObjectStore(lake);
    const catalog = new FsCatalog(store, '_catalog/', { now: () => LONG_AGO });
    const indexFile = { key: `${CLICK_INDEX_PREFIX}arrival_hour=2021-07-12T05/e-3.parquet`, size: 5 };
    await store.put(indexFile.key, 'index');
    await catalog.commit(2, { executionId: 'e-3', hour: '2021-07-12T05', step: 'merge' }, [
      { kind: 'putPartition', table: CLICK_INDEX_TABLE, partition: '2021-07-12T05', location: `${CLICK_INDEX_PREFIX}arrival_hour=2021-07-12T05/`, files: [indexFile], properties: {} },
    ]);
    await fs.writeFile(path.join(lake, 'lakehouse.json'), JSON.stringify({ vacuum: { retentionHours: 100, clickIndexRetentionHours: 72 } }));

    await lakehouse('vacuum', '--lake', lake, '--dry-run');
    await lakehouse('vacuum', '--lake', lake, '--retention-hours', '80');

    expect(stdout[0]).toMatch(/^vacuum \(dry run\): would delete 1 file \(13 B\) not live since .* \(retention 100 h\); would trim the click index of 1 arrival hour\n$/);
    expect(stdout[1]).toMatch(/^vacuum: deleted 1 file \(13 B\) not live since .* \(retention 80 h\); trimmed the click index of 1 arrival hour\n$/);
    await expect(fs.access(path.join(lake, dropped))).rejects.toThrow();
    // Dropped from the catalog just now: kept for the retention.
    await expect(fs.access(path.join(lake, indexFile.key))).resolves.toBeUndefined();
  });

  it('refuses a retention shorter than the minimum with one line naming it', async () => {
    const { dropped } = await replacedPartition();

    await lakehouse('vacuum', '--lake', lake, '--retention-hours', '0.5');

    expect(stderr.join('')).toMatch(/^lakehouse vacuum: retention 0\.5 h is shorter than the minimum of 1\.25 h.*\n$/);
    expect(process.exitCode).toBe(1);
    await expect(fs.access(path.join(lake, dropped))).resolves.toBeUndefined();
  });

  it('rejects a retention that is not a positive number, and a missing lake', async () => {
    await lakehouse('vacuum', '--lake', lake, '--retention-hours', 'three');
    await lakehouse('vacuum', '--lake', path.join(lake, 'nope'));

    expect(stderr[0]).toBe('lakehouse vacuum: --retention-hours must be a positive number, got "three"\n');
    expect(stderr[1]).toMatch(/^lakehouse vacuum: lake directory .*nope does not exist/);
  });
});
