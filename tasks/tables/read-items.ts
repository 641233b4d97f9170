import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand, type BatchGetCommandInput, type BatchGetCommandOutput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tableCall } from './table-errors';

/** DynamoDB's BatchGetItem limit. */
const BATCH_GET_KEYS = 100;
const UNPROCESSED_BACKOFF_MS = 50;

/**
 * The items of `keys` that exist in `table`, read strongly consistent, in no particular order:
 * BatchGetItem 100 keys at a time, re-asking for the keys DynamoDB left unprocessed (throttling).
 */
export async function readItems<T>(doc: DynamoDBDocumentClient, table: string, keys: readonly Record<string, unknown>[]): Promise<T[]> {
  const items: T[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_KEYS) {
    let pending: Record<string, unknown>[] | undefined = keys.slice(start, start + BATCH_GET_KEYS);
    for (let round = 0; pending !== undefined && pending.length > 0; round++) {
      if (round > 0) await sleep(UNPROCESSED_BACKOFF_MS * round);
      const request: BatchGetCommandInput = { RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } };
      const response: BatchGetCommandOutput = await tableCall(`reading ${table}`, () => doc.send(new BatchGetCommand(request)));
      items.push(...((response.Responses?.[table] ?? []) as T[]));
      pending = response.UnprocessedKeys?.[table]?.Keys;
    }
  }
  return items;
}
