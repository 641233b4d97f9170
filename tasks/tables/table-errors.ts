import { TransientStorageError } from '../ports/errors';
import { isTransientSdkError } from '../shared/sdk-errors';

/**
 * Runs one DynamoDB call. A failure that may pass when retried (throttling, a server fault, no
 * answer at all) becomes TransientStorageError, which the workflows retry; a conditional check
 * failure and client errors stay as the SDK threw them.
 */
export async function tableCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isConditionFailure(error) || !isTransientSdkError(error)) throw error;
    throw new TransientStorageError(`${what} failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Runs one conditional write as tableCall does; resolves false when its condition did not hold. */
export async function conditionalWrite(what: string, call: () => Promise<unknown>): Promise<boolean> {
  try {
    await tableCall(what, call);
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

export function isConditionFailure(error: unknown): boolean {
  return (error as Error | undefined)?.name === 'ConditionalCheckFailedException';
}
