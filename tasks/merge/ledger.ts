import type { CatalogSnapshot, DataFile } from '../ports/catalog';
import type { ObjectStore } from '../ports/object-store';
import { RAW_LEDGER_TABLE } from '../curated/layout';
import { addHours, rawPrefix, type Hour } from '../shared/hours';

/** How far back Firehose may still deliver into an arrival-hour prefix after that hour ended. */
export const LATE_DELIVERY_HOURS = 24;

/** The raw objects already merged, per arrival hour, as of `snapshot`. */
export function processedKeys(snapshot: CatalogSnapshot, hour: Hour): ReadonlySet<string> {
  const partition = snapshot.tables[RAW_LEDGER_TABLE]?.partitions[hour];
  return new Set((partition?.files ?? []).map((file) => file.key));
}

export function hasRun(snapshot: CatalogSnapshot, hour: Hour): boolean {
  return snapshot.tables[RAW_LEDGER_TABLE]?.partitions[hour] !== undefined;
}

/**
 * The raw objects a merge of arrival hour `hour` must read, in key order (which is arrival order):
 * every object of `hour` not yet merged, plus objects that appeared under one of the previous
 * 24 arrival hours after that hour ran (Firehose retries deliver into old prefixes). Hours that
 * never ran are left to their own run, so concurrent runs of a backfill do not read each other's input.
 */
export async function objectsToMerge(store: ObjectStore, snapshot: CatalogSnapshot, hour: Hour): Promise<DataFile[]> {
  const objects: DataFile[] = [];
  for (let back = LATE_DELIVERY_HOURS; back >= 0; back -= 1) {
    const arrivalHour = addHours(hour, -back);
    if (back > 0 && !hasRun(snapshot, arrivalHour)) continue;
    const done = processedKeys(snapshot, arrivalHour);
    for await (const object of store.list(rawPrefix(arrivalHour))) {
      if (!done.has(object.key)) objects.push({ key: object.key, size: object.size });
    }
  }
  return objects;
}
