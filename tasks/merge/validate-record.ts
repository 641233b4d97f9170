import { isIP } from 'node:net';
import { HOUR_IN_MS } from '../shared/hours';

/**
 * Validation of one parsed raw record into a curated event (issue 3, "Rules"). It runs for every
 * record of every hour, so the happy path parses by character codes, throws nothing, and allocates
 * only the event it returns; a reject returns a shared, frozen result.
 *
 * Decisions the contract leaves open:
 * - `null` is the same as absent, for required fields (`missing_field:<name>`) and optional ones.
 * - Optional fields of the wrong type reject the record (`invalid_field:<name>`), except `user_ip`:
 *   a bad IP never costs the event (see `userIp`).
 * - When a record has several problems, the reason is the first in `VALIDATION_REJECT_REASONS`.
 * - Both windows are inclusive: an event exactly `futureToleranceMs` after the arrival hour ends, or
 *   exactly `lateLimitMs` before it starts, is accepted; one microsecond beyond is rejected.
 * - Timestamps are valid only while their microseconds are a safe integer (years ~1685 to ~2255),
 *   so that no precision is lost; anything outside is `invalid_field`.
 */

/** Where a record came from: its object, position, and the Firehose arrival hour of the object. */
export interface RecordSource {
  readonly key: string;
  /** 1-based within the object. */
  readonly recordNumber: number;
  /** 'YYYY-MM-DDTHH' (UTC) */
  readonly arrivalHour: string;
  readonly arrivalHourStartMs: number;
  /**
   * When the object's records reached Firehose: `arrivalTimeOfKey(key)`, or the middle of the arrival
   * hour when the key carries no time. The base of the derived (skew-corrected) time.
   */
  readonly arrivalTimeMs: number;
}

export interface ValidationRules {
  /**
   * How far after the end of the arrival hour an event time may lie (client clocks run ahead).
   * @default 1 hour
   */
  readonly futureToleranceMs: number;
  /**
   * How far before the start of the arrival hour an event time may lie (clients buffer offline).
   * @default 30 days
   */
  readonly lateLimitMs: number;
  /**
   * The longest `click_id`, in characters (code points).
   * @default 128
   */
  readonly maxClickIdLength: number;
}

export const DEFAULT_VALIDATION_RULES: ValidationRules = Object.freeze({
  futureToleranceMs: HOUR_IN_MS,
  lateLimitMs: 30 * 24 * HOUR_IN_MS,
  maxClickIdLength: 128,
});

/** An accepted record, typed; times are integer microseconds since the epoch (UTC). */
export interface ValidEvent {
  clickId: string;
  eventTimeMicros: number;
  /** The client's `insertion_timestamp`. */
  sentTimeMicros: number | null;
  /** Arrival time minus the client's send delay (Snowplow's derived_tstamp); null without a send time. */
  derivedTimeMicros: number | null;
  eventName: string;
  userId: string | null;
  pixelId: string | null;
  productId: number | null;
  price: number | null;
  percentViewed: number | null;
  timeOnData: number | null;
  /**
   * JSON text of one object holding the unknown top-level fields as sent, the unknown
   * `additional_data` fields under `"additional_data"`, and `"user_ip_invalid"` (see `userIp`);
   * null when there is none of these.
   */
  extra: string | null;
  /**
   * The client IP when `user_ip` is an IPv4 or IPv6 literal, else null. A `user_ip` that is present
   * but not an IP literal is flagged in `extra` as `"user_ip_invalid": true`, and the event is accepted.
   * Its text is not kept: something like `81.2.69.160:443` would carry a raw IP into the curated table
   * (the raw object still has it).
   */
  userIp: string | null;
}

/** Every reason `validateRecord` rejects for, in the order it checks them (the reader's reasons come before). */
export const VALIDATION_REJECT_REASONS = [
  'missing_field:click_id',
  'invalid_field:click_id',
  'missing_field:timestamp',
  'invalid_field:timestamp',
  'missing_field:event_name',
  'invalid_field:event_name',
  'invalid_field:user_id',
  'invalid_field:pixel_id',
  'invalid_field:insertion_timestamp',
  'invalid_field:additional_data',
  'invalid_field:additional_data.product_id',
  'invalid_field:additional_data.price',
  'invalid_field:additional_data.percent_viewed',
  'invalid_field:additional_data.time_on_data',
  'future_timestamp',
  'too_late',
] as const;

