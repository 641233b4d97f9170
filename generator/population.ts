import { Random } from './random';

export type Segment = 'new' | 'returning' | 'loyal';
export type CategoryName = 'sneakers' | 'running' | 'basketball' | 'apparel' | 'accessories';

export interface User {
  readonly userId: string;
  readonly name: string;
  readonly segment: Segment;
  /** Stable public IPv4 address of the user's home network. */
  readonly ip: string;
  /** The tracking pixel the user's browser carries. */
  readonly pixelId: string;
}

export interface Product {
  readonly productId: number;
  readonly name: string;
  readonly category: CategoryName;
  readonly basePrice: number;
  readonly cost: number;
  readonly inventory: number;
  /** d ln(demand) / d ln(price): what the generator simulates and a price model is scored against. */
  readonly trueElasticity: number;
}

export interface Population {
  readonly users: readonly User[];
  readonly products: readonly Product[];
  /** Product indexes by category, for browsing within a category. */
  readonly productsByCategory: ReadonlyMap<CategoryName, readonly number[]>;
  /** A user drawn by activity: loyal customers visit more often than new ones. */
  pickUser(random: Random): User;
  /** A product index drawn by popularity (a Zipf-like long tail). */
  pickProduct(random: Random): number;
}

const USER_COUNT = 2_000;
const PRODUCT_COUNT = 200;

interface CategorySpec {
  readonly name: CategoryName;
  readonly elasticity: number;
  readonly priceRange: readonly [number, number];
  readonly models: readonly string[];
}

/** Essentials are less price-sensitive than impulse buys. */
const CATEGORIES: readonly CategorySpec[] = [
  { name: 'sneakers', elasticity: -1.4, priceRange: [60, 220], models: ['Court Classic', 'Street Low', 'Retro High', 'Canvas Slip-On', 'Suede Trainer'] },
  { name: 'running', elasticity: -1.1, priceRange: [80, 250], models: ['Tempo Runner', 'Trail Blazer', 'Marathon Pro', 'Cushion Glide', 'Speed Racer'] },
  { name: 'basketball', elasticity: -0.8, priceRange: [90, 300], models: ['Hoop Elite', 'Dunk Master', 'Court Vision', 'Rebound Mid', 'Fast Break'] },
  { name: 'apparel', elasticity: -1.9, priceRange: [20, 120], models: ['Performance Tee', 'Track Jacket', 'Fleece Hoodie', 'Running Shorts', 'Training Tights'] },
  { name: 'accessories', elasticity: -2.5, priceRange: [8, 60], models: ['Sport Socks', 'Gym Bag', 'Cap', 'Water Bottle', 'Headband'] },
];

const BRANDS = ['Aero', 'Apex', 'Bolt', 'Nimbus', 'Vertex', 'Stride', 'Pulse', 'Summit', 'Orbit', 'Flux'];

const FIRST_NAMES = [
  'Olivia', 'Liam', 'Emma', 'Noah', 'Amelia', 'Oliver', 'Sophia', 'Elijah', 'Mia', 'Lucas', 'Hana', 'Kenji',
  'Lena', 'Jonas', 'Chloe', 'Louis', 'Priya', 'Arjun', 'Ana', 'Mateus', 'Isla', 'Jack', 'Zoe', 'Semyon',
  'Fatima', 'Omar', 'Wei', 'Mei', 'Sofia', 'Leon', 'Grace', 'Ethan', 'Yuki', 'Ravi', 'Clara', 'Hugo',
];

const LAST_NAMES = [
  'Smith', 'Johnson', 'Brown', 'Garcia', 'Miller', 'Davis', 'Martin', 'Muller', 'Schmidt', 'Dubois', 'Bernard',
  'Tanaka', 'Sato', 'Suzuki', 'Patel', 'Sharma', 'Silva', 'Santos', 'Wilson', 'Taylor', 'Thompson', 'Ryan',
  'Nguyen', 'Chen', 'Wang', 'Li', 'Kowalski', 'Rossi', 'Lopez', 'Clark', 'Walker', 'Young', 'Khan', 'Ali',
];

const SEGMENTS: readonly { readonly segment: Segment; readonly share: number; readonly visitWeight: number }[] = [
  { segment: 'new', share: 0.5, visitWeight: 1 },
  { segment: 'returning', share: 0.35, visitWeight: 3 },
  { segment: 'loyal', share: 0.15, visitWeight: 6 },
];

/**
 * Public IPv4 blocks of consumer ISPs, each checked against a whois-based geolocation database to sit in one
 * country, so that geolocation enrichment has real answers. No private, shared or reserved space.
 */
