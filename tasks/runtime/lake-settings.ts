import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { AggregateSettings } from '../aggregate/run';
import type { CompactionSettings } from '../compact/run';
import { InvalidInputError } from '../ports/errors';
import { describeIssues } from '../shared/describe-issues';
import type { VacuumSettings } from '../vacuum/run';

/** The embedded default's settings file, at the root of the lake. */
export const LAKE_SETTINGS_FILE = 'lakehouse.json';

/** What a lake may set; every field is optional and defaults as the task documents. Unknown fields are refused, so a typo does not pass silently. */
const lakeSettingsSchema = z.strictObject({
  aggregate: z.strictObject({ parquet: z.boolean().optional(), zThreshold: z.number().positive().optional() }).optional(),
  compaction: z
    .strictObject({
      targetFileBytes: z.number().int().positive().optional(),
      maxFiles: z.number().int().positive().optional(),
      smallFileBytes: z.number().int().positive().optional(),
      minSmallFiles: z.number().int().positive().optional(),
    })
    .optional(),
  vacuum: z.strictObject({ retentionHours: z.number().positive().optional(), clickIndexRetentionHours: z.number().positive().optional() }).optional(),
});

export interface LakeSettings {
  readonly aggregate: AggregateSettings;
  readonly compaction: CompactionSettings;
  readonly vacuum: VacuumSettings;
}

/** A lake that sets nothing: every task's defaults. */
export const NO_LAKE_SETTINGS: LakeSettings = { aggregate: {}, compaction: {}, vacuum: {} };

/**
 * The settings of the lake at `lake`, from its `lakehouse.json` when there is one, for example
 * `{"aggregate": {"parquet": true}, "compaction": {"targetFileBytes": 67108864}}`. A file that is not
 * valid JSON or sets an unknown or invalid field is refused with InvalidInputError.
 */
export function readLakeSettings(lake: string): LakeSettings {
  const file = path.join(lake, LAKE_SETTINGS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return NO_LAKE_SETTINGS;
    throw error;
  }
  return parseLakeSettings(text, `lake settings ${file}`);
}

/**
 * Lake settings from their JSON text (a `lakehouse.json`, or a Lambda's LAKE_SETTINGS variable);
 * `source` names it in errors.
 */
export function parseLakeSettings(text: string, source: string): LakeSettings {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`invalid ${source}: not JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = lakeSettingsSchema.safeParse(json);
  if (!parsed.success) throw new InvalidInputError(`invalid ${source}: ${describeIssues(parsed.error)}`);
  return { aggregate: parsed.data.aggregate ?? {}, compaction: parsed.data.compaction ?? {}, vacuum: parsed.data.vacuum ?? {} };
}
