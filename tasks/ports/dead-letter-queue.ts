import type { DynamoDBRecord } from 'aws-lambda';

/** A stream record given up on, with why. */
export interface DeadLetter {
  /** The record as it was delivered. */
  readonly record: DynamoDBRecord;
  /** The last error: its name (as Retry and Catch would match it) and message. */
  readonly error: { readonly name: string; readonly message: string };
  /** How many deliveries failed before it was given up on. */
  readonly attempts: number;
  /** ISO 8601. */
  readonly failedAt: string;
}

/**
 * Where records that cannot be applied go, so that they stop blocking the stream and stay at hand
 * for a person: an SQS queue on AWS, files under the lake locally.
 * Errors: TransientStorageError when the letter may not have been stored.
 */
export interface DeadLetterQueue {
  send(letter: DeadLetter): Promise<void>;
}