const IP_BLOCKS: readonly { readonly country: string; readonly weight: number; readonly cidrs: readonly string[] }[] = [
  { country: 'US', weight: 35, cidrs: ['73.0.0.0/8', '24.0.0.0/12', '169.235.0.0/16'] },
  { country: 'DE', weight: 12, cidrs: ['79.192.0.0/10', '87.128.0.0/10'] },
  { country: 'GB', weight: 12, cidrs: ['86.128.0.0/10', '81.128.0.0/12'] },
  { country: 'FR', weight: 8, cidrs: ['90.0.0.0/11', '90.32.0.0/11'] },
  { country: 'JP', weight: 8, cidrs: ['126.0.0.0/10', '126.64.0.0/10'] },
  { country: 'CA', weight: 6, cidrs: ['99.224.0.0/11'] },
  { country: 'IN', weight: 6, cidrs: ['117.192.0.0/10'] },
  { country: 'AU', weight: 5, cidrs: ['1.128.0.0/11'] },
  { country: 'BR', weight: 5, cidrs: ['177.32.0.0/12'] },
  { country: 'CN', weight: 3, cidrs: ['111.32.0.0/14', '112.0.0.0/10'] },
];

/** Resolution of the weighted-pick tables: weights are approximated to 1/65536, finer than any one user's share. */
const PICK_TABLE_SIZE = 65_536;

/** The same users and products for the same seed, whatever the hours generated. */
export function createPopulation(seed: number): Population {
  const random = Random.of(seed, 0x5e0b1e);
  const users = Array.from({ length: USER_COUNT }, (_, i) => createUser(random, i + 1));
  const products = createProducts(random, PRODUCT_COUNT);
  const productsByCategory = new Map<CategoryName, number[]>(CATEGORIES.map((c) => [c.name, []]));
  products.forEach((product, index) => productsByCategory.get(product.category)?.push(index));
  const userTable = pickTable(users.map((user) => visitWeightOf(user.segment)));
  // Popularity falls off as 1/rank^0.8 in a shuffled order, so the best sellers are spread over categories.
  const productTable = pickTable(products.map((_, index) => 1 / (index + 1) ** 0.8));
  return {
    users,
    products,
    productsByCategory,
    pickUser: (r) => users[userTable[Math.floor(r.float() * PICK_TABLE_SIZE)] as number] as User,
    pickProduct: (r) => productTable[Math.floor(r.float() * PICK_TABLE_SIZE)] as number,
  };
}

function createUser(random: Random, id: number): User {
  const draw = random.float();
  let cumulative = 0;
  const segment = SEGMENTS.find((s) => (cumulative += s.share) > draw)?.segment ?? 'new';
  return {
    userId: String(id),
    name: `${random.pick(FIRST_NAMES)} ${random.pick(LAST_NAMES)}`,
    segment,
    ip: publicIp(random),
    pixelId: random.alnum(10),
  };
}

function visitWeightOf(segment: Segment): number {
  return SEGMENTS.find((s) => s.segment === segment)?.visitWeight ?? 1;
}

function createProducts(random: Random, count: number): Product[] {
  const ids = new Set<number>();
  while (ids.size < count) ids.add(random.int(100_000, 999_999));
  return [...ids].map((productId) => {
    const spec = random.pick(CATEGORIES);
    const basePrice = round2(random.between(spec.priceRange[0], spec.priceRange[1]));
    return {
      productId,
      name: `${random.pick(BRANDS)} ${random.pick(spec.models)} ${random.int(1, 9)}`,
      category: spec.name,
      basePrice,
      cost: round2(basePrice * random.between(0.35, 0.7)),
      inventory: random.int(20, 1_000),
      trueElasticity: spec.elasticity,
    };
  });
}

function publicIp(random: Random): string {
  const totalWeight = IP_BLOCKS.reduce((sum, block) => sum + block.weight, 0);
  let draw = random.float() * totalWeight;
  const block = IP_BLOCKS.find((b) => (draw -= b.weight) < 0) ?? (IP_BLOCKS[0] as (typeof IP_BLOCKS)[number]);
  const [base, length] = random.pick(block.cidrs).split('/') as [string, string];
  const start = base.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(length));
  // Host part chosen so that the last octet is never 0 or 255 (network or broadcast in a /24).
  const address = start + Math.floor(random.float() * (size / 256)) * 256 + random.int(1, 254);
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/** Index table for O(1) weighted picks: entry i holds the item at cumulative share (i + 0.5) / size. */
function pickTable(weights: readonly number[]): Uint32Array {
  const total = weights.reduce((sum, w) => sum + w, 0);
  const table = new Uint32Array(PICK_TABLE_SIZE);
  let item = 0;
  let cumulative = (weights[0] ?? 0) / total;
  for (let i = 0; i < PICK_TABLE_SIZE; i++) {
    const quantile = (i + 0.5) / PICK_TABLE_SIZE;
    while (cumulative < quantile && item < weights.length - 1) cumulative += (weights[++item] ?? 0) / total;
    table[i] = item;
  }
  return table;
}

export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** One line of `dims/users/users.jsonl`. */
export function userRow(user: User): { user_id: string; name: string; segment: Segment } {
  return { user_id: user.userId, name: user.name, segment: user.segment };
}

/** One line of `dims/products.jsonl`. */
export function productRow(product: Product): Record<string, string | number> {
  return {
    product_id: product.productId,
    name: product.name,
    category: product.category,
    base_price: product.basePrice,
    cost: product.cost,
    inventory: product.inventory,
    true_elasticity: product.trueElasticity,
  };
}
