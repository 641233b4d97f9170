import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapInFlight } from '../../../tasks/shared/map-in-flight';

describe('mapInFlight', () => {
  it('returns every result in the order of its items, with at most inFlight at a time and a new one as soon as one ends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }), fc.integer({ min: 1, max: 6 }), async (delays, inFlight) => {
        let running = 0;
        let most = 0;
        const results = await mapInFlight(delays, inFlight, async (delay) => {
          running += 1;
          most = Math.max(most, running);
          await sleep(delay);
          running -= 1;
          return delay * 10;
        });
        expect(results).toEqual(delays.map((delay) => delay * 10));
        expect(most).toBe(Math.min(inFlight, delays.length));
      }),
      { numRuns: 40 },
    );
  });

  it('starts nothing after a failure, and fails once the work in flight has ended', async () => {
    const started: number[] = [];
    const ended: number[] = [];
    const mapped = mapInFlight([0, 1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      started.push(item);
      await sleep(item === 1 ? 1 : 20);
      ended.push(item);
      if (item === 1) throw new Error('item 1 failed');
      return item;
    });

    await expect(mapped).rejects.toThrow('item 1 failed');
    expect(started).toEqual([0, 1, 2]);
    expect(ended.sort()).toEqual([0, 1, 2]);
  });
});
