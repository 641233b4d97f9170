import type { PriceInstance, PricePrediction } from '../contract';
import type { DemandCurve, DemandModel } from './artifact';

/**
 * The model recommends prices within this band around the base price: the range the training data
 * covered (the shop's promotions and surges move prices by up to 25 %), so the curve is not
 * extrapolated. The consumer's guardrails bound each change further.
 */
export const PRICE_BAND = { minRatio: 0.75, maxRatio: 1.25 } as const;
/** Candidate prices: the band in steps of 1 % of the base price, plus the current price. */
const GRID_STEPS = 50;

/** The category's curve, or the shop-wide one for a category the model has not seen. */
export function curveOf(model: DemandModel, category: string): DemandCurve {
  return Object.hasOwn(model.categories, category) ? (model.categories[category] as DemandCurve) : model.pooled;
}

/** Units per view at `price`: the curve's elasticity applied to the price relative to the base price. */
export function unitsPerView(curve: DemandCurve, price: number, basePrice: number): number {
  return Math.exp(curve.intercept + curve.elasticity * Math.log(price / basePrice));
}

/**
 * Units a day at `price`: the product's own traffic (its views over the last 24 hours; in the
 * training data traffic does not depend on the price) times its category's units per view at that price.
 */
export function expectedUnitsPerDay(model: DemandModel, instance: PriceInstance, price: number): number {
  return instance.views_24h * unitsPerView(curveOf(model, instance.category), price, instance.base_price);
}

/**
 * The price on the grid that maximises expected profit a day, (price − cost) · units. Ties (a
 * product without views has no expected units at any price) go to the price nearest the current one,
 * so that no evidence means no change. Deterministic.
 */
export function predictPrice(model: DemandModel, instance: PriceInstance): PricePrediction {
  let best = { price: 0, units: 0, profit: -Infinity };
  for (const price of candidatePrices(instance)) {
    const units = expectedUnitsPerDay(model, instance, price);
    const profit = (price - instance.cost) * units;
    const nearer = Math.abs(price - instance.current_price) < Math.abs(best.price - instance.current_price);
    if (profit > best.profit || (profit === best.profit && nearer)) best = { price, units, profit };
  }
  return {
    product_id: instance.product_id,
    recommended_price: best.price,
    expected_units_per_day: Math.round(best.units * 1000) / 1000,
    model_version: model.version,
  };
}

function candidatePrices({ base_price: base, current_price: current }: PriceInstance): number[] {
  const low = base * PRICE_BAND.minRatio;
  const high = base * PRICE_BAND.maxRatio;
  const prices = Array.from({ length: GRID_STEPS + 1 }, (_, step) => cents(low + ((high - low) * step) / GRID_STEPS));
  if (current >= low && current <= high) prices.push(cents(current));
  return prices;
}

/** Rounded to a cent, and at least one: a price must stay positive however small the base price. */
function cents(price: number): number {
  return Math.max(0.01, Math.round(price * 100) / 100);
}
