import type { Product } from './population';
import { round2 } from './population';
import { Random } from './random';

export const DAY_US = 86_400_000_000;

interface DayPrices {
  readonly prices: Float64Array;
  /** (price / base_price) ^ elasticity: how much more (or less) likely a purchase is at that price. */
  readonly demandFactors: Float64Array;
}

/** What a shopper sees and how it moves them, for a product at an instant. */
export interface Prices {
  priceAt(productIndex: number, timeUs: number): number;
  /** (price / base_price) ^ elasticity: how much more (or less) likely a purchase is at that price. */
  demandFactorAt(productIndex: number, timeUs: number): number;
}

/**
 * Each product's price per UTC day: mostly the base price, with seeded promotions (up to 25 % off) and
 * surges (up to 25 % up). A day's prices depend only on (seed, day), so late events from any day agree.
 */
export class PriceBook implements Prices {
  private readonly days = new Map<number, DayPrices>();

  constructor(
    private readonly seed: number,
    private readonly products: readonly Product[],
  ) {}

  priceAt(productIndex: number, timeUs: number): number {
    return this.day(timeUs).prices[productIndex] as number;
  }

  demandFactorAt(productIndex: number, timeUs: number): number {
    return this.day(timeUs).demandFactors[productIndex] as number;
  }

  private day(timeUs: number): DayPrices {
    const day = Math.floor(timeUs / DAY_US);
    let prices = this.days.get(day);
    if (!prices) {
      prices = pricesOfDay(Random.of(this.seed, 0x9a1ce, day), this.products);
      this.days.set(day, prices);
    }
    return prices;
  }
}

function pricesOfDay(random: Random, products: readonly Product[]): DayPrices {
  const prices = new Float64Array(products.length);
  const demandFactors = new Float64Array(products.length);
  products.forEach((product, index) => {
    const price = round2(product.basePrice * dailyMultiplier(random));
    prices[index] = price;
    demandFactors[index] = (price / product.basePrice) ** product.trueElasticity;
  });
  return { prices, demandFactors };
}

function dailyMultiplier(random: Random): number {
  const kind = random.float();
  const size = random.between(0.05, 0.25);
  const noise = random.between(-0.03, 0.03);
  if (kind < 0.25) return 1 - size;
  if (kind < 0.4) return 1 + size;
  return 1 + noise;
}
