import { z } from 'zod';
import { parseTaskInput } from '../shared/task-input';

/** One Map iteration's result: a succeeded child execution, or a failure recorded by RecordFailedHour. */
export const hourResultSchema = z.object({
  hour: z.string(),
  status: z.string(),
  executionArn: z.string().optional(),
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
});

export const summarizeBackfillInputSchema = z.object({
  from: z.string(),
  to: z.string(),
  results: z.array(hourResultSchema),
});

export type HourResult = z.output<typeof hourResultSchema>;
export type SummarizeBackfillInput = z.output<typeof summarizeBackfillInputSchema>;

export function parseSummarizeBackfillInput(input: unknown): SummarizeBackfillInput {
  return parseTaskInput(summarizeBackfillInputSchema, input, 'backfill summary', '{"from", "to", "results": [{"hour", "status", "executionArn"?, "error"?}]}');
}