export type ValidationRejectReason = (typeof VALIDATION_REJECT_REASONS)[number];

export type Validation = { ok: true; event: ValidEvent } | { ok: false; reason: ValidationRejectReason };


const REJECTED = Object.fromEntries(VALIDATION_REJECT_REASONS.map((reason) => [reason, Object.freeze({ ok: false, reason })])) as {
  readonly [R in ValidationRejectReason]: { ok: false; reason: R };
};

/**
 * Validates a parsed record (a JSON object) and turns it into a typed event, or says why not.
 * Pure: the same record, source and rules always give the same answer.
 */
export function validateRecord(value: Record<string, unknown>, source: RecordSource, rules: ValidationRules = DEFAULT_VALIDATION_RULES): Validation {
  let clickId: unknown;
  let timestamp: unknown;
  let eventName: unknown;
  let userId: unknown;
  let pixelId: unknown;
  let insertionTimestamp: unknown;
  let additionalData: unknown;
  let userIp: unknown;
  let extra: Record<string, unknown> | undefined;
  // One pass reads the known fields and collects the unknown ones; a null-prototype object keeps a
  // client's "__proto__" key an ordinary field.
  for (const key in value) {
    switch (key) {
      case 'click_id':
        clickId = value[key];
        break;
      case 'timestamp':
        timestamp = value[key];
        break;
      case 'event_name':
        eventName = value[key];
        break;
      case 'user_id':
        userId = value[key];
        break;
      case 'pixel_id':
        pixelId = value[key];
        break;
      case 'insertion_timestamp':
        insertionTimestamp = value[key];
        break;
      case 'additional_data':
        additionalData = value[key];
        break;
      case 'user_ip':
        userIp = value[key];
        break;
      default:
        (extra ??= Object.create(null) as Record<string, unknown>)[key] = value[key];
    }
  }

  if (clickId === undefined || clickId === null) return REJECTED['missing_field:click_id'];
  if (typeof clickId !== 'string' || clickId.length === 0 || !withinCodePoints(clickId, rules.maxClickIdLength)) {
    return REJECTED['invalid_field:click_id'];
  }
  if (timestamp === undefined || timestamp === null) return REJECTED['missing_field:timestamp'];
  const eventTimeMicros = typeof timestamp === 'string' ? parseTimestampMicros(timestamp) : Number.NaN;
  if (Number.isNaN(eventTimeMicros)) return REJECTED['invalid_field:timestamp'];
  if (eventName === undefined || eventName === null) return REJECTED['missing_field:event_name'];
  if (typeof eventName !== 'string' || eventName.length === 0) return REJECTED['invalid_field:event_name'];

  let userIdText: string | null = null;
  if (typeof userId === 'string') userIdText = userId;
  else if (typeof userId === 'number' && Number.isFinite(userId)) userIdText = String(userId);
  else if (userId !== undefined && userId !== null) return REJECTED['invalid_field:user_id'];

  if (pixelId !== undefined && pixelId !== null && typeof pixelId !== 'string') return REJECTED['invalid_field:pixel_id'];

  let sentTimeMicros: number | null = null;
  if (insertionTimestamp !== undefined && insertionTimestamp !== null) {
    sentTimeMicros = typeof insertionTimestamp === 'string' ? parseTimestampMicros(insertionTimestamp) : Number.NaN;
    if (Number.isNaN(sentTimeMicros)) return REJECTED['invalid_field:insertion_timestamp'];
  }

  let productId: number | null = null;
  let price: number | null = null;
  let percentViewed: number | null = null;
  let timeOnData: number | null = null;
  if (additionalData !== undefined && additionalData !== null) {
    const data = typeof additionalData === 'string' ? parseJsonObject(additionalData) : additionalData;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return REJECTED['invalid_field:additional_data'];
    let extraData: Record<string, unknown> | undefined;
    let rawProductId: unknown;
    let rawPrice: unknown;
    let rawPercentViewed: unknown;
    let rawTimeOnData: unknown;
    const fields = data as Record<string, unknown>;
    for (const key in fields) {
      switch (key) {
        case 'product_id':
          rawProductId = fields[key];
          break;
        case 'price':
          rawPrice = fields[key];
          break;
        case 'percent_viewed':
          rawPercentViewed = fields[key];
          break;
        case 'time_on_data':
          rawTimeOnData = fields[key];
          break;
        default:
          (extraData ??= Object.create(null) as Record<string, unknown>)[key] = fields[key];
      }
    }
    if (rawProductId !== undefined && rawProductId !== null) {
      productId = toSafeInteger(rawProductId);
      if (Number.isNaN(productId)) return REJECTED['invalid_field:additional_data.product_id'];
    }
    if (rawPrice !== undefined && rawPrice !== null) {
      price = toFiniteNumber(rawPrice);
      if (Number.isNaN(price)) return REJECTED['invalid_field:additional_data.price'];
    }
    if (rawPercentViewed !== undefined && rawPercentViewed !== null) {
      percentViewed = toFiniteNumber(rawPercentViewed);
      if (Number.isNaN(percentViewed)) return REJECTED['invalid_field:additional_data.percent_viewed'];
    }
    if (rawTimeOnData !== undefined && rawTimeOnData !== null) {
      timeOnData = toSafeInteger(rawTimeOnData);
      if (Number.isNaN(timeOnData)) return REJECTED['invalid_field:additional_data.time_on_data'];
    }
    if (extraData !== undefined) (extra ??= Object.create(null) as Record<string, unknown>).additional_data = extraData;
  }

  const hourStartMs = source.arrivalHourStartMs;
  if (eventTimeMicros > (hourStartMs + HOUR_IN_MS + rules.futureToleranceMs) * 1000) return REJECTED.future_timestamp;
  if (eventTimeMicros < (hourStartMs - rules.lateLimitMs) * 1000) return REJECTED.too_late;

  let userIpText: string | null = null;
  if (typeof userIp === 'string' && isIP(userIp) !== 0) userIpText = userIp;
  else if (userIp !== undefined && userIp !== null) {
    // Written last, so it wins over a client field of the same name: it is the pipeline's own note.
    (extra ??= Object.create(null) as Record<string, unknown>).user_ip_invalid = true;
  }

  return {
    ok: true,
    event: {
      clickId,
      eventTimeMicros,
      sentTimeMicros,
      derivedTimeMicros: sentTimeMicros === null ? null : source.arrivalTimeMs * 1000 - (sentTimeMicros - eventTimeMicros),
      eventName,
      userId: userIdText,
      pixelId: (pixelId as string | null | undefined) ?? null,
      productId,
      price,
      percentViewed,
      timeOnData,
      extra: extra === undefined ? null : JSON.stringify(extra),
      userIp: userIpText,
    },
  };
}

