import { lambdaEntry } from '../runtime/lambda-entry';
import { createSignalsHandler } from './handler';

/** The signals step on AWS: no change capture, since DynamoDB Streams records price_signals' changes itself. */
export const handler = lambdaEntry(({ store, tables }) => createSignalsHandler({ store, tables: tables() }));
