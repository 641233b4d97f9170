import * as path from 'node:path';
import { FsCatalog } from '../adapters/local/fs-catalog';
import { FsObjectStore } from '../adapters/local/fs-object-store';
import type { Catalog } from '../ports/catalog';
import type { ObjectStore } from '../ports/object-store';

/** The ports of the embedded default, all rooted in one lake directory. */
export interface LocalPorts {
  readonly lake: string;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
}

export function createLocalPorts(lake: string): LocalPorts {
  const root = path.resolve(lake);
  const store = new FsObjectStore(root);
  return { lake: root, store, catalog: new FsCatalog(store) };
}
