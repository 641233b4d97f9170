import fc from 'fast-check';
import { HOUR_IN_MS, hourStartMs } from '../../../tasks/shared/hours';
import {
  arrivalTimeOfKey,
  DEFAULT_VALIDATION_RULES,
  parseTimestampMicros,
  VALIDATION_REJECT_REASONS,
  validateRecord,
  type RecordSource,
  type Validation,
  type ValidationRejectReason,
  type ValidEvent,
} from '../../../tasks/merge/validate-record';

const ARRIVAL_HOUR = '2021-07-12T05';
const KEY = 'raw/2021/07/12/05/clickstream-1-2021-07-12-05-10-00-6f1c2a7e-93b4-4c1d-8e0f-5a6b7c8d9e0f.gz';
const SOURCE: RecordSource = {
  key: KEY,
  recordNumber: 7,
  arrivalHour: ARRIVAL_HOUR,
  arrivalHourStartMs: hourStartMs(ARRIVAL_HOUR),
  arrivalTimeMs: Date.UTC(2021, 6, 12, 5, 10, 0),
};
const MINUTE_US = 60_000_000;
const HOUR_US = HOUR_IN_MS * 1000;
const DAY_US = 24 * HOUR_US;
const HOUR_START_US = SOURCE.arrivalHourStartMs * 1000;
const HOUR_END_US = HOUR_START_US + HOUR_US;

/** A record as the tracking client sends it. */
function typical(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: '2021-07-12 05:03:12.732726',
    user_id: 'u-1842',
    pixel_id: 'px-7',
    click_id: '9f86d081884c7d659a2feaa0c55ad015',
    insertion_timestamp: '2021-07-12 05:03:14.000250',
    event_name: 'Add to cart',
    user_ip: '81.2.69.160',
    additional_data: { time_on_data: 42, percent_viewed: 37.5, product_id: 1017, price: 59.9 },
    ...overrides,
  };
}

function accept(record: Record<string, unknown>, source: RecordSource = SOURCE): ValidEvent {
  const validation = validateRecord(record, source);
  if (!validation.ok) throw new Error(`expected the record to be accepted, got ${validation.reason}`);
  return validation.event;
}

function reasonOf(validation: Validation): string | undefined {
  return validation.ok ? undefined : validation.reason;
}

/** Micros of a UTC date-time, with the sub-second part given in micros. */
function utcMicros(year: number, month: number, day: number, hour: number, minute: number, second: number, micros = 0): number {
  return Date.UTC(year, month - 1, day, hour, minute, second) * 1000 + micros;
}

function without(record: Record<string, unknown>, field: string): Record<string, unknown> {
  const copy = { ...record };
  delete copy[field];
  return copy;
}

