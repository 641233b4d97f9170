import type { TaskHandler } from '../runtime/task-registry';
import { runCompaction, type CompactionPorts, type CompactionSettings } from './run';
import { parseCompactInput } from './schema';

/**
 * The compaction task's entry, given its ports once: the local runtime registers it, and a Lambda
 * entry will wrap it with ports built from its configuration when the AWS adapters exist.
 */
export function createCompactHandler(ports: CompactionPorts, settings: CompactionSettings = {}): TaskHandler {
  return async (event) => runCompaction(parseCompactInput(event), ports, settings);
}
