import * as path from 'node:path';
import { FsCatalog } from '../adapters/local/fs-catalog';
import { FsObjectStore } from '../adapters/local/fs-object-store';
import { LocalDynamoDb } from '../adapters/local/local-dynamodb';
import { StreamLog } from '../adapters/local/stream-log';
import type { Catalog } from '../ports/catalog';
import type { ObjectStore } from '../ports/object-store';
import { PRICE_SIGNALS_TABLE } from '../tables/definitions';

/** The price_signals stream of the embedded default: its records, checkpoint and dead letters. */
export const PRICE_SIGNALS_STREAM_PREFIX = '_streams/price_signals/';

/** The ports of the embedded default, all rooted in one lake directory. */
export interface LocalPorts {
  readonly lake: string;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  /** The operational tables, served from `<lake>/_dynamodb/` while in use. */
  readonly tables: LocalDynamoDb;
  /** The change stream of price_signals, which the signals step writes ahead of its puts. */
  readonly priceSignalsStream: StreamLog;
}

export function createLocalPorts(lake: string): LocalPorts {
  const root = path.resolve(lake);
  const store = new FsObjectStore(root);
  return {
    lake: root,
    store,
    catalog: new FsCatalog(store),
    tables: new LocalDynamoDb(root),
    priceSignalsStream: new StreamLog(store, { tableName: PRICE_SIGNALS_TABLE.name, prefix: PRICE_SIGNALS_STREAM_PREFIX }),
  };
}
