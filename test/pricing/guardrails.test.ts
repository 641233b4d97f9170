import fc from 'fast-check';
import { DEFAULT_GUARDRAILS, guardPrice, type PriceBounds } from '../../tasks/pricing/guardrails';

const price = fc.double({ min: 0.01, max: 10_000, noNaN: true, noDefaultInfinity: true });
const fraction = (max: number) => fc.double({ min: 0, max, noNaN: true, maxExcluded: true });

/** Any catalog state, sensible or not: a current price outside its floor and ceiling, a floor above the ceiling, a cost above the price. */
const bounds: fc.Arbitrary<PriceBounds> = fc.record({ current: price, floor: price, ceiling: price, cost: fc.double({ min: 0, max: 10_000, noNaN: true }) });
const settings = fc.record({ maxChangeFraction: fraction(0.5), minMarginFraction: fraction(0.5), minChangeFraction: fraction(0.05) });

describe('guardPrice', () => {
  it('never moves a price beyond the largest change allowed', () => {
    fc.assert(
      fc.property(price, bounds, settings, (recommended, b, s) => {
        const guarded = guardPrice(recommended, b, s);
        if (guarded.kind === 'change') {
          expect(guarded.price).toBeLessThanOrEqual(b.current * (1 + s.maxChangeFraction));
          expect(guarded.price).toBeGreaterThanOrEqual(b.current * (1 - s.maxChangeFraction));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never sets a price outside the floor and ceiling', () => {
    fc.assert(
      fc.property(price, bounds, settings, (recommended, b, s) => {
        const guarded = guardPrice(recommended, b, s);
        if (guarded.kind === 'change') {
          expect(guarded.price).toBeGreaterThanOrEqual(b.floor);
          expect(guarded.price).toBeLessThanOrEqual(b.ceiling);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never sets a price below cost plus the minimum margin', () => {
    fc.assert(
      fc.property(price, bounds, settings, (recommended, b, s) => {
        const guarded = guardPrice(recommended, b, s);
        if (guarded.kind === 'change') expect(guarded.price).toBeGreaterThanOrEqual(b.cost * (1 + s.minMarginFraction));
      }),
      { numRuns: 2000 },
    );
  });

  it('sets whole cents, and holds at the current price', () => {
    fc.assert(
      fc.property(price, bounds, settings, (recommended, b, s) => {
        const guarded = guardPrice(recommended, b, s);
        if (guarded.kind === 'change') expect(Math.round(guarded.price * 100) / 100).toBe(guarded.price);
        else expect(guarded.price).toBe(b.current);
      }),
    );
  });

  it('takes the recommendation unchanged when it is within every bound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 9_200, max: 10_800 }), (cents) => {
        const recommended = cents / 100;
        const guarded = guardPrice(recommended, { current: 100, floor: 50, ceiling: 200, cost: 40 });
        if (Math.abs(recommended - 100) < 100 * DEFAULT_GUARDRAILS.minChangeFraction) expect(guarded).toEqual({ kind: 'hold', why: 'below_min_change', price: 100 });
        else expect(guarded).toEqual({ kind: 'change', price: recommended });
      }),
    );
  });

  it('names the bound that cut the recommendation', () => {
    const current = { current: 100, floor: 80, ceiling: 105, cost: 60 };
    expect(guardPrice(150, current)).toEqual({ kind: 'change', price: 105, limitedBy: 'ceiling' });
    expect(guardPrice(10, current)).toEqual({ kind: 'change', price: 90, limitedBy: 'max_decrease' });
    expect(guardPrice(10, { ...current, floor: 95 })).toEqual({ kind: 'change', price: 95, limitedBy: 'floor' });
    expect(guardPrice(10, { ...current, cost: 88 })).toEqual({ kind: 'change', price: 92.4, limitedBy: 'cost_margin' });
    expect(guardPrice(150, { ...current, ceiling: 200 })).toEqual({ kind: 'change', price: 110, limitedBy: 'max_increase' });
  });

  it('holds when no price satisfies every bound at once', () => {
    // The price sits far above its ceiling: 10 % down cannot reach it.
    expect(guardPrice(100, { current: 200, floor: 50, ceiling: 150, cost: 10 })).toEqual({ kind: 'hold', why: 'no_allowed_price', price: 200 });
    expect(guardPrice(100, { current: 100, floor: 120, ceiling: 110, cost: 10 })).toEqual({ kind: 'hold', why: 'no_allowed_price', price: 100 });
  });

  it('refuses a setting that is not a fraction', () => {
    expect(() => guardPrice(100, { current: 100, floor: 50, ceiling: 150, cost: 10 }, { maxChangeFraction: 1.5 })).toThrow(/maxChangeFraction 1.5/);
  });
});
