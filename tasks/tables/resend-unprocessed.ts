import { setTimeout as sleep } from 'node:timers/promises';
import { TransientStorageError } from '../ports/errors';

const UNPROCESSED_BACKOFF_MS = 50;

/**
 * Requests of one batch before what it still leaves unprocessed fails the call: about 1.4 s of waits in
 * all, after which the workflows' retry of TransientStorageError, with its own backoff, takes over.
 */
const UNPROCESSED_REQUESTS = 8;

/** What a batch call is, for the error that ends it: the operation, and what is still left said in a few words. */
export interface UnprocessedGiveUp<R> {
  readonly operation: 'BatchGetItem' | 'BatchWriteItem';
  /** E.g. `reading products: 3 key(s)`. */
  readonly describe: (left: R) => string;
}

/**
 * Sends one batch request (BatchGetItem, BatchWriteItem), then what DynamoDB left unprocessed
 * (throttling) again after a growing wait: 50 ms, then 100 ms, and so on, until nothing is left.
 * `send` makes one request and returns what it left unprocessed, or undefined for nothing. After
 * UNPROCESSED_REQUESTS requests, what is still left fails the call with TransientStorageError.
 */
export async function resendUnprocessed<R>(request: R, send: (request: R) => Promise<R | undefined>, giveUp: UnprocessedGiveUp<R>): Promise<void> {
  let pending: R | undefined = request;
  for (let sent = 1; ; sent++) {
    pending = await send(pending);
    if (pending === undefined) return;
    if (sent === UNPROCESSED_REQUESTS) {
      throw new TransientStorageError(`${giveUp.describe(pending)} still unprocessed after ${UNPROCESSED_REQUESTS} ${giveUp.operation} requests`);
    }
    await sleep(UNPROCESSED_BACKOFF_MS * sent);
  }
}
