import type { TaskHandler } from '../runtime/task-registry';
import { runAggregate, type AggregatePorts, type AggregateSettings } from './run';
import { parseAggregateInput } from './schema';

/**
 * The aggregate task's entry, given its ports once: the local runtime registers it, and a Lambda
 * entry will wrap it with ports built from its configuration when the AWS adapters exist.
 */
export function createAggregateHandler(ports: AggregatePorts, settings: AggregateSettings = {}): TaskHandler {
  return async (event) => runAggregate(parseAggregateInput(event), ports, settings);
}
