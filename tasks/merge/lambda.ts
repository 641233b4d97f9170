import { lambdaEntry } from '../runtime/lambda-entry';
import { createMergeHandler, processMergeResources } from './handler';

/**
 * The merge step on AWS. Raw objects are staged on a worker thread per vCPU (six at the function's
 * 10 GB), from the worker bundled beside the function's code.
 */
export const handler = lambdaEntry(({ store, catalog }) => createMergeHandler({ store, catalog: catalog(), ...processMergeResources() }));
