import { createPopulation } from '../../generator/population';
import { DAY_US, PriceBook } from '../../generator/prices';
import { Random } from '../../generator/random';

/** Private, shared, loopback, link-local, documentation, benchmarking, multicast and reserved IPv4 space. */
const NOT_PUBLIC = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
];

function toNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, length] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(length));
  return Math.floor(toNumber(ip) / size) === Math.floor(toNumber(base) / size);
}

describe('createPopulation', () => {
  const population = createPopulation(1);

  it('is the same for the same seed and differs for another', () => {
    expect(createPopulation(1)).toEqual(expect.objectContaining({ users: population.users, products: population.products }));
    expect(createPopulation(2).users).not.toEqual(population.users);
  });

  it('gives every user a stable public IPv4 address', () => {
    for (const user of population.users) {
      expect(user.ip).toMatch(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
      expect(user.ip.split('.').every((octet) => Number(octet) <= 255)).toBe(true);
      expect(NOT_PUBLIC.filter((cidr) => inCidr(user.ip, cidr))).toEqual([]);
    }
    expect(new Set(population.users.map((user) => user.ip.split('.')[0])).size).toBeGreaterThan(10);
  });

  it('mixes segments and draws loyal users more often than new ones', () => {
    const segments = new Set(population.users.map((user) => user.segment));
    expect(segments).toEqual(new Set(['new', 'returning', 'loyal']));
    const random = Random.of(5);
    const visits = { new: 0, returning: 0, loyal: 0 };
    for (let i = 0; i < 20_000; i++) visits[population.pickUser(random).segment]++;
    const perUser = (segment: keyof typeof visits): number =>
      visits[segment] / population.users.filter((user) => user.segment === segment).length;
    expect(perUser('loyal')).toBeGreaterThan(3 * perUser('new'));
  });

  it('gives products unique ids, a cost below the base price, and a popularity long tail', () => {
    const ids = population.products.map((product) => product.productId);
    expect(new Set(ids).size).toBe(200);
    for (const product of population.products) {
      expect(product.productId).toBeGreaterThanOrEqual(100_000);
      expect(product.cost).toBeLessThan(product.basePrice);
      expect(product.cost).toBeGreaterThan(0);
    }
    const random = Random.of(6);
    const views = new Array<number>(200).fill(0);
    for (let i = 0; i < 50_000; i++) {
      const index = population.pickProduct(random);
      views[index] = (views[index] ?? 0) + 1;
    }
    expect(views[0]).toBeGreaterThan(10 * (views[199] as number));
    expect(views.every((count) => count > 0)).toBe(true);
  });
});

describe('PriceBook', () => {
  const { products } = createPopulation(1);
  const dayUs = Date.UTC(2021, 6, 12) * 1000;

  it('moves prices by at most 25 % around the base price, differently per day', () => {
    const prices = new PriceBook(1, products);
    const ratios = products.map((product, index) => prices.priceAt(index, dayUs) / product.basePrice);
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(0.749);
    expect(Math.max(...ratios)).toBeLessThanOrEqual(1.251);
    expect(ratios.filter((ratio) => ratio < 0.95).length).toBeGreaterThan(20);
    expect(prices.priceAt(0, dayUs)).toBe(prices.priceAt(0, dayUs + DAY_US - 1));
    const nextDay = products.map((_, index) => prices.priceAt(index, dayUs + DAY_US));
    expect(nextDay).not.toEqual(products.map((_, index) => prices.priceAt(index, dayUs)));
  });

  it('agrees with a fresh book whatever days were asked for first', () => {
    const warm = new PriceBook(1, products);
    warm.priceAt(3, dayUs - 5 * DAY_US);
    expect(warm.priceAt(3, dayUs)).toBe(new PriceBook(1, products).priceAt(3, dayUs));
  });

  it('scales demand by (price / base) ^ elasticity', () => {
    const prices = new PriceBook(1, products);
    products.forEach((product, index) => {
      const expected = (prices.priceAt(index, dayUs) / product.basePrice) ** product.trueElasticity;
      expect(prices.demandFactorAt(index, dayUs)).toBeCloseTo(expected, 12);
    });
  });
});
