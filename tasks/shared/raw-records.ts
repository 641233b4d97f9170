import { isUtf8 } from 'node:buffer';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';

/**
 * The one reader of raw Firehose objects: gzip or plain, records separated by newlines or
 * concatenated with no separator (`}{`). Every byte of an object ends up in exactly one record,
 * except whitespace between records, so nothing is dropped silently.
 */

/** Why a record could not be turned into text. */
export type RawRecordError = 'invalid_encoding' | 'too_large';

/**
 * One record of an object: its text, or the reason it has none. `recordNumber` is 1-based within the
 * object: with the object key, the record's source. `bytes` is a view into the decoded object, not a copy.
 */
export type RawRecord =
  | { readonly recordNumber: number; readonly bytes: Buffer; readonly text: string; readonly error?: undefined }
  | { readonly recordNumber: number; readonly bytes: Buffer; readonly text?: undefined; readonly error: RawRecordError };

export interface ReadRawRecordsOptions {
  /**
   * Records longer than this many bytes are yielded with error `too_large` and not decoded.
   * @default 1 MiB
   */
  readonly maxRecordBytes?: number;
  /**
   * Reads only the first this many stored (possibly compressed) bytes of the object, as a crawler's
   * sample; the record that the end of the sample cuts is not yielded. Unset: the whole object.
   */
  readonly sampleBytes?: number;
}

export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

/**
 * The records of one raw object, in order.
 *
 * Splitting rules:
 * - A newline always ends a record (a valid single-line JSON record cannot contain a raw newline).
 * - Within a line, a record ends where its top-level object (or array) closes; nesting and strings
 *   are tracked on bytes, which is safe in UTF-8 because every delimiter is ASCII.
 * - A record that is cut short and followed directly by the next record on the same line ends just
 *   before that record's `{`, detected where valid JSON could not continue: a `{` that follows
 *   anything but `:` (or `[` / `,` inside an array), or a string that closes right after a `{` and
 *   is followed by something other than `:` `,` `}` `]` (the cut fell inside a string and the
 *   next record's first key closed it). The cut record alone is lost and the next one is read
 *   intact. A cut right after `:` (or inside an array) cannot be told from a nested value: the
 *   next record is read as that value and lost with the cut one; the records after it are intact.
 * - Bytes between records that cannot start one (anything but `{` or `[`) form their own record,
 *   so that they are reported instead of silently skipped. Whitespace-only stretches and a UTF-8
 *   byte order mark are not records.
 *
 * A gzip object (magic bytes 1f 8b) is decompressed first; a truncated stream yields the records
 * of its readable prefix, and an undecodable stream is yielded as one `invalid_encoding` record
 * holding the whole object.
 */
export function* readRawRecords(body: Uint8Array, options: ReadRawRecordsOptions = {}): Generator<RawRecord> {
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const sampled = options.sampleBytes !== undefined && body.length > options.sampleBytes;
  const stored = sampled ? body.subarray(0, options.sampleBytes) : body;
  const data = decodeObject(stored);
  if (data === undefined) {
    yield { recordNumber: 1, bytes: toBuffer(stored), error: 'invalid_encoding' };
    return;
  }
  const scanner = new RecordScanner(data);
  for (let recordNumber = 1; scanner.next(); recordNumber++) {
    const { start, end } = scanner;
    // In a sample, the record that reaches the end of the data may be cut: it is dropped, whatever it holds.
    if (sampled && scanner.atEnd) return;
    const bytes = data.subarray(start, end);
    if (bytes.length > maxRecordBytes) yield { recordNumber, bytes, error: 'too_large' };
    // isUtf8 + toString is a strict decode (no U+FFFD substitution), about twice as fast as a fatal TextDecoder.
    else if (!isUtf8(bytes)) yield { recordNumber, bytes, error: 'invalid_encoding' };
    else yield { recordNumber, bytes, text: data.toString('utf8', start, end) };
  }
}