describe('validateRecord', () => {
  it('turns a typical record into a typed event', () => {
    expect(accept(typical())).toEqual({
      clickId: '9f86d081884c7d659a2feaa0c55ad015',
      eventTimeMicros: utcMicros(2021, 7, 12, 5, 3, 12, 732_726),
      sentTimeMicros: utcMicros(2021, 7, 12, 5, 3, 14, 250),
      derivedTimeMicros: utcMicros(2021, 7, 12, 5, 10, 0) - (2_000_000 - 732_726 + 250),
      eventName: 'Add to cart',
      userId: 'u-1842',
      pixelId: 'px-7',
      productId: 1017,
      price: 59.9,
      percentViewed: 37.5,
      timeOnData: 42,
      extra: null,
      userIp: '81.2.69.160',
    });
  });

  it('accepts a record with only the required fields', () => {
    expect(accept({ click_id: 'c', timestamp: '2021-07-12 05:00:00', event_name: 'Search' })).toEqual({
      clickId: 'c',
      eventTimeMicros: utcMicros(2021, 7, 12, 5, 0, 0),
      sentTimeMicros: null,
      derivedTimeMicros: null,
      eventName: 'Search',
      userId: null,
      pixelId: null,
      productId: null,
      price: null,
      percentViewed: null,
      timeOnData: null,
      extra: null,
      userIp: null,
    });
  });

  it('treats null like an absent field', () => {
    const event = accept(typical({ user_id: null, pixel_id: null, insertion_timestamp: null, additional_data: null, user_ip: null }));
    expect([event.userId, event.pixelId, event.sentTimeMicros, event.productId, event.userIp, event.extra]).toEqual([null, null, null, null, null, null]);
    expect(reasonOf(validateRecord(typical({ click_id: null }), SOURCE))).toBe('missing_field:click_id');
  });

  const rejectExamples: Record<ValidationRejectReason, Record<string, unknown>> = {
    'missing_field:click_id': without(typical(), 'click_id'),
    'invalid_field:click_id': typical({ click_id: 'x'.repeat(129) }),
    'missing_field:timestamp': without(typical(), 'timestamp'),
    'invalid_field:timestamp': typical({ timestamp: '2021-02-30 10:00:00' }),
    'missing_field:event_name': without(typical(), 'event_name'),
    'invalid_field:event_name': typical({ event_name: '' }),
    'invalid_field:user_id': typical({ user_id: { id: 5 } }),
    'invalid_field:pixel_id': typical({ pixel_id: 17 }),
    'invalid_field:insertion_timestamp': typical({ insertion_timestamp: 'yesterday' }),
    'invalid_field:additional_data': typical({ additional_data: '[1, 2]' }),
    'invalid_field:additional_data.product_id': typical({ additional_data: { product_id: 10.5 } }),
    'invalid_field:additional_data.price': typical({ additional_data: { price: 'free' } }),
    'invalid_field:additional_data.percent_viewed': typical({ additional_data: { percent_viewed: true } }),
    'invalid_field:additional_data.time_on_data': typical({ additional_data: { time_on_data: '4.5' } }),
    future_timestamp: typical({ timestamp: '2021-07-12 08:00:00' }),
    too_late: typical({ timestamp: '2021-06-01 00:00:00' }),
  };

  it.each(Object.entries(rejectExamples))('rejects with %s', (reason, record) => {
    expect(validateRecord(record, SOURCE)).toEqual({ ok: false, reason });
  });

  it('has an example for every reason it lists, in the listed order', () => {
    expect(Object.keys(rejectExamples)).toEqual([...VALIDATION_REJECT_REASONS]);
  });

  it.each<[string, unknown]>([
    ['a number', 1_626_066_192],
    ['an empty string', ''],
    ['129 characters', 'a'.repeat(129)],
    ['a boolean', true],
  ])('rejects a click_id that is %s', (_, clickId) => {
    expect(reasonOf(validateRecord(typical({ click_id: clickId }), SOURCE))).toBe('invalid_field:click_id');
  });

  it('counts click_id length in characters, not UTF-16 units', () => {
    expect(accept(typical({ click_id: '😀'.repeat(128) })).clickId).toHaveLength(256);
    expect(reasonOf(validateRecord(typical({ click_id: '😀'.repeat(129) }), SOURCE))).toBe('invalid_field:click_id');
    expect(accept(typical({ click_id: 'a'.repeat(128) })).clickId).toHaveLength(128);
    const strict = { ...DEFAULT_VALIDATION_RULES, maxClickIdLength: 8 };
    expect(reasonOf(validateRecord(typical({ click_id: 'a'.repeat(9) }), SOURCE, strict))).toBe('invalid_field:click_id');
  });

  it('reports the first problem in the listed order when a record has several', () => {
    const record = { timestamp: 12, event_name: '', additional_data: 5 };
    expect(reasonOf(validateRecord(record, SOURCE))).toBe('missing_field:click_id');
    expect(reasonOf(validateRecord({ ...record, click_id: 'c' }, SOURCE))).toBe('invalid_field:timestamp');
    expect(reasonOf(validateRecord(typical({ timestamp: '2021-07-20 00:00:00', additional_data: 5 }), SOURCE))).toBe('invalid_field:additional_data');
  });

  it('keeps event names beyond the known four', () => {
    expect(accept(typical({ event_name: 'Wishlist' })).eventName).toBe('Wishlist');
  });

  it('stores a numeric user_id as its decimal string', () => {
    expect(accept(typical({ user_id: 1842 })).userId).toBe('1842');
    expect(accept(typical({ user_id: 0 })).userId).toBe('0');
    expect(accept(typical({ user_id: 12.5 })).userId).toBe('12.5');
    expect(reasonOf(validateRecord(typical({ user_id: false }), SOURCE))).toBe('invalid_field:user_id');
    expect(reasonOf(validateRecord(typical({ user_id: Number.NaN }), SOURCE))).toBe('invalid_field:user_id');
  });

  it('reads additional_data sent as a string holding a JSON object', () => {
    const event = accept(typical({ additional_data: '{"time_on_data":42,"percent_viewed":37.5,"product_id":1017,"price":59.9,"coupon":"JULY"}' }));
    expect([event.productId, event.price, event.percentViewed, event.timeOnData]).toEqual([1017, 59.9, 37.5, 42]);
    expect(JSON.parse(event.extra!)).toEqual({ additional_data: { coupon: 'JULY' } });
  });

  it.each<[string, unknown]>([
    ['a JSON array string', '[1]'],
    ['a JSON number string', '42'],
    ['a string that is no JSON', '{"product_id": 1'],
    ['an array', [{ product_id: 1 }]],
    ['a number', 7],
    ['a boolean', true],
  ])('rejects additional_data that is %s', (_, additionalData) => {
    expect(reasonOf(validateRecord(typical({ additional_data: additionalData }), SOURCE))).toBe('invalid_field:additional_data');
  });

  it('reads numeric strings in additional_data and rejects anything else', () => {
    const event = accept(typical({ additional_data: { product_id: '1017', price: '59.90', percent_viewed: '1e1', time_on_data: '-3' } }));
    expect([event.productId, event.price, event.percentViewed, event.timeOnData]).toEqual([1017, 59.9, 10, -3]);
    const cases: [string, unknown, string][] = [
      ['product_id', 2 ** 53, 'invalid_field:additional_data.product_id'],
      ['product_id', '12.0', 'invalid_field:additional_data.product_id'],
      ['product_id', ' 12', 'invalid_field:additional_data.product_id'],
      ['price', '', 'invalid_field:additional_data.price'],
      ['price', 'Infinity', 'invalid_field:additional_data.price'],
      ['price', '1e999', 'invalid_field:additional_data.price'],
      ['price', '0x1f', 'invalid_field:additional_data.price'],
      ['percent_viewed', [50], 'invalid_field:additional_data.percent_viewed'],
      ['time_on_data', 4.5, 'invalid_field:additional_data.time_on_data'],
    ];
    for (const [field, value, reason] of cases) {
      expect([field, value, reasonOf(validateRecord(typical({ additional_data: { [field]: value } }), SOURCE))]).toEqual([field, value, reason]);
    }
  });

  it('puts unknown fields into extra: top-level ones as sent, unknown additional_data fields under "additional_data"', () => {
    const event = accept(
      typical({
        app_version: '5.1.0',
        screen: { width: 390, height: 844 },
        additional_data: { product_id: 1, coupon: 'JULY', tags: ['a'] },
      }),
    );
    expect(JSON.parse(event.extra!)).toEqual({ app_version: '5.1.0', screen: { width: 390, height: 844 }, additional_data: { coupon: 'JULY', tags: ['a'] } });
    expect(accept(typical()).extra).toBeNull();
  });

  it('keeps a "__proto__" field as an ordinary unknown field', () => {
    const record = JSON.parse('{"click_id":"c","timestamp":"2021-07-12 05:00:00","event_name":"Search","__proto__":{"polluted":1}}') as Record<string, unknown>;
    expect(JSON.parse(accept(record).extra!)).toEqual(JSON.parse('{"__proto__":{"polluted":1}}'));
  });

  it('keeps an event with an invalid user_ip and flags it in extra, without the text that may hold an IP', () => {
    const event = accept(typical({ user_ip: '81.2.69.160:443' }));
    expect(event.userIp).toBeNull();
    expect(JSON.parse(event.extra!)).toEqual({ user_ip_invalid: true });
    expect(event.extra).not.toContain('81.2.69');
    expect(JSON.parse(accept(typical({ user_ip: 12345 })).extra!)).toEqual({ user_ip_invalid: true });
    expect(accept(typical({ user_ip: '2001:db8::1' })).userIp).toBe('2001:db8::1');
  });

  describe('timestamps', () => {
    it.each<[string, number]>([
      ['2021-07-12 14:01:58', utcMicros(2021, 7, 12, 14, 1, 58)],
      ['2021-07-12 14:01:58.5', utcMicros(2021, 7, 12, 14, 1, 58, 500_000)],
      ['2021-07-12 14:01:58.000001', utcMicros(2021, 7, 12, 14, 1, 58, 1)],
      ['2021-07-12 14:01:58.732726', utcMicros(2021, 7, 12, 14, 1, 58, 732_726)],
      ['2021-07-12T14:01:58Z', utcMicros(2021, 7, 12, 14, 1, 58)],
      ['2021-07-12T14:01:58.732726Z', utcMicros(2021, 7, 12, 14, 1, 58, 732_726)],
      ['2021-07-12T14:01:58.5+02:00', utcMicros(2021, 7, 12, 12, 1, 58, 500_000)],
      ['2021-07-12T14:01:58+02:00', utcMicros(2021, 7, 12, 12, 1, 58)],
      ['2021-07-12T01:30:00.25-05:30', utcMicros(2021, 7, 12, 7, 0, 0, 250_000)],
      ['2021-07-12T00:00:00-00:00', utcMicros(2021, 7, 12, 0, 0, 0)],
      ['2021-07-12T23:59:59.999999+14:00', utcMicros(2021, 7, 12, 9, 59, 59, 999_999)],
      ['2020-02-29 00:00:00', utcMicros(2020, 2, 29, 0, 0, 0)],
      ['2000-02-29 00:00:00', utcMicros(2000, 2, 29, 0, 0, 0)],
      ['1969-12-31 23:59:59.999999', -1],
      ['1970-01-01T00:00:00Z', 0],
    ])('reads %s', (text, micros) => {
      expect(parseTimestampMicros(text)).toBe(micros);
    });

    it('keeps microsecond precision', () => {
      const base = utcMicros(2021, 7, 12, 5, 3, 12);
      for (const [fraction, micros] of [
        ['000001', 1],
        ['999999', 999_999],
        ['123457', 123_457],
        ['1', 100_000],
        ['01', 10_000],
      ] as const) {
        expect(accept(typical({ timestamp: `2021-07-12 05:03:12.${fraction}` })).eventTimeMicros - base).toBe(micros);
      }
    });

    it.each<[string, unknown]>([
      ['epoch seconds', 1_626_066_192.5],
      ['an impossible day', '2021-02-30 10:00:00'],
      ['Feb 29 of a common year', '2021-02-29 10:00:00'],
      ['Feb 29 of 1900', '1900-02-29 10:00:00'],
      ['month 13', '2021-13-01 10:00:00'],
      ['day 0', '2021-07-00 10:00:00'],
      ['hour 24', '2021-07-12 24:00:00'],
      ['minute 60', '2021-07-12 10:60:00'],
      ['a leap second', '2021-06-30 23:59:60'],
      ['seven fraction digits', '2021-07-12 10:00:00.1234567'],
      ['a dot without digits', '2021-07-12 10:00:00.'],
      ['a T form without zone', '2021-07-12T10:00:00'],
      ['a space form with a zone', '2021-07-12 10:00:00+00:00'],
      ['a space form with Z', '2021-07-12 10:00:00Z'],
      ['an offset without colon', '2021-07-12T10:00:00+0200'],
      ['an hours-only offset', '2021-07-12T10:00:00+02'],
      ['an offset hour 24', '2021-07-12T10:00:00+24:00'],
      ['a lowercase t', '2021-07-12t10:00:00Z'],
      ['a trailing space', '2021-07-12 10:00:00 '],
      ['a date only', '2021-07-12'],
      ['single-digit fields', '2021-7-12 10:00:00'],
      ['a signed year', '+2021-07-12T10:00:00Z'],
      ['a year whose microseconds overflow a safe integer', '9999-12-31 23:59:59'],
      ['year 50 (Date.UTC would read 1950)', '0050-07-12 10:00:00'],
      ['an RFC 2822 date', 'Mon, 12 Jul 2021 10:00:00 GMT'],
    ])('rejects %s as invalid_field:timestamp', (_, timestamp) => {
      expect(reasonOf(validateRecord(typical({ timestamp }), SOURCE))).toBe('invalid_field:timestamp');
    });

    it('rejects an unparseable insertion_timestamp, and a number', () => {
      expect(reasonOf(validateRecord(typical({ insertion_timestamp: '2021-07-12T10:00:00' }), SOURCE))).toBe('invalid_field:insertion_timestamp');
      expect(reasonOf(validateRecord(typical({ insertion_timestamp: 1_626_066_192 }), SOURCE))).toBe('invalid_field:insertion_timestamp');
    });
  });

  describe('windows', () => {
    const at = (micros: number) => typical({ timestamp: formatIso(micros, 0) });

    it('accepts an event exactly futureToleranceMs after the arrival hour ends and rejects one a microsecond later', () => {
      expect(accept(at(HOUR_END_US + HOUR_US)).eventTimeMicros).toBe(HOUR_END_US + HOUR_US);
      expect(reasonOf(validateRecord(at(HOUR_END_US + HOUR_US + 1), SOURCE))).toBe('future_timestamp');
    });

    it('accepts an event exactly lateLimitMs before the arrival hour starts and rejects one a microsecond earlier', () => {
      expect(accept(at(HOUR_START_US - 30 * DAY_US)).eventTimeMicros).toBe(HOUR_START_US - 30 * DAY_US);
      expect(reasonOf(validateRecord(at(HOUR_START_US - 30 * DAY_US - 1), SOURCE))).toBe('too_late');
    });

    it('takes both windows from the rules', () => {
      const rules = { ...DEFAULT_VALIDATION_RULES, futureToleranceMs: 0, lateLimitMs: HOUR_IN_MS };
      expect(validateRecord(at(HOUR_END_US), SOURCE, rules).ok).toBe(true);
      expect(reasonOf(validateRecord(at(HOUR_END_US + 1), SOURCE, rules))).toBe('future_timestamp');
      expect(validateRecord(at(HOUR_START_US - HOUR_US), SOURCE, rules).ok).toBe(true);
      expect(reasonOf(validateRecord(at(HOUR_START_US - HOUR_US - 1), SOURCE, rules))).toBe('too_late');
    });

    it('applies the windows to the UTC instant of an offset timestamp', () => {
      // 09:00:00+02:00 is 07:00:00Z, exactly the future limit of arrival hour 05.
      expect(validateRecord(typical({ timestamp: '2021-07-12T09:00:00+02:00' }), SOURCE).ok).toBe(true);
      expect(reasonOf(validateRecord(typical({ timestamp: '2021-07-12T09:00:00.000001+02:00' }), SOURCE))).toBe('future_timestamp');
    });
  });

  describe('derived time', () => {
    it('is the arrival time minus the client send delay', () => {
      // The client clock runs 2 hours behind: it stamped the event 10 s before sending it.
      const event = accept(typical({ timestamp: '2021-07-12 03:09:50.000001', insertion_timestamp: '2021-07-12 03:10:00' }));
      expect(event.derivedTimeMicros).toBe(SOURCE.arrivalTimeMs * 1000 - 9_999_999);
    });

    it('uses the arrival time the source gives', () => {
      const record = typical({ timestamp: '2021-07-12 05:00:00', insertion_timestamp: '2021-07-12 05:00:30' });
      const middle = { ...SOURCE, arrivalTimeMs: SOURCE.arrivalHourStartMs + HOUR_IN_MS / 2 };
      expect(accept(record, middle).derivedTimeMicros).toBe(utcMicros(2021, 7, 12, 5, 29, 30));
    });

    it('is null without a send time', () => {
      expect(accept(without(typical(), 'insertion_timestamp')).derivedTimeMicros).toBeNull();
    });
  });

  describe('properties', () => {
    const requiredFields = ['click_id', 'timestamp', 'event_name'] as const;
    const inWindow = fc.integer({ min: HOUR_START_US - 30 * DAY_US, max: HOUR_END_US + HOUR_US });
    const timestampText = fc
      .record({
        micros: inWindow,
        digits: fc.integer({ min: 0, max: 6 }),
        iso: fc.boolean(),
        offsetMinutes: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
      })
      .map(({ micros, digits, iso, offsetMinutes }) => {
        const step = 10 ** (6 - digits);
        const exact = micros - (((micros % step) + step) % step);
        return { micros: exact, text: iso ? formatIso(exact, offsetMinutes, digits) : formatSpace(exact, digits) };
      });
    const validRecord = fc.record({
      clickId: fc.string({ unit: 'binary', minLength: 1, maxLength: 128 }),
      time: timestampText,
      sent: fc.option(timestampText, { nil: undefined }),
      eventName: fc.string({ minLength: 1, maxLength: 20 }),
      userId: fc.option(fc.oneof(fc.string(), fc.integer()), { nil: undefined }),
      extra: fc.dictionary(fc.string({ maxLength: 6 }).map((key) => `x_${key}`), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      additional: fc.option(
        fc.record({ product_id: fc.maxSafeInteger(), price: fc.double({ noNaN: true, noDefaultInfinity: true }), time_on_data: fc.nat() }, { requiredKeys: [] }),
        { nil: undefined },
      ),
      stringify: fc.boolean(),
    });

    function recordOf(input: typeof validRecord extends fc.Arbitrary<infer T> ? T : never): Record<string, unknown> {
      const record: Record<string, unknown> = { ...input.extra, click_id: input.clickId, timestamp: input.time.text, event_name: input.eventName };
      if (input.sent) record.insertion_timestamp = input.sent.text;
      if (input.userId !== undefined) record.user_id = input.userId;
      if (input.additional) record.additional_data = input.stringify ? JSON.stringify(input.additional) : input.additional;
      return record;
    }

    it('accepts any valid record and keeps its click_id and event time', () => {
      fc.assert(
        fc.property(validRecord, (input) => {
          const event = accept(recordOf(input));
          expect(event.clickId).toBe(input.clickId);
          expect(event.eventTimeMicros).toBe(input.time.micros);
          expect(event.sentTimeMicros).toBe(input.sent ? input.sent.micros : null);
          expect(event.userId).toBe(input.userId === undefined ? null : String(input.userId));
          expect(event.productId).toBe(input.additional?.product_id ?? null);
          expect(event.extra === null ? {} : JSON.parse(event.extra)).toEqual(JSON.parse(JSON.stringify(input.extra)));
        }),
        { numRuns: 500 },
      );
    });

    it('rejects any record missing a required field with that field', () => {
      fc.assert(
        fc.property(validRecord, fc.constantFrom(...requiredFields), fc.boolean(), (input, field, asNull) => {
          const record = recordOf(input);
          if (asNull) record[field] = null;
          else delete record[field];
          expect(validateRecord(record, SOURCE)).toEqual({ ok: false, reason: `missing_field:${field}` });
        }),
        { numRuns: 300 },
      );
    });

    it('reads any space or ISO timestamp to the instant Date gives, to the microsecond', () => {
      fc.assert(
        fc.property(timestampText, ({ micros, text }) => {
          expect(parseTimestampMicros(text)).toBe(micros);
        }),
        { numRuns: 1000 },
      );
    });
  });
});

describe('arrivalTimeOfKey', () => {
  it('reads the buffer time from a Firehose object name', () => {
    expect(arrivalTimeOfKey(KEY)).toBe(Date.UTC(2021, 6, 12, 5, 10, 0));
    expect(arrivalTimeOfKey('raw/2021/07/12/05/click-stream-prod-12-2021-07-12-05-59-58-6f1c2a7e-93b4-4c1d-8e0f-5a6b7c8d9e0f')).toBe(
      Date.UTC(2021, 6, 12, 5, 59, 58),
    );
  });

  it.each([
    'raw/2021/07/12/05/events.jsonl',
    'raw/2021/07/12/05/clickstream-1-2021-02-30-05-10-00-6f1c2a7e.gz',
    'raw/2021/07/12/05/clickstream-1-2021-07-12-25-10-00-6f1c2a7e.gz',
    'raw/2021/07/12/05/clickstream-2021-07-12-05-10-00.gz',
    'raw/clickstream-1-2021-07-12-05-10-00-6f1c2a7e/part.gz',
  ])('gives undefined for %s', (key) => {
    expect(arrivalTimeOfKey(key)).toBeUndefined();
  });
});

/** `YYYY-MM-DDTHH:MM:SS[.f…]±HH:MM` (or `Z` for offset 0) of an instant, written in an independent way through Date. */
function formatIso(micros: number, offsetMinutes: number, digits = 6): string {
  const local = micros + offsetMinutes * MINUTE_US;
  const zone =
    offsetMinutes === 0
      ? 'Z'
      : `${offsetMinutes < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, '0')}:${String(Math.abs(offsetMinutes) % 60).padStart(2, '0')}`;
  return `${formatSpace(local, digits).replace(' ', 'T')}${zone}`;
}

function formatSpace(micros: number, digits: number): string {
  const seconds = Math.floor(micros / 1_000_000);
  const fraction = String(micros - seconds * 1_000_000).padStart(6, '0').slice(0, digits);
  const text = new Date(seconds * 1000).toISOString();
  return `${text.slice(0, 10)} ${text.slice(11, 19)}${digits === 0 ? '' : `.${fraction}`}`;
}
