import { z } from 'zod';
import { executionIdField, hourField, parseTaskInput } from '../shared/task-input';
import type { VacuumInput } from './run';

/** The vacuum's input: the execution running it, optionally its arrival hour and a retention; extra fields are ignored. */
export const vacuumInputSchema = z.object({
  executionId: executionIdField,
  hour: hourField.optional(),
  retentionHours: z.number().positive('expected a positive number of hours').optional(),
});

export function parseVacuumInput(input: unknown): VacuumInput {
  return parseTaskInput(vacuumInputSchema, input, 'vacuum', '{"executionId": "...", "hour"?: "YYYY-MM-DDTHH", "retentionHours"?: hours}');
}
