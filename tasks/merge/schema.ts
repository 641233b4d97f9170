import { z } from 'zod';
import { executionIdField, hourField, parseTaskInput } from '../shared/task-input';
import type { MergeInput } from './run';

/** The merge's input: the arrival hour and the execution that owns the commit; extra fields are ignored. */
const mergeInputSchema = z.object({
  hour: hourField,
  executionId: executionIdField,
});

export function parseMergeInput(input: unknown): MergeInput {
  return parseTaskInput(mergeInputSchema, input, 'merge', '{"hour": "YYYY-MM-DDTHH", "executionId": "..."}');
}
