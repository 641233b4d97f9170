import type { DuckDBConnection } from '@duckdb/node-api';
import type { ObjectStore } from '../ports/object-store';

/** Lets the database of `connection` read the locations `store` gives (see ObjectStore.duckdbSetup). */
export async function prepareDuckDbFor(store: ObjectStore, connection: DuckDBConnection): Promise<void> {
  for (const statement of store.duckdbSetup?.() ?? []) await connection.run(statement);
}
