import { availableParallelism } from 'node:os';
import { GeoLocator } from '../enrich/geo';
import type { TaskHandler } from '../runtime/task-registry';
import { runMerge, type MergePorts } from './run';
import { parseMergeInput } from './schema';
import { sharedStaging } from './stage-pool';

/** The merge task's entry, given its ports once (the local runtime and the Lambda entry register it). */
export function createMergeHandler(ports: MergePorts): TaskHandler {
  return async (event) => runMerge(parseMergeInput(event), ports);
}

/**
 * What the merges of one process share: the geolocation database, opened on first use (it is large),
 * and a staging worker thread per core.
 */
export function processMergeResources(): Pick<MergePorts, 'geo' | 'staging'> {
  let geo: Promise<GeoLocator> | undefined;
  return { geo: () => (geo ??= GeoLocator.open()), staging: sharedStaging(availableParallelism()) };
}
