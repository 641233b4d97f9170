import { mkdtempSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { InvalidInputError, NotFoundError } from '../../../tasks/ports/errors';

async function keysUnder(store: FsObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

describe('FsObjectStore', () => {
  let root: string;
  let store: FsObjectStore;

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    store = new FsObjectStore(root);
  });

  it('reads back what it wrote and replaces a body whole', async () => {
    await store.put('raw/2021/07/12/05/a.gz', 'first');
    await store.put('raw/2021/07/12/05/a.gz', Buffer.from('second'));
    expect((await store.get('raw/2021/07/12/05/a.gz')).toString()).toBe('second');
  });

  it('lists keys under a prefix in ascending order, including prefixes that end inside a name', async () => {
    for (const key of ['raw/2021/07/12/10/b', 'raw/2021/07/12/05/z', 'raw/2021/07/12/05/a', 'raw/2021/07/13/00/c', 'dims/users.jsonl']) {
      await store.put(key, key);
    }
    expect(await keysUnder(store, 'raw/2021/07/12/')).toEqual(['raw/2021/07/12/05/a', 'raw/2021/07/12/05/z', 'raw/2021/07/12/10/b']);
    expect(await keysUnder(store, 'raw/2021/07/1')).toHaveLength(4);
    expect(await keysUnder(store, 'nothing/')).toEqual([]);
    expect(await keysUnder(store, '')).toContain('dims/users.jsonl');
  });

  it('creates with putIfAbsent only once, and leaves no temporary files behind', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.putIfAbsent('_catalog/commits/1.json', `writer ${i}`)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect((await store.get('_catalog/commits/1.json')).toString()).toBe(`writer ${winner}`);
    expect(readdirSync(path.join(root, '.tmp'))).toEqual([]);
    expect(await keysUnder(store, '')).toEqual(['_catalog/commits/1.json']);
  });

  it('turns a missing key into NotFoundError and refuses keys that escape the lake', async () => {
    await expect(store.get('raw/none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.put('../outside', 'x')).rejects.toBeInstanceOf(InvalidInputError);
    expect(() => store.locate('/etc/passwd')).toThrow(InvalidInputError);
    expect(await store.exists('raw/none')).toBe(false);
  });

  it('deletes, and deleting a missing key is not an error', async () => {
    await store.put('a/b', 'x');
    await store.delete('a/b');
    await store.delete('a/b');
    expect(await store.exists('a/b')).toBe(false);
  });
});

describe('FsObjectStore.putFile', () => {
  it('moves a finished scratch file under its key', async () => {
    const store = new FsObjectStore(mkdtempSync(path.join(os.tmpdir(), 'fs-store-')));
    const { mkdirSync, writeFileSync, existsSync } = await import('node:fs');
    mkdirSync(store.scratchDir, { recursive: true });
    const scratch = path.join(store.scratchDir, 'part.parquet');
    writeFileSync(scratch, 'parquet bytes');
    await store.putFile('curated/events/dt=2021-07-12/hr=05/part.parquet', scratch);
    expect((await store.get('curated/events/dt=2021-07-12/hr=05/part.parquet')).toString()).toBe('parquet bytes');
    expect(existsSync(scratch)).toBe(false);
    await expect(store.putFile('x/y', path.join(store.scratchDir, 'missing'))).rejects.toThrow(/x\/y/);
  });
});
