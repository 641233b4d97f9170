import fc from 'fast-check';
import { pricePredictionSchema } from '../../models/contract';
import { expectedUnitsPerDay, predictPrice, PRICE_BAND } from '../../models/demand/predict';
import { instance, MODEL } from './model-fixture';

describe('predictPrice', () => {
  it('recommends the profit-maximising price of a constant-elasticity curve, cost · e / (1 + e), when it lies in the band', () => {
    // apparel: e = -2, cost 20 → 40, which is 0.8 × the base price of 50
    const prediction = predictPrice(MODEL, instance());
    expect(prediction.recommended_price).toBe(40);
    expect(prediction.expected_units_per_day).toBeCloseTo(400 * 0.15 * 0.8 ** -2, 3);
    expect(prediction.model_version).toBe(MODEL.version);
  });

  it('goes to the top of the band for an inelastic category, where a higher price always earns more', () => {
    expect(predictPrice(MODEL, instance({ category: 'basketball' })).recommended_price).toBe(50 * PRICE_BAND.maxRatio);
  });

  it('keeps the current price of a product without views: no evidence, no change', () => {
    expect(predictPrice(MODEL, instance({ views_24h: 0, current_price: 47.13 })).recommended_price).toBe(47.13);
    expect(predictPrice(MODEL, instance({ views_24h: 0, current_price: 500 })).recommended_price).toBe(50 * PRICE_BAND.maxRatio);
  });

  it('uses the pooled curve for a category it has not seen', () => {
    // pooled: e = -1.5, cost 20 → 60, inside the band [37.50, 62.50]
    expect(predictPrice(MODEL, instance({ category: 'socks' })).recommended_price).toBe(60);
  });

  it('scales expected units with views and the price relative to the base price', () => {
    expect(expectedUnitsPerDay(MODEL, instance(), 50)).toBeCloseTo(60, 9);
    expect(expectedUnitsPerDay(MODEL, instance({ views_24h: 800 }), 50)).toBeCloseTo(120, 9);
    expect(expectedUnitsPerDay(MODEL, instance(), 25)).toBeCloseTo(240, 9);
  });

  it('answers every valid instance with a valid, deterministic prediction inside the band', () => {
    const anyInstance = fc.record({
      product_id: fc.integer(),
      category: fc.constantFrom('apparel', 'basketball', 'socks'),
      base_price: fc.double({ min: 0.001, max: 1e9, noNaN: true }),
      priceRatio: fc.double({ min: 0.1, max: 10, noNaN: true }),
      costRatio: fc.double({ min: 0, max: 2, noNaN: true }),
      views_24h: fc.nat(),
    });
    fc.assert(
      fc.property(anyInstance, ({ priceRatio, costRatio, ...fields }) => {
        const input = instance({ ...fields, current_price: fields.base_price * priceRatio, cost: fields.base_price * costRatio });
        const prediction = predictPrice(MODEL, input);
        expect(pricePredictionSchema.safeParse(prediction).success).toBe(true);
        expect(predictPrice(MODEL, input)).toEqual(prediction);
        const cent = 0.005;
        expect(prediction.recommended_price).toBeGreaterThanOrEqual(Math.max(0.01, input.base_price * PRICE_BAND.minRatio - cent));
        expect(prediction.recommended_price).toBeLessThanOrEqual(Math.max(0.01, input.base_price * PRICE_BAND.maxRatio + cent));
      }),
      { numRuns: 300 },
    );
  });
});
