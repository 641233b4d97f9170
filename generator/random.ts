import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

const TWO_POW_32 = 2 ** 32;
const HEX = '0123456789abcdef';
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Every 16-bit value as 4 hex digits: click ids are the hottest strings the generator makes. */
const HEX4 = Array.from({ length: 0x10000 }, (_, value) => value.toString(16).padStart(4, '0'));

/**
 * Hashes integers (any safe integer, negative included) into one 32-bit seed.
 * Sub-streams are seeded by what they stand for (seed, hour, day, window), so that one stream's
 * draws never shift another's.
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = mix32(h ^ (part | 0));
    h = mix32(h ^ (Math.floor(part / TWO_POW_32) | 0));
  }
  return h;
}

function mix32(value: number): number {
  // The murmur3 finalizer: every input bit flips each output bit with probability near 1/2.
  let h = Math.imul(value ^ (value >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** A seeded stream of random values: the only source of randomness in the generator. */
export class Random {
  private constructor(private readonly generator: RandomGenerator) {}

  /** A stream determined by `parts` alone. */
  static of(...parts: number[]): Random {
    const seed = mixSeed(...parts);
    // xoroshiro128plus(seed) starts from a sparse state whose first outputs are alike for close seeds.
    const state = [mixSeed(seed, 1), mixSeed(seed, 2), mixSeed(seed, 3), mixSeed(seed, 4) | 1];
    return new Random(xoroshiro128plusFromState(state));
  }

  /** Uniform in [0, 1), 32 bits of resolution: plenty for a simulation and one draw per call. */
  float(): number {
    return (this.generator.next() >>> 0) / TWO_POW_32;
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)] as T;
  }

  /** Log-uniform in [min, max): as many values between 1 and 10 as between 10 and 100, as delays are. */
  logUniform(min: number, max: number): number {
    return min * Math.exp(Math.log(max / min) * this.float());
  }

  exponential(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** `words * 8` lowercase hex digits. */
  hex(words: number): string {
    let out = '';
    for (let i = 0; i < words; i++) {
      const word = this.generator.next();
      out += HEX4[word >>> 16] + (HEX4[word & 0xffff] as string);
    }
    return out;
  }

  alnum(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += ALNUM[Math.floor(this.float() * ALNUM.length)];
    return out;
  }

  /** A random (version 4, RFC 9562 variant) UUID. */
  uuidV4(): string {
    const digits = this.hex(4).split('');
    digits[12] = '4';
    digits[16] = HEX[8 + (parseInt(digits[16] as string, 16) & 3)] as string;
    const h = digits.join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}
