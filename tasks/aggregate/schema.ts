import { z } from 'zod';
import { executionIdField, hourField, parseTaskInput } from '../shared/task-input';
import type { AggregateInput } from './run';

/** The aggregate step's input: the execution and arrival hour, and the event partitions the merge changed; extra fields are ignored. */
export const aggregateInputSchema = z.object({
  executionId: executionIdField,
  hour: hourField,
  partitions: z.array(z.string().regex(/^dt=\d{4}-\d{2}-\d{2}\/hr=\d{2}$/, 'expected a partition key dt=YYYY-MM-DD/hr=HH')),
});

export function parseAggregateInput(input: unknown): AggregateInput {
  return parseTaskInput(aggregateInputSchema, input, 'aggregate', '{"executionId": "...", "hour": "YYYY-MM-DDTHH", "partitions": ["dt=YYYY-MM-DD/hr=HH", ...]}');
}