// `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<random>` is Firehose's default object name.
const FIREHOSE_NAME_TIME = /-\d+-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-[^/]+$/;

/**
 * The time (epoch ms, UTC) in a Firehose object name, `<stream>-<n>-YYYY-MM-DD-HH-MM-SS-<uuid>`,
 * or undefined when the key's last segment has no such time or it is no real date.
 */
export function arrivalTimeOfKey(key: string): number | undefined {
  const match = FIREHOSE_NAME_TIME.exec(key.slice(key.lastIndexOf('/') + 1));
  if (!match) return undefined;
  const micros = parseTimestampMicros(`${match[1]}-${match[2]}-${match[3]} ${match[4]}:${match[5]}:${match[6]}`);
  return Number.isNaN(micros) ? undefined : micros / 1000;
}

const MAX_SAFE_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000) - 1;
const FRACTION_SCALE = [0, 100_000, 10_000, 1_000, 100, 10, 1];
const DASH = 0x2d;
const COLON = 0x3a;
const DOT = 0x2e;
const SPACE = 0x20;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;
const PLUS = 0x2b;

/**
 * Integer microseconds since the epoch of `YYYY-MM-DD HH:MM:SS[.f{1,6}]` (UTC), or of
 * `YYYY-MM-DDTHH:MM:SS[.f{1,6}]` followed by `Z` or `±HH:MM`; NaN for anything else, including
 * impossible dates and times (Feb 30, 24:00, leap second 60) and a `T` form without a zone.
 * Parsed by character codes: Date would lose the microseconds and accepts far more than the contract.
 */
