import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { keysUnder, objectStoreContract } from './object-store-contract';

describe('FsObjectStore', () => {
  objectStoreContract(() => new FsObjectStore(mkdtempSync(path.join(os.tmpdir(), 'fs-store-'))), { refusesExistingKeys: true });

  it('creates with putIfAbsent only once under concurrency, and leaves no temporary files behind', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    const store = new FsObjectStore(root);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.putIfAbsent('_catalog/commits/1.json', `writer ${i}`)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect((await store.get('_catalog/commits/1.json')).toString()).toBe(`writer ${winner}`);
    expect(readdirSync(path.join(root, '.tmp'))).toEqual([]);
    expect(await keysUnder(store, '')).toEqual(['_catalog/commits/1.json']);
  });

  it('removes the directories a delete empties, up to the first that still holds something', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    const store = new FsObjectStore(root);
    await store.put('curated/events/dt=2021-07-12/hr=09/v-1/a.parquet', 'a');
    await store.put('curated/events/dt=2021-07-12/hr=09/v-2/b.parquet', 'b');
    await store.delete('curated/events/dt=2021-07-12/hr=09/v-1/a.parquet');
    expect(existsSync(path.join(root, 'curated/events/dt=2021-07-12/hr=09/v-1'))).toBe(false);
    expect(readdirSync(path.join(root, 'curated/events/dt=2021-07-12/hr=09'))).toEqual(['v-2']);
    await store.delete('curated/events/dt=2021-07-12/hr=09/v-2/b.parquet');
    expect(readdirSync(root)).toEqual(['.tmp']);
    await store.delete('curated/events/dt=2021-07-12/hr=09/v-2/b.parquet');
    expect(existsSync(root)).toBe(true);
  });

  it('keeps every put when deletes empty the same directory meanwhile', async () => {
    const store = new FsObjectStore(mkdtempSync(path.join(os.tmpdir(), 'fs-store-')));
    const dir = 'rejects/arrival_hour=2021-07-12T09/';
    let writing = true;
    // Empties the directory over and over, so that deletes remove it between puts' mkdir and rename.
    const churn = async (name: string) => {
      for (let i = 0; writing; i++) {
        await store.put(`${dir}${name}-${i}`, 'c');
        await store.delete(`${dir}${name}-${i}`);
      }
    };
    const keys = Array.from({ length: 300 }, (_, i) => `${dir}part-${String(i).padStart(3, '0')}.jsonl`);
    const read: string[] = [];
    const write = async () => {
      try {
        for (const [i, key] of keys.entries()) {
          await (i % 2 === 0 ? store.put(key, String(i)) : store.putIfAbsent(key, String(i)));
          read.push((await store.get(key)).toString());
          await store.delete(key);
        }
      } finally {
        writing = false;
      }
    };
    // Settled, not all: a failed put must not end the test while the churners still write.
    for (const outcome of await Promise.allSettled([write(), churn('a'), churn('b')])) if (outcome.status === 'rejected') throw outcome.reason;
    expect(read).toEqual(keys.map((_, i) => String(i)));
  });
});
