import type { TaskHandler } from '../runtime/task-registry';
import { runMerge, type MergePorts } from './run';
import { parseMergeInput } from './schema';

/** The merge task's entry, given its ports once (the local runtime registers it). */
export function createMergeHandler(ports: MergePorts): TaskHandler {
  return async (event) => runMerge(parseMergeInput(event), ports);
}
