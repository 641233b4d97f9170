import type { TaskHandler } from '../runtime/task-registry';
import { runSignals, type SignalsPorts } from './run';
import { parseSignalsInput } from './schema';

/**
 * The signals task's entry, given its ports once: the local runtime registers it, and a Lambda
 * entry will wrap it with ports built from its configuration when the AWS adapters exist.
 */
export function createSignalsHandler(ports: SignalsPorts): TaskHandler {
  return async (event) => runSignals(parseSignalsInput(event), ports);
}
