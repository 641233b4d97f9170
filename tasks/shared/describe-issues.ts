import type { z } from 'zod';

/** How many of a schema's complaints a message lists: enough to fix a request, bounded for a large one. */
const MAX_ISSUES = 3;

/** A schema mismatch on one line: `path: problem; ...`, the first few, and how many more there are; paths start with `within`. */
export function describeIssues(error: z.ZodError, within: readonly PropertyKey[] = []): string {
  const issues = error.issues.slice(0, MAX_ISSUES).map((issue) => `${[...within, ...issue.path].map(String).join('.') || 'value'}: ${issue.message}`);
  const more = error.issues.length - MAX_ISSUES;
  return more > 0 ? `${issues.join('; ')} (and ${more} more)` : issues.join('; ');
}
