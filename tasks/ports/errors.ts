/**
 * Errors that cross the ports. Each sets `name` explicitly: ASL `Retry` and `Catch` match on it,
 * on AWS (the Lambda error type) and locally (aws-local-stepfunctions) alike.
 */

/** The caller asked for something malformed; retrying the same request cannot help. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}

/** A named thing (object, execution, partition) does not exist. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** Another writer committed first; the caller may re-read, re-validate and retry. */
export class CommitConflictError extends Error {
  override readonly name = 'CommitConflictError';
}

/** A storage call failed in a way that may succeed when retried (I/O, throttling, timeouts). */
export class TransientStorageError extends Error {
  override readonly name = 'TransientStorageError';
}
