import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError, NotFoundError } from '../../../tasks/ports/errors';
import type { ObjectStore } from '../../../tasks/ports/object-store';

export interface ObjectStoreContractOptions {
  /** False where the backend ignores `If-None-Match: *` on PUT (s3rver does; S3 honours it). */
  readonly refusesExistingKeys: boolean;
}

export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

/** What every ObjectStore adapter does alike; `open` gives a store over an empty lake for each case. */
export function objectStoreContract(open: () => ObjectStore | Promise<ObjectStore>, options: ObjectStoreContractOptions): void {
  let store: ObjectStore;

  beforeEach(async () => {
    store = await open();
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

  it('creates an absent key with putIfAbsent', async () => {
    expect(await store.putIfAbsent('_catalog/commits/1.json', 'first')).toBe(true);
    expect((await store.get('_catalog/commits/1.json')).toString()).toBe('first');
  });

  (options.refusesExistingKeys ? it : it.skip)('refuses putIfAbsent of an existing key and keeps its body', async () => {
    await store.putIfAbsent('_catalog/commits/1.json', 'first');
    expect(await store.putIfAbsent('_catalog/commits/1.json', 'second')).toBe(false);
    expect((await store.get('_catalog/commits/1.json')).toString()).toBe('first');
  });

  it('turns a missing key into NotFoundError and refuses keys that escape the lake', async () => {
    await expect(store.get('raw/none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.put('../outside', 'x')).rejects.toBeInstanceOf(InvalidInputError);
    expect(() => store.locate('/etc/passwd')).toThrow(InvalidInputError);
    expect(await store.exists('raw/none')).toBe(false);
  });

  it('deletes, and deleting a missing key is not an error', async () => {
    await store.put('a/b', 'x');
    expect(await store.exists('a/b')).toBe(true);
    await store.delete('a/b');
    await store.delete('a/b');
    expect(await store.exists('a/b')).toBe(false);
  });

  it('moves a finished scratch file under its key', async () => {
    mkdirSync(store.scratchDir, { recursive: true });
    const scratch = path.join(store.scratchDir, 'part.parquet');
    writeFileSync(scratch, 'parquet bytes');
    await store.putFile('curated/events/dt=2021-07-12/hr=05/part.parquet', scratch);
    expect((await store.get('curated/events/dt=2021-07-12/hr=05/part.parquet')).toString()).toBe('parquet bytes');
    expect(existsSync(scratch)).toBe(false);
    await expect(store.putFile('x/y', path.join(store.scratchDir, 'missing'))).rejects.toThrow(/x\/y/);
  });
}
