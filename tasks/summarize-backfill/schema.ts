import { z } from 'zod';
import { parseTaskInput } from '../shared/task-input';

/**
 * One Map iteration's result: `{}` for an hour whose child execution succeeded (nothing more, so that
 * a long range stays within the state payload limit), or a failure recorded by RecordFailedHour.
 */
const recordedHourSchema = z.object({
  hour: z.string(),
  status: z.string(),
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
});

export const hourResultSchema = z.union([z.object({}).strict(), recordedHourSchema]);

export const summarizeBackfillInputSchema = z.object({
  from: z.string(),
  to: z.string(),
  results: z.array(hourResultSchema),
});

/** A result that names its hour: a failure (or, from a backfill started by an earlier version, a success). */
export type RecordedHour = z.output<typeof recordedHourSchema>;
export type SummarizeBackfillInput = z.output<typeof summarizeBackfillInputSchema>;

export function parseSummarizeBackfillInput(input: unknown): SummarizeBackfillInput {
  return parseTaskInput(summarizeBackfillInputSchema, input, 'backfill summary', '{"from", "to", "results": [{} or {"hour", "status", "error"?}]}');
}
