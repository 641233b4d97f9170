import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DataFile } from '../ports/catalog';
import type { ObjectStore } from '../ports/object-store';
import { rejectsFileKey } from '../curated/layout';
import { arrivalHourOfKey } from '../shared/hours';
import type { StagedRecords } from './stage-object';
import type { ObjectStager } from './stage-pool';
import type { ValidationRules } from './validate-record';

/** One raw object read by a merge, as the staged rows refer to it. */
export interface StagedObject extends DataFile {
  readonly index: number;
  readonly arrivalHour: string;
  readonly records: number;
}

export interface StagedInput {
  /** CSV of the accepted events, one line each (see `STAGED_COLUMNS`). */
  readonly file: string;
  readonly objects: readonly StagedObject[];
  readonly recordsRead: number;
  /** Records that passed validation, before deduplication. */
  readonly valid: number;
  readonly rejectedByReason: Record<string, number>;
  /** Rejects files written, by arrival hour. */
  readonly rejectFiles: ReadonlyMap<string, DataFile[]>;
}

export interface StagingOptions {
  readonly rules: ValidationRules;
  readonly maxRecordBytes: number;
  readonly stage: ObjectStager;
  /** Objects staged at once; each holds its decoded bytes in memory while it is in flight. */
  readonly parallelism: number;
}

/**
 * Reads every record of `objects`, validates it, writes the accepted ones to a scratch CSV file for
 * DuckDB and the rejected ones, whole and with their reason, to one rejects file per object.
 * Up to `parallelism` objects are staged at once; results are written in object order, so memory
 * holds only the objects in flight, not the hour.
 */
export async function stageObjects(objects: readonly DataFile[], store: ObjectStore, options: StagingOptions): Promise<StagedInput> {
  await fs.mkdir(store.scratchDir, { recursive: true });
  const file = path.join(store.scratchDir, `stage-${randomUUID()}.csv`);
  const out = await fs.open(file, 'w');
  const rejectedByReason: Record<string, number> = {};
  const rejectFiles = new Map<string, DataFile[]>();
  const staged: StagedObject[] = [];
  let recordsRead = 0;
  let valid = 0;
  const inFlight: { object: DataFile; index: number; arrivalHour: string; result: Promise<StagedRecords> }[] = [];
  const settle = async () => {
    const { object, index, arrivalHour, result } = inFlight.shift()!;
    const records = await result;
    if (records.csv.length > 0) await out.writev(records.csv);
    recordsRead += records.records;
    valid += records.valid;
    for (const [reason, n] of Object.entries(records.rejectedByReason)) rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + n;
    staged.push({ ...object, index, arrivalHour, records: records.records });
    if (records.rejects.length > 0) {
      const key = rejectsFileKey(arrivalHour, object.key);
      const body = `${records.rejects.map((line) => JSON.stringify(line)).join('\n')}\n`;
      await store.put(key, body);
      const files = rejectFiles.get(arrivalHour) ?? [];
      files.push({ key, size: Buffer.byteLength(body), records: records.rejects.length });
      rejectFiles.set(arrivalHour, files);
    }
  };
  try {
    for (const [index, object] of objects.entries()) {
      const arrivalHour = arrivalHourOfKey(object.key);
      if (!arrivalHour) continue;
      if (inFlight.length >= options.parallelism) await settle();
      const body = await store.get(object.key);
      const result = options.stage({ body, key: object.key, index, rules: options.rules, maxRecordBytes: options.maxRecordBytes });
      // Handled when settled in turn; this keeps an early failure from surfacing as unhandled meanwhile.
      result.catch(() => undefined);
      inFlight.push({ object, index, arrivalHour, result });
    }
    while (inFlight.length > 0) await settle();
  } finally {
    await out.close();
  }
  return { file, objects: staged, recordsRead, valid, rejectedByReason, rejectFiles };
}
