import { GeoLocator } from '../enrich/geo';
import { lambdaEntry } from '../runtime/lambda-entry';
import { createMergeHandler } from './handler';

/**
 * The merge step on AWS. Raw objects are staged on the function's own thread: the worker pool of the
 * embedded default loads its TypeScript through tsx, which a bundled function does not carry.
 */
export const handler = lambdaEntry(({ store, catalog }) => {
  let geo: Promise<GeoLocator> | undefined;
  return createMergeHandler({ store, catalog: catalog(), geo: () => (geo ??= GeoLocator.open()) });
});
