import { InvalidInputError } from '../ports/errors';

/** What bounds a product's next price. */
export interface PriceBounds {
  readonly current: number;
  readonly floor: number;
  readonly ceiling: number;
  readonly cost: number;
}

export interface GuardrailSettings {
  /** The most one change may move the price, as a fraction of the current price. @default 0.1 */
  readonly maxChangeFraction?: number;
  /** The least margin over cost a price must keep: never below cost × (1 + this). @default 0.05 */
  readonly minMarginFraction?: number;
  /** Smaller moves are not made, so the catalog does not churn on noise: a fraction of the current price. @default 0.005 */
  readonly minChangeFraction?: number;
}

/** The bound that cut the model's price down (or up) to the one applied. */
export type PriceLimit = 'max_increase' | 'max_decrease' | 'ceiling' | 'floor' | 'cost_margin';

export type GuardedPrice =
  | { readonly kind: 'change'; readonly price: number; readonly limitedBy?: PriceLimit }
  | { readonly kind: 'hold'; readonly why: 'no_allowed_price' | 'below_min_change'; readonly price: number };

export const DEFAULT_GUARDRAILS: Required<GuardrailSettings> = { maxChangeFraction: 0.1, minMarginFraction: 0.05, minChangeFraction: 0.005 };

/**
 * The price to charge when the model recommends `recommended`: as near to it as the guardrails
 * allow, in whole cents. A change stays within ±maxChangeFraction of the current price, within
 * [floor, ceiling], and at or above cost × (1 + minMarginFraction), all at once; where no price
 * satisfies them all (a current price far outside the floor and ceiling, a floor above the
 * ceiling) or the move is under minChangeFraction, the price is held.
 */
export function guardPrice(recommended: number, bounds: PriceBounds, settings: GuardrailSettings = {}): GuardedPrice {
  const { maxChangeFraction, minMarginFraction, minChangeFraction } = checkGuardrails(settings);
  const lowers: [number, PriceLimit][] = [
    [bounds.current * (1 - maxChangeFraction), 'max_decrease'],
    [bounds.floor, 'floor'],
    [bounds.cost * (1 + minMarginFraction), 'cost_margin'],
  ];
  const uppers: [number, PriceLimit][] = [
    [bounds.current * (1 + maxChangeFraction), 'max_increase'],
    [bounds.ceiling, 'ceiling'],
  ];
  const [lower, lowerLimit] = lowers.reduce((a, b) => (b[0] > a[0] ? b : a));
  const [upper, upperLimit] = uppers.reduce((a, b) => (b[0] < a[0] ? b : a));
  const lowestCents = centsAtLeast(lower);
  const highestCents = centsAtMost(upper);
  if (lowestCents > highestCents) return { kind: 'hold', why: 'no_allowed_price', price: bounds.current };

  const wantedCents = Math.round(recommended * 100);
  const cents = Math.min(Math.max(wantedCents, lowestCents), highestCents);
  const price = cents / 100;
  if (Math.abs(price - bounds.current) < Math.max(0.01, bounds.current * minChangeFraction)) return { kind: 'hold', why: 'below_min_change', price: bounds.current };
  const limitedBy = wantedCents < lowestCents ? lowerLimit : wantedCents > highestCents ? upperLimit : undefined;
  return limitedBy === undefined ? { kind: 'change', price } : { kind: 'change', price, limitedBy };
}

/** The fewest whole cents whose price is not below `price` (as floating point compares them). */
function centsAtLeast(price: number): number {
  let cents = Math.ceil(price * 100);
  while (cents / 100 < price) cents += 1;
  return cents;
}

/** The most whole cents whose price is not above `price`. */
function centsAtMost(price: number): number {
  let cents = Math.floor(price * 100);
  while (cents / 100 > price) cents -= 1;
  return cents;
}

/** The settings with their defaults; a setting that is not a fraction in [0, 1) is refused with InvalidInputError. */
export function checkGuardrails(settings: GuardrailSettings): Required<GuardrailSettings> {
  const checked = {
    maxChangeFraction: settings.maxChangeFraction ?? DEFAULT_GUARDRAILS.maxChangeFraction,
    minMarginFraction: settings.minMarginFraction ?? DEFAULT_GUARDRAILS.minMarginFraction,
    minChangeFraction: settings.minChangeFraction ?? DEFAULT_GUARDRAILS.minChangeFraction,
  };
  for (const [name, value] of Object.entries(checked)) {
    if (!Number.isFinite(value) || value < 0 || value >= 1) throw new InvalidInputError(`invalid guardrail ${name} ${value}: expected a fraction in [0, 1)`);
  }
  return checked;
}
