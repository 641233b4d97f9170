import { createAggregateHandler } from '../aggregate/handler';
import { createCompactHandler } from '../compact/handler';
import { createCrawlHandler } from '../crawl/handler';
import { createMergeHandler, processMergeResources } from '../merge/handler';
import { run as planHours } from '../plan-hours/run';
import { createSignalsHandler } from '../signals/handler';
import { run as summarizeBackfill } from '../summarize-backfill/run';
import { createVacuumHandler } from '../vacuum/handler';
import { readLakeSettings, type LakeSettings } from './lake-settings';
import type { LocalPorts } from './local-ports';
import type { TaskRegistry } from './task-registry';

/** The task cores the workflows' descriptors name, bound to the local ports and the lake's settings (`lakehouse.json`). */
export function localTasks(ports: LocalPorts, settings: LakeSettings = readLakeSettings(ports.lake)): TaskRegistry {
  return {
    crawl: createCrawlHandler(ports),
    merge: createMergeHandler({ ...ports, ...processMergeResources() }),
    compact: createCompactHandler(ports, settings.compaction),
    aggregate: createAggregateHandler(ports, settings.aggregate),
    signals: createSignalsHandler({ store: ports.store, tables: ports.tables, capture: ports.priceSignalsStream }),
    vacuum: createVacuumHandler(ports, settings.vacuum),
    'plan-hours': async (input) => planHours(input),
    'summarize-backfill': async (input) => summarizeBackfill(input),
  };
}
