import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';
import { hourStartMs } from '../shared/hours';
import type { VacuumInput } from './run';

/** The vacuum's input: the execution running it, optionally its arrival hour and a retention; extra fields are ignored. */
export const vacuumInputSchema = z.object({
  executionId: z.string().min(1, 'expected a non-empty execution id'),
  hour: z.string().refine(isHour, 'expected an existing hour written YYYY-MM-DDTHH (UTC), e.g. 2021-07-12T05').optional(),
  retentionHours: z.number().positive('expected a positive number of hours').optional(),
});

export function parseVacuumInput(input: unknown): VacuumInput {
  const parsed = vacuumInputSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
    throw new InvalidInputError(
      `invalid vacuum input ${JSON.stringify(input) ?? String(input)}: ${problems.join('; ')}; expected {"executionId": "...", "hour"?: "YYYY-MM-DDTHH", "retentionHours"?: hours}`,
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
