import { setTimeout as sleep } from 'node:timers/promises';

const UNPROCESSED_BACKOFF_MS = 50;

/**
 * Sends one batch request (BatchGetItem, BatchWriteItem), then what DynamoDB left unprocessed
 * (throttling) again after a growing wait: 50 ms, then 100 ms, and so on, until nothing is left.
 * `send` makes one request and returns what it left unprocessed, or undefined for nothing.
 * `giveUp`, when given, ends the requests after its `requests`, with the error it makes of what is left.
 */
export async function resendUnprocessed<R>(request: R, send: (request: R) => Promise<R | undefined>, giveUp?: { readonly requests: number; readonly error: (left: R) => Error }): Promise<void> {
  let pending: R | undefined = request;
  for (let sent = 1; ; sent++) {
    pending = await send(pending);
    if (pending === undefined) return;
    if (giveUp !== undefined && sent === giveUp.requests) throw giveUp.error(pending);
    await sleep(UNPROCESSED_BACKOFF_MS * sent);
  }
}
