import type { Population, Segment, User } from './population';
import type { Prices } from './prices';
import type { Random } from './random';

export type EventName = 'Search' | 'ViewContent' | 'AddToCart' | 'Purchase';

/** One thing a user really did, at the true (server) time. */
export interface SessionEvent {
  readonly name: EventName;
  readonly timeUs: number;
  readonly productIndex: number;
  /** The product's price on the day of the event. */
  readonly price: number;
  readonly timeOnData: number;
  readonly percentViewed: number;
  /** Units bought; 0 for every event but Purchase. */
  readonly quantity: number;
}

/** The funnel's step probabilities before segment and price effects. */
const FUNNEL = {
  viewAfterSearch: 0.6,
  cartAfterView: 0.3,
  anotherView: 0.35,
  purchaseAfterCart: 0.4,
  maxViews: 6,
} as const;

/** Loyal customers add to cart more readily; price sensitivity is left to the product's elasticity. */
const CART_PROPENSITY: Record<Segment, number> = { new: 0.8, returning: 1, loyal: 1.25 };

const SECOND_US = 1_000_000;

/** [min, max) seconds between one step and the next. */
const GAPS = {
  searchToView: [5, 90],
  viewToView: [10, 180],
  viewToCart: [5, 120],
  cartToPurchase: [20, 300],
} as const;

/** No session lasts longer than this: the sum of the longest gaps. */
export const MAX_SESSION_SPAN_US =
  (GAPS.searchToView[1] + (FUNNEL.maxViews - 1) * GAPS.viewToView[1] + GAPS.viewToCart[1] + GAPS.cartToPurchase[1]) * SECOND_US;

/**
 * One visit: Search → ViewContent (one or more products of the searched category) → AddToCart → Purchase,
 * each step taken with the funnel's probability. The purchase probability scales with
 * (price / base_price) ^ elasticity at the day's price, so demand responds to promotions.
 */
export function simulateSession(random: Random, population: Population, prices: Prices, user: User, startUs: number): SessionEvent[] {
  let productIndex = population.pickProduct(random);
  let timeUs = startUs;
  const events: SessionEvent[] = [step(random, prices, 'Search', productIndex, timeUs)];
  if (!random.chance(FUNNEL.viewAfterSearch)) return events;

  timeUs += gapUs(random, GAPS.searchToView);
  events.push(step(random, prices, 'ViewContent', productIndex, timeUs));
  for (let views = 1; ; views++) {
    if (random.chance(FUNNEL.cartAfterView * CART_PROPENSITY[user.segment])) break;
    if (views >= FUNNEL.maxViews || !random.chance(FUNNEL.anotherView)) return events;
    productIndex = similarProduct(random, population, productIndex);
    timeUs += gapUs(random, GAPS.viewToView);
    events.push(step(random, prices, 'ViewContent', productIndex, timeUs));
  }

  timeUs += gapUs(random, GAPS.viewToCart);
  events.push(step(random, prices, 'AddToCart', productIndex, timeUs));
  timeUs += gapUs(random, GAPS.cartToPurchase);
  if (!random.chance(FUNNEL.purchaseAfterCart * prices.demandFactorAt(productIndex, timeUs))) return events;
  events.push({ ...step(random, prices, 'Purchase', productIndex, timeUs), quantity: quantity(random) });
  return events;
}

function step(random: Random, prices: Prices, name: EventName, productIndex: number, timeUs: number): SessionEvent {
  const [minViewed, maxViewed] = PERCENT_VIEWED[name];
  return {
    name,
    timeUs,
    productIndex,
    price: prices.priceAt(productIndex, timeUs),
    timeOnData: random.int(...TIME_ON_DATA[name]),
    percentViewed: Math.round(random.between(minViewed, maxViewed) * 10) / 10,
    quantity: 0,
  };
}

/** Seconds on the page, by step. */
const TIME_ON_DATA: Record<EventName, [number, number]> = {
  Search: [2, 40],
  ViewContent: [5, 180],
  AddToCart: [1, 30],
  Purchase: [10, 120],
};

/** Share of the page scrolled, by step. */
const PERCENT_VIEWED: Record<EventName, [number, number]> = {
  Search: [5, 60],
  ViewContent: [10, 100],
  AddToCart: [40, 100],
  Purchase: [70, 100],
};

function similarProduct(random: Random, population: Population, productIndex: number): number {
  const category = population.products[productIndex]?.category;
  const candidates = category === undefined ? undefined : population.productsByCategory.get(category);
  return candidates && candidates.length > 0 ? random.pick(candidates) : population.pickProduct(random);
}

function gapUs(random: Random, [min, max]: readonly [number, number]): number {
  return Math.floor(random.between(min, max) * SECOND_US);
}

function quantity(random: Random): number {
  const draw = random.float();
  return draw < 0.8 ? 1 : draw < 0.95 ? 2 : 3;
}
