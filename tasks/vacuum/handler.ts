import type { TaskHandler } from '../runtime/task-registry';
import { runVacuum, type VacuumPorts, type VacuumSettings } from './run';
import { parseVacuumInput } from './schema';

/**
 * The vacuum task's entry, given its ports once: the local runtime registers it, and a Lambda entry
 * will wrap it with ports built from its configuration when the AWS adapters exist.
 */
export function createVacuumHandler(ports: VacuumPorts, settings: VacuumSettings = {}): TaskHandler {
  return async (event) => runVacuum(parseVacuumInput(event), ports, settings);
}
