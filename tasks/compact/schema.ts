import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';
import { hourStartMs } from '../shared/hours';
import type { CompactionInput } from './run';

/** The compaction's input: the execution and arrival hour that own the commit, and the partitions the merge touched; extra fields are ignored. */
export const compactInputSchema = z.object({
  executionId: z.string().min(1, 'expected a non-empty execution id'),
  hour: z.string().refine(isHour, 'expected an existing hour written YYYY-MM-DDTHH (UTC), e.g. 2021-07-12T05'),
  partitions: z.array(z.string().regex(/^dt=\d{4}-\d{2}-\d{2}\/hr=\d{2}$/, 'expected a partition key dt=YYYY-MM-DD/hr=HH')),
});

export function parseCompactInput(input: unknown): CompactionInput {
  const parsed = compactInputSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
    throw new InvalidInputError(
      `invalid compact input ${JSON.stringify(input) ?? String(input)}: ${problems.join('; ')}; expected {"executionId": "...", "hour": "YYYY-MM-DDTHH", "partitions": ["dt=YYYY-MM-DD/hr=HH", ...]}`,
    );
  }
  return parsed.data;
}

function isHour(hour: string): boolean {
  try {
    hourStartMs(hour);
    return true;
  } catch {
    return false;
  }
}
