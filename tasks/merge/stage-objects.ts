import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DataFile } from '../ports/catalog';
import type { ObjectStore } from '../ports/object-store';
import { rejectsFileKey, type RejectLine } from '../curated/layout';
import type { GeoLocator } from '../enrich/geo';
import { arrivalHourOfKey, hourStartMs, HOUR_IN_MS } from '../shared/hours';
import { parseRecordText, readRawRecords } from '../shared/raw-records';
import { arrivalTimeOfKey, validateRecord, type ValidationRules } from './validate-record';

/** One raw object read by a merge, as the staged rows refer to it. */
export interface StagedObject extends DataFile {
  readonly index: number;
  readonly arrivalHour: string;
  readonly records: number;
}

export interface StagedInput {
  /** Newline-delimited JSON of the accepted events, one object per line (see `STAGED_COLUMNS`). */
  readonly file: string;
  readonly objects: readonly StagedObject[];
  readonly recordsRead: number;
  /** Records that passed validation, before deduplication. */
  readonly valid: number;
  readonly rejectedByReason: Record<string, number>;
  /** Rejects files written, by arrival hour. */
  readonly rejectFiles: ReadonlyMap<string, DataFile[]>;
}

/** The fields of a staged line and the DuckDB types they are read as. */
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
  ip_prefix: 'VARCHAR',
  country: 'VARCHAR',
  region: 'VARCHAR',
  city: 'VARCHAR',
  object: 'INTEGER',
  record_number: 'INTEGER',
} as const;

const FLUSH_LINES = 20_000;

/**
 * Reads every record of `objects`, validates and enriches it, writes the accepted ones to a scratch
 * file for DuckDB and the rejected ones, whole and with their reason, to one rejects file per object.
 * Records are handled one object at a time, so memory does not grow with the hour.
 */
export async function stageObjects(
  objects: readonly DataFile[],
  store: ObjectStore,
  geo: GeoLocator,
  rules: ValidationRules,
  maxRecordBytes: number,
): Promise<StagedInput> {
  await fs.mkdir(store.scratchDir, { recursive: true });
  const file = path.join(store.scratchDir, `stage-${randomUUID()}.ndjson`);
  const out = await fs.open(file, 'w');
  const rejectedByReason: Record<string, number> = {};
  const rejectFiles = new Map<string, DataFile[]>();
  const staged: StagedObject[] = [];
  let recordsRead = 0;
  let valid = 0;
  try {
    let lines: string[] = [];
    for (const [index, object] of objects.entries()) {
      const arrivalHour = arrivalHourOfKey(object.key);
      if (!arrivalHour) continue;
      const arrivalHourStartMs = hourStartMs(arrivalHour);
      const source = {
        key: object.key,
        recordNumber: 0,
        arrivalHour,
        arrivalHourStartMs,
        arrivalTimeMs: arrivalTimeOfKey(object.key) ?? arrivalHourStartMs + HOUR_IN_MS / 2,
      };
      const rejects: RejectLine[] = [];
      const reject = (reason: string, recordNumber: number, bytes: Buffer, text: string | undefined) => {
        rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + 1;
        rejects.push({
          reason,
          source_key: object.key,
          record_number: recordNumber,
          arrival_hour: arrivalHour,
          record: text ?? null,
          record_base64: text === undefined ? bytes.toString('base64') : null,
        });
      };
      let records = 0;
      for (const record of readRawRecords(await store.get(object.key), { maxRecordBytes })) {
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
        const location = event.userIp === null ? undefined : geo.enrich(event.userIp);
        lines.push(
          JSON.stringify({
            click_id: event.clickId,
            event_us: event.eventTimeMicros,
            sent_us: event.sentTimeMicros,
            derived_us: event.derivedTimeMicros,
            event_name: event.eventName,
            user_id: event.userId,
            pixel_id: event.pixelId,
            product_id: event.productId,
            price: event.price,
            percent_viewed: event.percentViewed,
            time_on_data: event.timeOnData,
            extra: event.extra,
            ip_prefix: location?.ipPrefix ?? null,
            country: location?.country ?? null,
            region: location?.region ?? null,
            city: location?.city ?? null,
            object: index,
            record_number: record.recordNumber,
          }),
        );
        valid += 1;
        if (lines.length >= FLUSH_LINES) {
          await out.write(`${lines.join('\n')}\n`);
          lines = [];
        }
      }
      recordsRead += records;
      staged.push({ ...object, index, arrivalHour, records });
      if (rejects.length > 0) {
        const key = rejectsFileKey(arrivalHour, object.key);
        const body = `${rejects.map((line) => JSON.stringify(line)).join('\n')}\n`;
        await store.put(key, body);
        const files = rejectFiles.get(arrivalHour) ?? [];
        files.push({ key, size: Buffer.byteLength(body), records: rejects.length });
        rejectFiles.set(arrivalHour, files);
      }
    }
    if (lines.length > 0) await out.write(`${lines.join('\n')}\n`);
  } finally {
    await out.close();
  }
  return { file, objects: staged, recordsRead, valid, rejectedByReason, rejectFiles };
}
