import { lambdaEntry } from '../runtime/lambda-entry';
import { createCompactHandler } from './handler';

/** The compaction step on AWS. */
export const handler = lambdaEntry(({ store, catalog, settings }) => createCompactHandler({ store, catalog: catalog() }, settings.compaction));
