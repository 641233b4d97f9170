import { parseSummarizeBackfillInput, type RecordedHour } from './schema';

/** How a backfill went, hour by hour. */
export interface BackfillSummary {
  readonly from: string;
  readonly to: string;
  readonly hours: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** One hour that did not succeed, with the error of its child execution. */
export interface FailedHour {
  readonly hour: string;
  readonly error: string;
  readonly cause: string;
  /** The child execution's name (its short id locally), when known: what `lakehouse rerun` takes. */
  readonly execution?: string;
}

/** Some hours of a backfill failed; the others completed. Rerun the listed hours (or their executions). */
export class BackfillIncompleteError extends Error {
  override readonly name = 'BackfillIncompleteError';

  constructor(
    message: string,
    readonly failedHours: readonly FailedHour[],
  ) {
    super(message);
  }
}

const LISTED_FAILURES = 10;

/**
 * Counts the hours a backfill ran; throws BackfillIncompleteError listing the failed hours if any failed,
 * so that the backfill execution itself ends FAILED while every other hour keeps its results.
 */
export function run(input: unknown): BackfillSummary {
  const { from, to, results } = parseSummarizeBackfillInput(input);
  const failures = results.filter((result): result is RecordedHour => 'status' in result && result.status !== 'SUCCEEDED').map(describeFailure);
  const summary = { from, to, hours: results.length, succeeded: results.length - failures.length, failed: failures.length };
  if (failures.length > 0) {
    const listed = failures.slice(0, LISTED_FAILURES).map(formatFailure);
    if (failures.length > LISTED_FAILURES) listed.push(`and ${failures.length - LISTED_FAILURES} more`);
    throw new BackfillIncompleteError(
      `backfill ${from}..${to} incomplete: ${failures.length} of ${results.length} hours failed: ${listed.join('; ')}`,
      failures,
    );
  }
  return summary;
}

/**
 * A failed `startExecution.sync` task reports `States.TaskFailed` with the child's description as a JSON cause
 * (on AWS and in the local runner alike); the child's own error is the useful part.
 */
function describeFailure(result: RecordedHour): FailedHour {
  const error = result.error?.Error ?? `status ${result.status}`;
  const cause = result.error?.Cause ?? '';
  const child = parseChildDescription(cause);
  if (child?.Error === undefined) return { hour: result.hour, error, cause };
  return {
    hour: result.hour,
    error: child.Error,
    cause: child.Cause ?? '',
    ...(child.Name === undefined ? {} : { execution: child.Name }),
  };
}

function parseChildDescription(cause: string): { Error?: string; Cause?: string; Name?: string } | undefined {
  try {
    const parsed: unknown = JSON.parse(cause);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { Error: error, Cause: childCause, Name: name } = parsed as Record<string, unknown>;
    return {
      ...(typeof error === 'string' ? { Error: error } : {}),
      ...(typeof childCause === 'string' ? { Cause: childCause } : {}),
      ...(typeof name === 'string' ? { Name: name } : {}),
    };
  } catch {
    return undefined;
  }
}

function formatFailure(failure: FailedHour): string {
  const where = failure.execution === undefined ? '' : ` [execution ${failure.execution}]`;
  return `${failure.hour} ${failure.error}: ${failure.cause}${where}`;
}
