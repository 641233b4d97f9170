/**
 * Waits for every promise, then fails with the first failure. Unlike Promise.all, nothing is left
 * running when it fails, so that what the promises share (a connection, a scratch file) can be closed.
 */
export async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  for (const outcome of await Promise.allSettled(promises)) if (outcome.status === 'rejected') throw outcome.reason;
}
