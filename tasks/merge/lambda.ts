import { availableParallelism } from 'node:os';
import { GeoLocator } from '../enrich/geo';
import { lambdaEntry } from '../runtime/lambda-entry';
import { createMergeHandler } from './handler';
import { sharedStaging } from './stage-pool';

/**
 * The merge step on AWS. Raw objects are staged on a worker thread per vCPU (six at the function's
 * 10 GB), from the worker bundled beside the function's code.
 */
export const handler = lambdaEntry(({ store, catalog }) => {
  let geo: Promise<GeoLocator> | undefined;
  return createMergeHandler({ store, catalog: catalog(), geo: () => (geo ??= GeoLocator.open()), staging: sharedStaging(availableParallelism()) });
});
