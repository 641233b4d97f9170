import fc from 'fast-check';
import { clickRecord, formatIsoMicros, formatTimestamp, serializeClick } from '../../generator/click-record';
import type { EventName } from '../../generator/sessions';

const EVENT_NAMES: EventName[] = ['Search', 'ViewContent', 'AddToCart', 'Purchase'];

describe('formatTimestamp', () => {
  it('writes UTC with microseconds, as the seed sample does', () => {
    const us = Date.UTC(2021, 6, 12, 12, 1, 58) * 1000 + 732_726;
    expect(formatTimestamp(us)).toBe('2021-07-12 12:01:58.732726');
    expect(formatIsoMicros(us)).toBe('2021-07-12T12:01:58.732726Z');
    expect(formatTimestamp(Date.UTC(2020, 1, 29) * 1000)).toBe('2020-02-29 00:00:00.000000');
  });

  it('agrees with Date for any instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 0, max: 999 }), (ms, extraUs) => {
        const text = formatTimestamp(ms * 1000 + extraUs);
        return text === `${new Date(ms).toISOString().slice(0, 23).replace('T', ' ')}${String(extraUs).padStart(3, '0')}`;
      }),
    );
  });
});

describe('serializeClick', () => {
  it('writes exactly what JSON.stringify writes', () => {
    fc.assert(
      fc.property(
        fc.record({
          timeUs: fc.integer({ min: 1_500_000_000_000_000, max: 1_900_000_000_000_000 }),
          name: fc.constantFrom(...EVENT_NAMES),
          price: fc.integer({ min: 1, max: 1_000_000 }).map((cents) => cents / 100),
          percentViewed: fc.integer({ min: 0, max: 1_000 }).map((tenths) => tenths / 10),
          timeOnData: fc.nat(10_000),
          userId: fc.nat(100_000).map(String),
          productId: fc.integer({ min: 100_000, max: 999_999 }),
        }),
        (e) => {
          const record = clickRecord(
            { name: e.name, timeUs: e.timeUs, productIndex: 0, price: e.price, timeOnData: e.timeOnData, percentViewed: e.percentViewed, quantity: 0 },
            { userId: e.userId, pixelId: 'wjgao4w1oi', userIp: '111.33.64.227', productId: e.productId, clickId: 'a5cf179b9c9d483abf6d424d44a293be', clientTimeUs: e.timeUs, clientSendTimeUs: e.timeUs + 28 },
          );
          return serializeClick(record) === JSON.stringify(record);
        },
      ),
    );
  });
});
