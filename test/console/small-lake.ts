import { mkdtemp } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateTraffic } from '../../generator/generate';
import { trainAndPublish } from '../../models/demand/train-from-lake';
import { openLocalRuntime } from '../../tasks/runtime/local-runtime';

/** The arrival hours the small lake has raw data for: the first three are backfilled, the last one is left for the page's backfill. */
export const GENERATED = { from: '2021-07-12T09', to: '2021-07-12T13' } as const;
export const BACKFILLED = { from: '2021-07-12T09', to: '2021-07-12T12' } as const;

export interface SmallLake {
  readonly lake: string;
  /** The backfill execution that built it. */
  readonly backfillId: string;
}

/**
 * A small lake as the demo builds one, in a fresh temporary directory: four arrival hours of traffic
 * at 2 events a second, the first three backfilled (concurrency 2), the price model trained on them
 * and their price signals delivered, so that every page of the console has data. About 40 s on two cores.
 */
export async function buildSmallLake(): Promise<SmallLake> {
  const lake = await mkdtemp(path.join(os.tmpdir(), 'lakehouse-console-'));
  const runtime = openLocalRuntime(lake);
  await generateTraffic({ store: runtime.store, tables: runtime.tables, ...GENERATED, rate: 2, seed: 11, maxLatenessHours: 6 });
  const backfill = await runtime.runner.start('backfill', { ...BACKFILLED, concurrency: 2 });
  if (backfill.status !== 'SUCCEEDED') throw new Error(`the small lake's backfill ${backfill.id} ${backfill.status}: ${JSON.stringify(backfill.error)}`);
  await trainAndPublish(runtime);
  const delivery = await runtime.pricing.deliver();
  if (delivery.status !== 'delivered' || delivery.changed === 0) throw new Error(`the small lake's price delivery changed no price: ${JSON.stringify(delivery)}`);
  return { lake, backfillId: backfill.id };
}
