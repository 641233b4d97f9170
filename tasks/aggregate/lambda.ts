import { lambdaEntry } from '../runtime/lambda-entry';
import { createAggregateHandler } from './handler';

/** The aggregate step on AWS: the jobs run on Redshift Spectrum (UNLOAD) or Athena, as AGGREGATE_ENGINE says. */
export const handler = lambdaEntry(({ store, catalog, aggregateEngine, settings }) =>
  createAggregateHandler({ store, catalog: catalog(), engine: aggregateEngine() }, settings.aggregate),
);
