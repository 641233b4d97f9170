import { createCrawlHandler } from '../crawl/handler';
import { run as planHours } from '../plan-hours/run';
import { run as summarizeBackfill } from '../summarize-backfill/run';
import type { LocalPorts } from './local-ports';
import type { TaskRegistry } from './task-registry';

/** The task cores the workflows' descriptors name, bound to the local ports. */
export function localTasks(ports: LocalPorts): TaskRegistry {
  return {
    crawl: createCrawlHandler(ports),
    'plan-hours': async (input) => planHours(input),
    'summarize-backfill': async (input) => summarizeBackfill(input),
  };
}
