import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsCatalog } from '../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import type { CatalogChange, CatalogSnapshot, CommitToken } from '../../../tasks/ports/catalog';
import { CommitConflictError, TransientStorageError } from '../../../tasks/ports/errors';
import { commitWithRetry } from '../../../tasks/shared/commit-with-retry';

let lake: string;

beforeEach(async () => {
  lake = await fs.mkdtemp(path.join(os.tmpdir(), 'commit-with-retry-'));
});

afterEach(async () => {
  await fs.rm(lake, { recursive: true, force: true });
});

function openCatalog(): FsCatalog {
  return new FsCatalog(new FsObjectStore(lake));
}

const TOKEN: CommitToken = { executionId: 'exec-1', hour: '2021-07-12T05', step: 'merge' };

/** Adds one to a counter property of partition `p`: a change that is only right when built on the latest state. */
function increment(snapshot: CatalogSnapshot): CatalogChange[] {
  const count = Number(snapshot.tables.t?.partitions.p?.properties.count ?? 0);
  return [{ kind: 'putPartition', table: 't', partition: 'p', location: 'x/', files: [], properties: { count: count + 1 } }];
}

describe('commitWithRetry', () => {
  it('commits the changes built from the latest snapshot', async () => {
    const catalog = openCatalog();
    const record = await commitWithRetry(catalog, TOKEN, increment);
    expect(record).toMatchObject({ version: 1, token: TOKEN });
    expect((await catalog.snapshot()).tables.t!.partitions.p!.properties).toEqual({ count: 1 });
  });

  it('returns the commit already made with the token instead of applying the changes twice', async () => {
    const catalog = openCatalog();
    const first = await commitWithRetry(catalog, TOKEN, increment);
    const build = jest.fn(increment);
    const retried = await commitWithRetry(openCatalog(), TOKEN, build);
    expect(retried).toEqual(first);
    expect(build).not.toHaveBeenCalled();
    expect((await catalog.snapshot()).version).toBe(1);
  });

  it('rebuilds against what another writer committed meanwhile, then commits', async () => {
    const catalog = openCatalog();
    const seen: number[] = [];
    const record = await commitWithRetry(catalog, TOKEN, async (snapshot) => {
      seen.push(snapshot.version);
      // Another writer commits between this build's read and its commit, once.
      if (seen.length === 1) await openCatalog().commit(snapshot.version, { ...TOKEN, executionId: 'other' }, increment(snapshot));
      return increment(snapshot);
    });
    expect(seen).toEqual([0, 1]);
    expect(record).toMatchObject({ version: 2 });
    expect((await catalog.snapshot()).tables.t!.partitions.p!.properties).toEqual({ count: 2 });
  });

  it('makes no commit when the build finds nothing to change', async () => {
    const catalog = openCatalog();
    expect(await commitWithRetry(catalog, TOKEN, () => [])).toBeUndefined();
    expect((await catalog.snapshot()).version).toBe(0);
  });

  it('gives up with CommitConflictError after the given number of attempts', async () => {
    const catalog = openCatalog();
    let builds = 0;
    const attempt = commitWithRetry(
      catalog,
      TOKEN,
      async (snapshot) => {
        builds += 1;
        await openCatalog().commit(snapshot.version, { ...TOKEN, executionId: `other-${builds}` }, increment(snapshot));
        return increment(snapshot);
      },
      { attempts: 3 },
    );
    await expect(attempt).rejects.toThrow(CommitConflictError);
    await expect(attempt).rejects.toThrow(/merge of hour 2021-07-12T05 \(execution exec-1\).*3 attempts/);
    expect(builds).toBe(3);
  });

  it('passes other errors on without retrying', async () => {
    const build = jest.fn(() => {
      throw new TransientStorageError('disk full');
    });
    await expect(commitWithRetry(openCatalog(), TOKEN, build)).rejects.toThrow(TransientStorageError);
    expect(build).toHaveBeenCalledTimes(1);
  });
});
