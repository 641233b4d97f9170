import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';
import { hourStartMs } from './hours';
import { describeIssues } from './describe-issues';

/** An existing UTC hour written `YYYY-MM-DDTHH`. */
export const hourField = z.string().refine(isHour, 'expected an existing hour written YYYY-MM-DDTHH (UTC), e.g. 2021-07-12T05');

/** The execution that runs a step (`$$.Execution.Id`), which names the step's commits and files. */
export const executionIdField = z.string().min(1, 'expected a non-empty execution id');

/**
 * Parses a task's input with `schema`; a mismatch is one InvalidInputError that names the task, what
 * was given, every problem and the expected shape. The workflows never retry that error.
 */
export function parseTaskInput<S extends z.ZodType>(schema: S, input: unknown, task: string, expected: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new InvalidInputError(`invalid ${task} input ${JSON.stringify(input) ?? String(input)}: ${describeIssues(parsed.error)}; expected ${expected}`);
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
