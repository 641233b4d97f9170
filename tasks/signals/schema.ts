import { aggregateInputSchema } from '../aggregate/schema';
import { parseTaskInput } from '../shared/task-input';
import type { SignalsInput } from './run';

/** The signals step takes what the aggregate step takes: the event partitions the merge changed are the hours whose product_demand it recomputed. */
export const signalsInputSchema = aggregateInputSchema;

export function parseSignalsInput(input: unknown): SignalsInput {
  return parseTaskInput(signalsInputSchema, input, 'signals', '{"executionId": "...", "hour": "YYYY-MM-DDTHH", "partitions": ["dt=YYYY-MM-DD/hr=HH", ...]}');
}
