import fc from 'fast-check';
import { Random, mixSeed } from '../../generator/random';

describe('Random', () => {
  it('repeats its stream for the same parts and not for others', () => {
    const draw = (random: Random): number[] => Array.from({ length: 8 }, () => random.float());
    expect(draw(Random.of(1, 2))).toEqual(draw(Random.of(1, 2)));
    expect(draw(Random.of(1, 2))).not.toEqual(draw(Random.of(2, 1)));
    expect(draw(Random.of(1))).not.toEqual(draw(Random.of(1 + 2 ** 32)));
  });

  it('mixes nearby seeds into unrelated ones', () => {
    const seeds = new Set(Array.from({ length: 1_000 }, (_, i) => mixSeed(i)));
    expect(seeds.size).toBe(1_000);
  });

  it('keeps draws within their bounds', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -50, max: 50 }), fc.integer({ min: 0, max: 100 }), (seed, min, span) => {
        const random = Random.of(seed);
        const float = random.float();
        const int = random.int(min, min + span);
        const log = random.logUniform(1, 1_000);
        return float >= 0 && float < 1 && Number.isInteger(int) && int >= min && int <= min + span && log >= 1 && log < 1_000;
      }),
    );
  });

  it('makes hex, alphanumeric and version-4 UUID strings', () => {
    const random = Random.of(42);
    expect(random.hex(4)).toMatch(/^[0-9a-f]{32}$/);
    expect(random.alnum(10)).toMatch(/^[a-z0-9]{10}$/);
    const uuids = Array.from({ length: 200 }, () => random.uuidV4());
    for (const uuid of uuids) expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(uuids).size).toBe(200);
  });

  it('draws each hex digit about equally often', () => {
    const random = Random.of(9);
    const counts = new Map<string, number>();
    for (const digit of random.hex(2_000)) counts.set(digit, (counts.get(digit) ?? 0) + 1);
    expect(counts.size).toBe(16);
    for (const count of counts.values()) expect(Math.abs(count - 1_000)).toBeLessThan(150);
  });
});
