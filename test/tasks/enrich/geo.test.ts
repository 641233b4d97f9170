import { BlockList, isIP } from 'node:net';
import * as os from 'node:os';
import fc from 'fast-check';
import { GEO_DATABASE_PACKAGE, GeoLocator, ipPrefix } from '../../../tasks/enrich/geo';
import { InvalidInputError, NotFoundError } from '../../../tasks/ports/errors';

const NOWHERE = { country: null, region: null, city: null };

describe('GeoLocator', () => {
  let geo: GeoLocator;
  beforeAll(async () => {
    geo = await GeoLocator.open();
  });

  it('locates IPv4 addresses to country code, first-level region and city', () => {
    expect(geo.locate('8.8.8.8')).toMatchObject({ country: 'US', region: 'California' });
    expect(geo.locate('81.2.69.160')).toEqual({ country: 'GB', region: 'England', city: 'London' });
  });

  it('locates IPv6 addresses, and IPv4-mapped ones as IPv4', () => {
    expect(geo.locate('2a00:1450:4001::1').country).toBe('DE');
    expect(geo.locate('::ffff:81.2.69.160')).toEqual(geo.locate('81.2.69.160'));
  });

  it.each(['10.0.0.1', '192.168.1.20', '127.0.0.1', '::1', 'fe80::1%eth0'])('knows no location for the private address %s', (ip) => {
    expect(geo.locate(ip)).toEqual(NOWHERE);
  });

  it.each(['', 'localhost', '256.1.1.1', '81.2.69.160:443', ' 8.8.8.8'])('knows no location for the invalid input %j', (ip) => {
    expect(geo.locate(ip)).toEqual(NOWHERE);
  });

  it('gives from its cache exactly what the database gives, also in a /24 the database splits', async () => {
    const uncached = await GeoLocator.open({ cacheSize: 0 });
    const cached = await GeoLocator.open();
    // /24s that DB-IP splits between cities (e.g. Romulus MI and Little Rock AR): a cache that
    // assumed one location per /24 would answer wrongly for part of each.
    const split = ['40.140.78', '176.176.67', '190.218.89', '64.108.5'];
    const hosts = split.flatMap((network) => Array.from({ length: 254 }, (_, i) => `${network}.${i + 1}`));
    const truth = hosts.map((ip) => uncached.locate(ip));
    expect(new Set(truth.map((location) => location.city)).size).toBeGreaterThan(split.length);
    expect(hosts.map((ip) => cached.locate(ip))).toEqual(truth);
    expect(hosts.map((ip) => cached.locate(ip))).toEqual(truth);
  });

  it('gives the same answer cached or not for random addresses', async () => {
    const uncached = await GeoLocator.open({ cacheSize: 0 });
    const small = await GeoLocator.open({ cacheSize: 16 });
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { minLength: 1, maxLength: 50 }), (ips) => {
        for (const ip of [...ips, ...ips]) expect(small.locate(ip)).toEqual(uncached.locate(ip));
      }),
      { numRuns: 100 },
    );
  });

  it('names the package when the database files are missing', async () => {
    const open = GeoLocator.open({ directory: os.tmpdir() });
    await expect(open).rejects.toBeInstanceOf(NotFoundError);
    await expect(open).rejects.toThrow(GEO_DATABASE_PACKAGE);
  });

  it('refuses impossible settings', async () => {
    await expect(GeoLocator.open({ ipv4PrefixLength: 33 })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(GeoLocator.open({ cacheSize: -1 })).rejects.toBeInstanceOf(InvalidInputError);
  });
});

describe('ipPrefix', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['8.8.8.8', '8.8.8.0/24'],
    ['0.0.0.0', '0.0.0.0/24'],
    ['255.255.255.255', '255.255.255.0/24'],
    ['2001:4860:4860::8888', '2001:4860:4860::/48'],
    ['2001:0DB8:85A3:0000:0000:8A2E:0370:7334', '2001:db8:85a3::/48'],
    ['2001:db8::1', '2001:db8::/48'],
    ['2001:0:0:1::1', '2001::/48'],
    ['fe80::1%eth0', 'fe80::/48'],
    ['::1', '::/48'],
    ['::ffff:81.2.69.160', '81.2.69.0/24'],
    ['::ffff:5102:45a0', '81.2.69.0/24'],
  ])('truncates %s to %s', (ip, prefix) => {
    expect(ipPrefix(ip)).toBe(prefix);
  });

  it('takes the prefix lengths as settings', () => {
    expect(ipPrefix('203.0.113.77', { ipv4PrefixLength: 16 })).toBe('203.0.0.0/16');
    expect(ipPrefix('203.0.113.77', { ipv4PrefixLength: 32 })).toBe('203.0.113.77/32');
    expect(ipPrefix('203.0.113.77', { ipv4PrefixLength: 0 })).toBe('0.0.0.0/0');
    expect(ipPrefix('203.0.113.77', { ipv4PrefixLength: 20 })).toBe('203.0.112.0/20');
    expect(ipPrefix('2001:db8:85a3:12ab::1', { ipv6PrefixLength: 56 })).toBe('2001:db8:85a3:1200::/56');
    expect(ipPrefix('2001:db8:85a3:12ab:1:2:3:4', { ipv6PrefixLength: 128 })).toBe('2001:db8:85a3:12ab:1:2:3:4/128');
    // RFC 5952: the first of equally long zero runs becomes '::', a single zero group never does.
    expect(ipPrefix('2001:db8:0:0:1:0:0:1', { ipv6PrefixLength: 128 })).toBe('2001:db8::1:0:0:1/128');
    expect(ipPrefix('2001:db8:0:1:2:3:4:5', { ipv6PrefixLength: 128 })).toBe('2001:db8:0:1:2:3:4:5/128');
    expect(() => ipPrefix('8.8.8.8', { ipv4PrefixLength: 24.5 })).toThrow(InvalidInputError);
    expect(() => ipPrefix('::1', { ipv6PrefixLength: 129 })).toThrow(InvalidInputError);
  });

  it.each(['', '1.2.3', '01.2.3.4', '256.1.1.1', '1.2.3.4 ', '1.2.3.4:80', '2001:db8::1::2', 'gggg::1', 'example.com'])(
    'gives null for the invalid input %j',
    (ip) => {
      expect(ipPrefix(ip)).toBeNull();
    },
  );

  it('gives a network that contains the address, the same for every spelling of it', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const prefix = ipPrefix(ip)!;
        const [network, length] = prefix.split('/') as [string, string];
        const family = network.includes(':') ? 'ipv6' : 'ipv4';
        const block = new BlockList();
        block.addSubnet(network, Number(length), family);
        // BlockList matches an IPv4-mapped IPv6 address against IPv4 subnets.
        expect(block.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6')).toBe(true);
        expect(Number(length)).toBe(family === 'ipv4' ? 24 : 48);
        expect(ipPrefix(ip.toUpperCase())).toBe(prefix);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('GeoLocator.enrich', () => {
  it('gives the same prefix and location as ipPrefix and locate, from its cache too', async () => {
    const geo = await GeoLocator.open();
    for (const ip of ['81.2.69.160', '8.8.8.8', '10.1.2.3', '2001:4860:4860::8888', 'not an ip']) {
      const expected = { ...geo.locate(ip), ipPrefix: ipPrefix(ip) };
      expect(geo.enrich(ip)).toEqual(expected);
      expect(geo.enrich(ip)).toEqual(expected);
    }
  });
});
