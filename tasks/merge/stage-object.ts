import type { RejectLine } from '../curated/layout';
import { arrivalHourOfKey, hourStartMs, HOUR_IN_MS } from '../shared/hours';
import { parseRecordText, readRawRecords } from '../shared/raw-records';
import { arrivalTimeOfKey, validateRecord, type ValidationRules } from './validate-record';

/** One raw object to stage: its bytes as stored, and where it sits in the merge's list of objects. */
export interface StageObjectTask {
  readonly body: Uint8Array;
  readonly key: string;
  readonly index: number;
  readonly rules: ValidationRules;
  readonly maxRecordBytes: number;
}

/** What one raw object yields: its accepted events as staging CSV, and its rejects kept whole. */
export interface StagedRecords {
  /**
   * UTF-8 CSV, one line per accepted event, fields in `STAGED_COLUMNS` order, in chunks to be written
   * one after another (none when no record was accepted). Each chunk is the only view of its memory, so
   * that a worker thread can hand the chunks over instead of copying them.
   */
  readonly csv: Uint8Array[];
  readonly records: number;
  readonly valid: number;
  readonly rejects: RejectLine[];
  readonly rejectedByReason: Record<string, number>;
}

/**
 * The staging columns, in CSV field order, with the DuckDB types they are read as. Strings are always
 * quoted and a null is an empty unquoted field, so that null and the empty string stay distinct.
 * Geolocation is not here: it is looked up once per distinct `user_ip`, after staging.
 */
export const STAGED_COLUMNS = {
  click_id: 'VARCHAR',
  event_us: 'BIGINT',
  sent_us: 'BIGINT',
  derived_us: 'BIGINT',
  event_name: 'VARCHAR',
  user_id: 'VARCHAR',
  pixel_id: 'VARCHAR',
  product_id: 'BIGINT',
  price: 'DOUBLE',
  percent_viewed: 'DOUBLE',
  time_on_data: 'BIGINT',
  extra: 'VARCHAR',
  user_ip: 'VARCHAR',
  object: 'INTEGER',
  record_number: 'INTEGER',
} as const;

/** The `read_csv` options that read staging CSV back exactly as `stageObject` wrote it. */
export const STAGED_CSV_OPTIONS = "header = false, auto_detect = false, delim = ',', quote = '\"', escape = '\"', nullstr = '', allow_quoted_nulls = false, new_line = '\\n'";

/**
 * Reads, validates and encodes every record of one raw object. Pure, and free of I/O, so that it can
 * run on worker threads: JSON parsing and validation are most of an hourly run's CPU time.
 */
export function stageObject(task: StageObjectTask): StagedRecords {
  const { key, index, rules, maxRecordBytes } = task;
  const arrivalHour = arrivalHourOfKey(key);
  if (!arrivalHour) throw new Error(`raw object key ${key} has no arrival hour`);
  const arrivalHourStartMs = hourStartMs(arrivalHour);
  const source = {
    key,
    recordNumber: 0,
    arrivalHour,
    arrivalHourStartMs,
    arrivalTimeMs: arrivalTimeOfKey(key) ?? arrivalHourStartMs + HOUR_IN_MS / 2,
  };
  const rejectedByReason: Record<string, number> = {};
  const rejects: RejectLine[] = [];
  const reject = (reason: string, recordNumber: number, bytes: Buffer, text: string | undefined) => {
    rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + 1;
    rejects.push({
      reason,
      source_key: key,
      record_number: recordNumber,
      arrival_hour: arrivalHour,
      record: text ?? null,
      record_base64: text === undefined ? bytes.toString('base64') : null,
    });
  };
  const csv = new CsvBuffer();
  let records = 0;
  let valid = 0;
  for (const record of readRawRecords(task.body, { maxRecordBytes })) {
    records += 1;
    if (record.error) {
      reject(record.error, record.recordNumber, record.bytes, record.error === 'too_large' ? record.bytes.toString('utf8') : undefined);
      continue;
    }
    const value = parseRecordText(record.text);
    if (value === 'malformed_json') {
      reject('malformed_json', record.recordNumber, record.bytes, record.text);
      continue;
    }
    source.recordNumber = record.recordNumber;
    const validation = validateRecord(value, source, rules);
    if (!validation.ok) {
      reject(validation.reason, record.recordNumber, record.bytes, record.text);
      continue;
    }
    const event = validation.event;
    csv.writeLine(
      `${text(event.clickId)},${micros(event.eventTimeMicros)},${event.sentTimeMicros === null ? '' : micros(event.sentTimeMicros)},${event.derivedTimeMicros === null ? '' : micros(event.derivedTimeMicros)},` +
      `${text(event.eventName)},${text(event.userId)},${text(event.pixelId)},${number(event.productId)},${number(event.price)},` +
      `${number(event.percentViewed)},${number(event.timeOnData)},${text(event.extra)},${text(event.userIp)},${index},${record.recordNumber}\n`,
    );
    valid += 1;
  }
  return { csv: csv.chunks(), records, valid, rejects, rejectedByReason };
}

/**
 * Encodes lines into UTF-8 as they come, so that each line's string dies young: an object's lines kept
 * as strings until the end would survive into the old generation and cost more in garbage collection
 * than the parsing itself.
 */
class CsvBuffer {
  private static readonly CHUNK_BYTES = 1 << 20;
  private readonly full: Buffer[] = [];
  private chunk = Buffer.allocUnsafe(CsvBuffer.CHUNK_BYTES);
  private offset = 0;

  writeLine(line: string): void {
    // A UTF-8 encoding takes at most 3 bytes per UTF-16 code unit.
    if (this.offset + line.length * 3 > this.chunk.length) {
      this.full.push(this.chunk.subarray(0, this.offset));
      // At least a megabyte, so never from Node's shared pool of small buffers: each chunk owns its memory.
      this.chunk = Buffer.allocUnsafe(Math.max(CsvBuffer.CHUNK_BYTES, line.length * 3));
      this.offset = 0;
    }
    this.offset += this.chunk.write(line, this.offset);
  }

  /** The lines written, as the chunks that hold them, without copying them into one buffer. */
  chunks(): Uint8Array[] {
    return [...this.full, this.chunk.subarray(0, this.offset)].filter((chunk) => chunk.byteLength > 0);
  }
}

function text(value: string | null): string {
  if (value === null) return '';
  return value.includes('"') ? `"${value.replaceAll('"', '""')}"` : `"${value}"`;
}

/**
 * A timestamp's microseconds (a safe integer) as decimal text. V8 formats integers beyond 2^31 through
 * its general double formatter, about three times slower than two small integers, and an hour has
 * three timestamps in each of millions of records.
 */
function micros(value: number): string {
  if (value < 1e9 && value > -1e9) return String(value);
  const magnitude = Math.abs(value);
  // Both exact for safe integers: the remainder, then a multiple of 1e8 divided by 1e8.
  const low = String(magnitude % 1e8);
  return `${value < 0 ? '-' : ''}${(magnitude - (magnitude % 1e8)) / 1e8}${'00000000'.slice(low.length)}${low}`;
}

function number(value: number | null): string {
  return value === null ? '' : String(value);
}
