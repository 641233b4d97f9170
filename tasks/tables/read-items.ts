import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { resendUnprocessed } from './resend-unprocessed';
import { tableCall } from './table-errors';

/** DynamoDB's BatchGetItem limit. */
const BATCH_GET_KEYS = 100;

/**
 * The items of `keys` that exist in `table`, read strongly consistent, in no particular order:
 * BatchGetItem 100 keys at a time, re-asking for the keys DynamoDB left unprocessed (throttling).
 * Keys still unprocessed after a few requests fail the call with TransientStorageError (see
 * resendUnprocessed), which the workflows retry.
 */
export async function readItems<T>(doc: DynamoDBDocumentClient, table: string, keys: readonly Record<string, unknown>[]): Promise<T[]> {
  const items: T[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_KEYS) {
    await resendUnprocessed(keys.slice(start, start + BATCH_GET_KEYS), async (pending) => {
      const response = await tableCall(`reading ${table}`, () => doc.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } })));
      items.push(...((response.Responses?.[table] ?? []) as T[]));
      const left = response.UnprocessedKeys?.[table]?.Keys;
      return left !== undefined && left.length > 0 ? left : undefined;
    }, { operation: 'BatchGetItem', describe: (left) => `reading ${table}: ${left.length} key(s)` });
  }
  return items;
}
