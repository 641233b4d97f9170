import { hoursBetween, type Hour } from '../shared/hours';
import { parsePlanHoursInput } from './schema';

/** What the backfill's Map iterates over: the hours to run and how many at once. */
export interface HourPlan {
  readonly hours: Hour[];
  readonly concurrency: number;
}

/**
 * Lists the arrival hours of a backfill, `from` inclusive to `to` exclusive, with its concurrency
 * (default 4, at most 40). Throws InvalidInputError on a malformed hour, `from` after `to`, or a bad concurrency.
 */
export function run(input: unknown): HourPlan {
  const { from, to, concurrency } = parsePlanHoursInput(input);
  return { hours: hoursBetween(from, to), concurrency };
}
