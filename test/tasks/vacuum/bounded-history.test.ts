import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { FsCatalog } from '../../../tasks/adapters/local/fs-catalog';
import { FsObjectStore } from '../../../tasks/adapters/local/fs-object-store';
import { CURATED_PREFIX, EVENTS_TABLE, deltaFileKey, initialLocation } from '../../../tasks/curated/layout';
import type { CatalogChange, DataFile } from '../../../tasks/ports/catalog';
import { runVacuum } from '../../../tasks/vacuum/run';

/**
 * The vacuum reads the commit history only from a checkpoint made before its cutoff. Over random
 * histories, it must delete exactly what replaying the whole history would: same lake, same clock,
 * once with a checkpoint every other commit and once with none.
 */

const PARTITIONS = ['dt=2021-07-12/hr=05', 'dt=2021-07-12/hr=06', 'dt=2021-07-12/hr=07'];
const T0 = Date.parse('2021-07-12T00:00:00Z');
const HOUR = 3_600_000;

interface Step {
  readonly partition: number;
  readonly drop: boolean;
  /** Keep the partition's current files next to the new ones (a late-event append), else replace them (a compaction). */
  readonly keep: boolean;
  readonly newFiles: number;
  readonly hoursAfterPrevious: number;
}

const step: fc.Arbitrary<Step> = fc.record({
  partition: fc.nat(PARTITIONS.length - 1),
  // One step in five drops its partition.
  drop: fc.nat(4).map((n) => n === 0),
  keep: fc.boolean(),
  newFiles: fc.integer({ min: 1, max: 2 }),
  hoursAfterPrevious: fc.integer({ min: 0, max: 30 }),
});

async function buildLake(dir: string, steps: readonly Step[], checkpointInterval: number): Promise<{ store: FsObjectStore; catalog: FsCatalog; end: number }> {
  const store = new FsObjectStore(dir);
  let clock = T0;
  const catalog = new FsCatalog(store, '_catalog/', { checkpointInterval, now: () => new Date(clock) });
  const current = new Map<number, DataFile[]>();
  for (const [index, { partition, drop, keep, newFiles, hoursAfterPrevious }] of steps.entries()) {
    clock += hoursAfterPrevious * HOUR;
    const name = PARTITIONS[partition]!;
    let change: CatalogChange;
    if (drop) {
      current.delete(partition);
      change = { kind: 'dropPartition', table: EVENTS_TABLE, partition: name };
    } else {
      const written: DataFile[] = [];
      for (let file = 0; file < newFiles; file++) {
        const key = deltaFileKey(initialLocation(name), `step${index}-file${file}`);
        await store.put(key, key);
        await fs.utimes(store.locate(key), new Date(clock), new Date(clock));
        written.push({ key, size: key.length });
      }
      const files = [...(keep ? (current.get(partition) ?? []) : []), ...written];
      current.set(partition, files);
      change = { kind: 'putPartition', table: EVENTS_TABLE, partition: name, location: initialLocation(name), files, properties: {} };
    }
    const { version } = await catalog.snapshot();
    await catalog.commit(version, { executionId: `run-${index}`, hour: '2021-07-12T05', step: 'merge' }, [change]);
  }
  return { store, catalog, end: clock };
}

async function remainingKeys(store: FsObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(CURATED_PREFIX)) keys.push(key);
  return keys;
}

describe('runVacuum over a long history', () => {
  it('deletes the same files from a checkpoint before the cutoff as from the whole history', async () => {
    let fromCheckpoint = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 2, max: 72 }),
        async (steps, hoursAfterLast, retentionHours) => {
          const root = await fs.mkdtemp(path.join(os.tmpdir(), 'vacuum-history-'));
          try {
            const checkpointed = await buildLake(path.join(root, 'checkpointed'), steps, 2);
            const whole = await buildLake(path.join(root, 'whole'), steps, 1_000_000);
            const now = () => new Date(checkpointed.end + hoursAfterLast * HOUR);
            const history = await checkpointed.catalog.historyFrom(new Date(now().getTime() - retentionHours * HOUR));
            if (history.base !== undefined) fromCheckpoint += 1;

            const results = [];
            for (const lake of [checkpointed, whole]) {
              const result = await runVacuum({ executionId: 'vacuum' }, lake, { now, retentionHours });
              results.push({ filesDeleted: result.filesDeleted, remaining: await remainingKeys(lake.store) });
            }
            expect(results[0]).toEqual(results[1]);
          } finally {
            await fs.rm(root, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 40 },
    );
    // The property is only worth something if some runs did start from a checkpoint.
    expect(fromCheckpoint).toBeGreaterThan(5);
  });
});
