import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';
import { hourStartMs } from '../shared/hours';
import type { CrawlInput } from './run';

/** The crawl task's input: the arrival hour and the execution that owns the commit; extra fields are ignored. */
export const crawlInputSchema = z.object({
  hour: z.string().refine(isHour, 'expected an existing hour written YYYY-MM-DDTHH (UTC), e.g. 2021-07-12T05'),
  executionId: z.string().min(1, 'expected a non-empty execution id'),
});

export function parseCrawlInput(input: unknown): CrawlInput {
  const parsed = crawlInputSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
    throw new InvalidInputError(
      `invalid crawl input ${JSON.stringify(input) ?? String(input)}: ${problems.join('; ')}; expected {"hour": "YYYY-MM-DDTHH", "executionId": "..."}`,
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