/** A record's JSON object, or `malformed_json` when the text is not JSON or not a JSON object. */
export function parseRecordText(text: string): Record<string, unknown> | 'malformed_json' {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'malformed_json';
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : 'malformed_json';
}

function decodeObject(body: Uint8Array): Buffer | undefined {
  const buffer = toBuffer(body);
  if (buffer.length < 2 || buffer[0] !== 0x1f || buffer[1] !== 0x8b) return buffer;
  try {
    // SYNC_FLUSH returns what a truncated stream holds instead of throwing "unexpected end of file".
    return gunzipSync(buffer, { finishFlush: zlibConstants.Z_SYNC_FLUSH, chunkSize: inflateChunkSize(buffer) });
  } catch {
    return undefined;
  }
}

const MIN_INFLATE_CHUNK = 64 * 1024;
const MAX_INFLATE_CHUNK = 256 * 1024 * 1024;
// Deflate's best case is about 1032 bytes out for each byte in.
const MAX_INFLATE_RATIO = 1032;

/**
 * An output chunk big enough for the whole decompressed object, from the size the gzip trailer states, so
 * that zlib fills one buffer instead of thousands of 16 KiB ones copied together at the end (a third of
 * the time it takes to inflate a Firehose object). One byte more than the size, for zlib to see the end
 * with room left. The trailer of a truncated or multi-member stream is not that size, hence the bounds:
 * a wrong guess costs copies or an unused allocation, never a wrong result.
 */
function inflateChunkSize(gzip: Buffer): number {
  const statedSize = gzip.length >= 4 ? gzip.readUInt32LE(gzip.length - 4) : 0;
  return Math.max(MIN_INFLATE_CHUNK, Math.min(statedSize + 1, MAX_INFLATE_CHUNK, gzip.length * MAX_INFLATE_RATIO));
}

function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const BOM_0 = 0xef;
const BOM_1 = 0xbb;
const BOM_2 = 0xbf;

/** What the scanner is inside of. */
const BETWEEN = 0;
const STRUCTURED = 1;
const JUNK = 2;

/** Container kinds on the nesting stack. */
const OBJECT = 1;
const ARRAY = 2;

/**
 * Finds the records of `data` one at a time, per the rules of `readRawRecords`. The scan is a plain
 * loop over bytes with its state in locals (the same loop inside a generator runs at half the
 * speed), and it jumps over strings with `indexOf`, which is where most bytes of a record are.
 */
class RecordScanner {
  /** The [start, end) range of the record the last `next()` found. */
  start = 0;
  end = 0;
  private position = 0;
  /** The next newline at or after `position` (or the data's length); found once per line. */
  private lineEnd = -1;
  /** Where the next record starts when the scan already entered it (a resync), else -1. */
  private begunAt = -1;

  constructor(private readonly data: Buffer) {}

  /** Whether the last record found reached the end of the data. */
  get atEnd(): boolean {
    return this.position >= this.data.length;
  }

