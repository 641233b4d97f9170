import { z } from 'zod';
import { executionIdField, hourField, parseTaskInput } from '../shared/task-input';
import type { CompactionInput } from './run';

/** The compaction's input: the execution and arrival hour that own the commit, and the partitions the merge touched; extra fields are ignored. */
export const compactInputSchema = z.object({
  executionId: executionIdField,
  hour: hourField,
  partitions: z.array(z.string().regex(/^dt=\d{4}-\d{2}-\d{2}\/hr=\d{2}$/, 'expected a partition key dt=YYYY-MM-DD/hr=HH')),
});

export function parseCompactInput(input: unknown): CompactionInput {
  return parseTaskInput(compactInputSchema, input, 'compact', '{"executionId": "...", "hour": "YYYY-MM-DDTHH", "partitions": ["dt=YYYY-MM-DD/hr=HH", ...]}');
}
