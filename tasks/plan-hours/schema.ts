import { z } from 'zod';
import { parseTaskInput } from '../shared/task-input';

/** Inline Map states run at most 40 iterations at once on AWS (and in aws-local-stepfunctions by default). */
export const MAX_BACKFILL_CONCURRENCY = 40;
export const DEFAULT_BACKFILL_CONCURRENCY = 4;

/** The backfill execution's input: `to` is exclusive; extra fields are ignored. */
export const planHoursInputSchema = z.object({
  from: z.string(),
  to: z.string(),
  concurrency: z.number().int().min(1).max(MAX_BACKFILL_CONCURRENCY).default(DEFAULT_BACKFILL_CONCURRENCY),
});

export type PlanHoursInput = z.input<typeof planHoursInputSchema>;

export function parsePlanHoursInput(input: unknown): z.output<typeof planHoursInputSchema> {
  return parseTaskInput(planHoursInputSchema, input, 'backfill', `{"from": "YYYY-MM-DDTHH", "to": "YYYY-MM-DDTHH", "concurrency": 1..${MAX_BACKFILL_CONCURRENCY}}`);
}
