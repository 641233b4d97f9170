import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';
import type { MergeInput } from './run';

const mergeInputSchema = z.object({
  hour: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}$/, 'expected YYYY-MM-DDTHH'),
  executionId: z.string().min(1),
});

/** Parses the merge step's input; a bad input is an InvalidInputError, which the workflow does not retry. */
export function parseMergeInput(input: unknown): MergeInput {
  const parsed = mergeInputSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`invalid merge input: ${issue?.path.join('.') || 'input'}: ${issue?.message ?? 'not an object'}`);
  }
  return parsed.data;
}
