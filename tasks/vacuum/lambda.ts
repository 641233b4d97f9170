import { lambdaEntry } from '../runtime/lambda-entry';
import { createVacuumHandler } from './handler';

/** The vacuum step on AWS. */
export const handler = lambdaEntry(({ store, catalog, settings }) => createVacuumHandler({ store, catalog: catalog() }, settings.vacuum));
