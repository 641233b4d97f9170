import fc from 'fast-check';
import { generateTraffic } from '../../generator/generate';
import type { FaultRates } from '../../generator/generate';
import { isWellFormed, KNOWN_FIELDS, readRawLines, snapshot, timestampMs, withTempLake } from './lake-reader';
import type { RawLine } from './lake-reader';

const HOUR_MS = 3_600_000;
const FAULTS = ['late', 'duplicate', 'malformed', 'stringifiedAdditionalData', 'extraFields', 'clockAhead'] as const;
const RANGE = { from: '2021-07-12T14', to: '2021-07-12T16', rate: 1 };

/** How each fault shows in the raw lines; each holds of no line when its fraction is 0. */
const SIGNS: Record<(typeof FAULTS)[number], (lines: RawLine[]) => boolean> = {
  late: (lines) =>
    lines.some((line) => isWellFormed(line.record) && timestampMs(line.record.insertion_timestamp) - timestampMs(line.record.timestamp) > 60_000),
  duplicate: (lines) => {
    const clickIds = lines.filter((line) => isWellFormed(line.record)).map((line) => line.record?.click_id);
    return new Set(clickIds).size < clickIds.length;
  },
  malformed: (lines) => lines.some((line) => !isWellFormed(line.record)),
  stringifiedAdditionalData: (lines) => lines.some((line) => typeof line.record?.additional_data === 'string'),
  extraFields: (lines) => lines.some((line) => Object.keys(line.record ?? {}).some((key) => !KNOWN_FIELDS.includes(key))),
  clockAhead: (lines) =>
    lines.some((line) => isWellFormed(line.record) && timestampMs(line.record.insertion_timestamp) > line.hourStartMs + HOUR_MS),
};

function clickIdsOf(lines: RawLine[]): Set<unknown> {
  return new Set(lines.map((line) => line.record?.click_id).filter((clickId) => clickId !== undefined));
}

describe('generateTraffic properties', () => {
  it('writes byte-identical objects under identical keys for the same seed, and others for another seed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -1_000_000, max: 1_000_000 }), async (seed) => {
        const [first, second, other] = await Promise.all(
          [seed, seed, seed + 1].map((s) =>
            withTempLake(async (store) => {
              await generateTraffic({ store, ...RANGE, seed: s });
              return { objects: await snapshot(store), clickIds: clickIdsOf(await readRawLines(store)) };
            }),
          ),
        );
        if (!first || !second || !other) throw new Error('three runs expected');
        expect([...second.objects.keys()]).toEqual([...first.objects.keys()]);
        for (const [key, body] of first.objects) expect([key, second.objects.get(key)?.equals(body)]).toEqual([key, true]);
        expect([...first.objects.keys()].filter((key) => key.startsWith('raw/') && other.objects.has(key))).toEqual([]);
        expect([...first.clickIds].filter((clickId) => other.clickIds.has(clickId))).toEqual([]);
        expect(other.objects.get('dims/users/users.jsonl')?.equals(first.objects.get('dims/users/users.jsonl') as Buffer)).toBe(false);
      }),
      { numRuns: 4 },
    );
  });

  it('injects no fault whose fraction is 0, and every other one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.subarray([...FAULTS]), fc.integer({ min: 1, max: 1_000 }), async (zeroed, seed) => {
        const faults = Object.fromEntries(FAULTS.map((fault) => [fault, zeroed.includes(fault) ? 0 : 0.2])) as unknown as FaultRates;
        await withTempLake(async (store) => {
          const report = await generateTraffic({ store, ...RANGE, seed, faults });
          const lines = await readRawLines(store);
          for (const fault of FAULTS) expect([fault, SIGNS[fault](lines)]).toEqual([fault, !zeroed.includes(fault)]);
          const injected = {
            late: report.injected.late,
            duplicate: report.injected.duplicates,
            malformed: Object.values(report.injected.malformed).reduce((sum, n) => sum + n, 0),
            stringifiedAdditionalData: report.injected.stringifiedAdditionalData,
            extraFields: report.injected.extraFields,
            clockAhead: report.injected.clockAhead,
          };
          for (const fault of zeroed) expect([fault, injected[fault]]).toEqual([fault, 0]);
        });
      }),
      { numRuns: 8 },
    );
  });
});