  /** Moves to the next record; false at the end of the data. */
  next(): boolean {
    const data = this.data;
    const length = data.length;
    // Nesting of the current record: tells whether a `{` after `,` may nest (in an array) or not (in an object).
    const containers: number[] = [];
    let mode = BETWEEN;
    let start = 0;
    // The last significant byte outside strings (QUOTE once a string closed).
    let previous = 0;
    // Whether a string just closed at `stringEnd`, and the `{` right before that quote (a resync candidate) or -1.
    let afterString = false;
    let stringEnd = -1;
    let braceBeforeQuote = -1;
    if (this.begunAt >= 0) {
      mode = STRUCTURED;
      start = this.begunAt;
      containers.push(OBJECT);
      previous = OPEN_BRACE;
    }

    for (let i = this.position; i < length; i++) {
      const byte = data[i]!;

      if (mode === STRUCTURED) {
        if (byte === LF) return this.found(start, trimEnd(data, start, i), i + 1);
        if (byte === SPACE || byte === TAB || byte === CR) continue;
        if (afterString) {
          afterString = false;
          if (braceBeforeQuote >= 0 && byte !== COLON && byte !== COMMA && byte !== CLOSE_BRACE && byte !== CLOSE_BRACKET) {
            // The string was cut short and the next record's first key closed it: that record starts at the `{`,
            // and the quote that seemed to close the string opens its first key.
            return this.found(start, trimEnd(data, start, braceBeforeQuote), stringEnd, braceBeforeQuote);
          }
        }
        switch (byte) {
          case QUOTE: {
            if (this.lineEnd < i) this.lineEnd = indexOrEnd(data, LF, i);
            const close = closingQuote(data, i + 1, this.lineEnd);
            // A string still open at the end of the line: the newline ends the record.
            if (close < 0) i = this.lineEnd - 1;
            else {
              i = close;
              afterString = true;
              stringEnd = close;
              braceBeforeQuote = braceBefore(data, start, close);
            }
            break;
          }
          case OPEN_BRACE:
            if (previous !== COLON && !(containers[containers.length - 1] === ARRAY && (previous === OPEN_BRACKET || previous === COMMA))) {
              // Valid JSON cannot open an object here: the current record was cut short and a new one begins.
              return this.found(start, trimEnd(data, start, i), i + 1, i);
            }
            containers.push(OBJECT);
            break;
          case OPEN_BRACKET:
            containers.push(ARRAY);
            break;
          case CLOSE_BRACE:
          case CLOSE_BRACKET:
            containers.pop();
            if (containers.length === 0) return this.found(start, i + 1, i + 1);
            break;
        }
        previous = byte;
        continue;
      }

      if (byte === LF || byte === SPACE || byte === TAB || byte === CR) {
        if (mode === JUNK && byte === LF) return this.found(start, trimEnd(data, start, i), i + 1);
        continue;
      }
      if (byte === BOM_0 && mode === BETWEEN && data[i + 1] === BOM_1 && data[i + 2] === BOM_2) {
        i += 2;
        continue;
      }
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        if (mode === JUNK) return this.found(start, trimEnd(data, start, i), i);
        mode = STRUCTURED;
        start = i;
        containers.push(byte === OPEN_BRACE ? OBJECT : ARRAY);
        previous = byte;
        continue;
      }
      if (mode === BETWEEN) {
        mode = JUNK;
        start = i;
      }
    }
    this.position = length;
    return mode === BETWEEN ? false : this.found(start, trimEnd(data, start, length), length);
  }

  private found(start: number, end: number, resume: number, begunAt = -1): true {
    this.start = start;
    this.end = end;
    this.position = resume;
    this.begunAt = begunAt;
    return true;
  }
}

/** The first unescaped quote in [from, limit), or -1: a quote is escaped when an odd run of backslashes precedes it. */
function closingQuote(data: Buffer, from: number, limit: number): number {
  let j = from;
  for (;;) {
    const quote = data.indexOf(QUOTE, j);
    if (quote < 0 || quote >= limit) return -1;
    let backslashes = 0;
    for (let k = quote - 1; k >= from && data[k] === BACKSLASH; k--) backslashes++;
    if ((backslashes & 1) === 0) return quote;
    j = quote + 1;
  }
}

function indexOrEnd(data: Buffer, byte: number, from: number): number {
  const index = data.indexOf(byte, from);
  return index < 0 ? data.length : index;
}

/** The position of a `{` that directly precedes (whitespace aside) the quote at `quote`, or -1. */
function braceBefore(data: Uint8Array, start: number, quote: number): number {
  let j = quote - 1;
  while (j > start && (data[j] === SPACE || data[j] === TAB || data[j] === CR)) j -= 1;
  return j > start && data[j] === OPEN_BRACE ? j : -1;
}

function trimEnd(data: Uint8Array, start: number, end: number): number {
  let e = end;
  while (e > start && (data[e - 1] === SPACE || data[e - 1] === TAB || data[e - 1] === CR)) e -= 1;
  return e;
}