export function parseTimestampMicros(text: string): number {
  const length = text.length;
  if (length < 19) return Number.NaN;
  const century = twoDigits(text, 0);
  const yearOfCentury = twoDigits(text, 2);
  const year = century < 0 || yearOfCentury < 0 ? -1 : century * 100 + yearOfCentury;
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  const separator = text.charCodeAt(10);
  if (
    text.charCodeAt(4) !== DASH ||
    text.charCodeAt(7) !== DASH ||
    (separator !== SPACE && separator !== LETTER_T) ||
    text.charCodeAt(13) !== COLON ||
    text.charCodeAt(16) !== COLON ||
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  ) {
    return Number.NaN;
  }

  let position = 19;
  let fraction = 0;
  if (text.charCodeAt(position) === DOT) {
    let count = 0;
    for (position += 1; position < length; position++) {
      const digit = text.charCodeAt(position) - 48;
      if (digit < 0 || digit > 9) break;
      fraction = fraction * 10 + digit;
      count += 1;
    }
    if (count === 0 || count > 6) return Number.NaN;
    fraction *= FRACTION_SCALE[count]!;
  }

  let offsetSeconds = 0;
  if (separator === SPACE) {
    if (position !== length) return Number.NaN;
  } else {
    const zone = text.charCodeAt(position);
    if (zone === LETTER_Z) {
      if (position + 1 !== length) return Number.NaN;
    } else if ((zone === PLUS || zone === DASH) && position + 6 === length && text.charCodeAt(position + 3) === COLON) {
      const offsetHours = twoDigits(text, position + 1);
      const offsetMinutes = twoDigits(text, position + 4);
      if (offsetHours < 0 || offsetHours > 23 || offsetMinutes < 0 || offsetMinutes > 59) return Number.NaN;
      offsetSeconds = (zone === PLUS ? 1 : -1) * (offsetHours * 3600 + offsetMinutes * 60);
    } else {
      return Number.NaN;
    }
  }

  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds;
  if (seconds > MAX_SAFE_SECONDS || seconds < -MAX_SAFE_SECONDS) return Number.NaN;
  return seconds * 1_000_000 + fraction;
}

/** The number of the two ASCII digits at `start`, or -1 if either is not a digit (NaN past the end is neither). */
function twoDigits(text: string, start: number): number {
  const tens = text.charCodeAt(start) - 48;
  const ones = text.charCodeAt(start + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : -1;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm); Date.UTC maps years 0-99 to 1900-1999. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Whether `text` has at most `max` code points; counted only when UTF-16 length alone cannot tell. */
function withinCodePoints(text: string, max: number): boolean {
  if (text.length <= max) return true;
  if (text.length > 2 * max) return false;
  let count = 0;
  for (const _ of text) if (++count > max) return false;
  return true;
}

function parseJsonObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// Plain decimal literals only: Number() alone would also take '', ' ', '0x1f' and 'Infinity'.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** A finite number from a number or a decimal string, else NaN. */
function toFiniteNumber(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.NaN;
  if (typeof value !== 'string' || !DECIMAL.test(value)) return Number.NaN;
  const number = Number(value);
  return Number.isFinite(number) ? number : Number.NaN;
}

/** A safe integer from an integral number or a string of digits, else NaN. */
function toSafeInteger(value: unknown): number {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : Number.NaN;
  if (typeof value !== 'string' || !INTEGER.test(value)) return Number.NaN;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : Number.NaN;
}
