import { DEMAND_MODEL_FORMAT, versioned, type DemandCurve, type DemandModel } from '../../models/demand/artifact';
import type { PriceInstance } from '../../models/contract';

function curve(elasticity: number, unitsPerViewAtBase = 0.15): DemandCurve {
  return { intercept: Math.log(unitsPerViewAtBase), elasticity, elasticitySd: 0.1, views: 10_000, units: 1_500 };
}

/** A small hand-made model: a price-sensitive category, an insensitive one, and the pooled curve between them. */
export const MODEL: DemandModel = versioned({
  format: DEMAND_MODEL_FORMAT,
  trainedOn: { from: '2021-07-12T00', holdoutFrom: '2021-07-12T18', to: '2021-07-13T00' },
  pooled: curve(-1.5),
  categories: { apparel: curve(-2), basketball: curve(-0.5) },
  evaluation: { products: 200, units: 2_500, modelRmse: 4.4, baselineRmse: 5.6 },
});

export function instance(overrides: Partial<PriceInstance> = {}): PriceInstance {
  return {
    product_id: 101,
    category: 'apparel',
    current_price: 50,
    base_price: 50,
    cost: 20,
    inventory: 300,
    views_24h: 400,
    add_to_carts_24h: 120,
    purchases_24h: 60,
    revenue_24h: 3_000,
    ...overrides,
  };
}
