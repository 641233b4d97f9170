import { mkdtempSync, readdirSync } from 'node:fs';
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
});
