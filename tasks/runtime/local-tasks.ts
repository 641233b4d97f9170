import { availableParallelism } from 'node:os';
import { createCompactHandler } from '../compact/handler';
import { createCrawlHandler } from '../crawl/handler';
import { GeoLocator } from '../enrich/geo';
import { createMergeHandler } from '../merge/handler';
import { createStagePool, type StagePool } from '../merge/stage-pool';
import { run as planHours } from '../plan-hours/run';
import { run as summarizeBackfill } from '../summarize-backfill/run';
import { createVacuumHandler } from '../vacuum/handler';
import type { LocalPorts } from './local-ports';
import type { TaskRegistry } from './task-registry';

/** The task cores the workflows' descriptors name, bound to the local ports. */
export function localTasks(ports: LocalPorts): TaskRegistry {
  let geo: Promise<GeoLocator> | undefined;
  // Opened on first use and shared by every merge of this process: the database is large.
  const openGeo = () => (geo ??= GeoLocator.open());
  // Started on first use too, one worker thread per core; idle workers do not keep the process alive.
  let pool: StagePool | undefined;
  const staging = {
    stage: (task: Parameters<StagePool['stage']>[0]) => (pool ??= createStagePool(availableParallelism())).stage(task),
    parallelism: availableParallelism(),
  };
  return {
    crawl: createCrawlHandler(ports),
    merge: createMergeHandler({ ...ports, geo: openGeo, staging }),
    compact: createCompactHandler(ports),
    vacuum: createVacuumHandler(ports),
    'plan-hours': async (input) => planHours(input),
    'summarize-backfill': async (input) => summarizeBackfill(input),
  };
}
