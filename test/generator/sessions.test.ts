import { createPopulation } from '../../generator/population';
import type { Prices } from '../../generator/prices';
import { Random } from '../../generator/random';
import { MAX_SESSION_SPAN_US, simulateSession } from '../../generator/sessions';
import type { SessionEvent } from '../../generator/sessions';

const population = createPopulation(1);
const START_US = Date.UTC(2021, 6, 12, 12) * 1000;

/** Every product at its base price, bought `factor` times as readily as at the base price. */
function fixedPrices(factor: number): Prices {
  return {
    priceAt: (index) => population.products[index]?.basePrice ?? 0,
    demandFactorAt: () => factor,
  };
}

function simulate(sessions: number, prices: Prices, seed = 1): SessionEvent[][] {
  const random = Random.of(seed);
  return Array.from({ length: sessions }, () => simulateSession(random, population, prices, population.pickUser(random), START_US));
}

const ORDER = ['Search', 'ViewContent', 'AddToCart', 'Purchase'];

describe('simulateSession', () => {
  const sessions = simulate(20_000, fixedPrices(1));

  it('walks the funnel in order, in event time order, within the longest span', () => {
    const faults = sessions.flatMap((events) => {
      const found: string[] = [];
      if (events[0]?.name !== 'Search' || events[0].timeUs !== START_US) found.push('does not start with a Search');
      events.slice(1).forEach((current, i) => {
        const previous = events[i] as SessionEvent;
        if (ORDER.indexOf(current.name) < ORDER.indexOf(previous.name)) found.push(`${current.name} after ${previous.name}`);
        if (current.name === previous.name && current.name !== 'ViewContent') found.push(`two ${current.name}`);
        if (current.timeUs - previous.timeUs < 1_000_000) found.push('events less than a second apart');
      });
      if ((events[events.length - 1] as SessionEvent).timeUs - START_US > MAX_SESSION_SPAN_US) found.push('too long');
      return found;
    });
    expect(faults).toEqual([]);
  });

  it('drops off at each step of the funnel', () => {
    const reached = (name: string): number => sessions.filter((events) => events.some((event) => event.name === name)).length;
    const views = reached('ViewContent') / sessions.length;
    const carts = reached('AddToCart') / reached('ViewContent');
    const purchases = reached('Purchase') / reached('AddToCart');
    expect(views).toBeGreaterThan(0.57);
    expect(views).toBeLessThan(0.63);
    expect(carts).toBeGreaterThan(0.3);
    expect(carts).toBeLessThan(0.5);
    expect(purchases).toBeGreaterThan(0.36);
    expect(purchases).toBeLessThan(0.44);
    expect(sessions.some((events) => events.filter((event) => event.name === 'ViewContent').length > 2)).toBe(true);
  });

  it('buys in proportion to the demand factor of the price', () => {
    const purchases = (factor: number): number =>
      simulate(20_000, fixedPrices(factor), 2).filter((events) => events.some((event) => event.name === 'Purchase')).length;
    const ratio = purchases(2) / purchases(0.5);
    expect(ratio).toBeGreaterThan(3.4);
    expect(ratio).toBeLessThan(4.6);
  });

  it('records the price and quantity of what was bought', () => {
    const faults = sessions.flat().flatMap((event) => {
      const found: string[] = [];
      if (event.price !== population.products[event.productIndex]?.basePrice) found.push(`price ${event.price}`);
      if (event.quantity > 0 !== (event.name === 'Purchase')) found.push(`quantity ${event.quantity} for ${event.name}`);
      if (!(event.percentViewed >= 0 && event.percentViewed <= 100)) found.push(`percent viewed ${event.percentViewed}`);
      return found;
    });
    expect(faults).toEqual([]);
  });
});
