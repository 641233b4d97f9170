import { z } from 'zod';
import { executionIdField, hourField, parseTaskInput } from '../shared/task-input';
import type { CrawlInput } from './run';

/** The crawl task's input: the arrival hour and the execution that owns the commit; extra fields are ignored. */
export const crawlInputSchema = z.object({
  hour: hourField,
  executionId: executionIdField,
});

export function parseCrawlInput(input: unknown): CrawlInput {
  return parseTaskInput(crawlInputSchema, input, 'crawl', '{"hour": "YYYY-MM-DDTHH", "executionId": "..."}');
}
