import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';

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
  const parsed = summarizeBackfillInputSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
    throw new InvalidInputError(
      `invalid backfill summary input: ${problems.join('; ')}; expected {"from", "to", "results": [{"hour", "status", "executionArn"?, "error"?}]}`,
    );
  }
  return parsed.data;
}
