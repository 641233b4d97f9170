import { BatchWriteCommand, type BatchWriteCommandInput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mapInFlight } from '../shared/map-in-flight';
import { resendUnprocessed } from './resend-unprocessed';
import { tableCall } from './table-errors';

/** DynamoDB's BatchWriteItem limit. */
const BATCH_WRITE_ITEMS = 25;
const REQUESTS_IN_FLIGHT = 4;

/**
 * Puts `items` into `table` whole and unconditionally: BatchWriteItem 25 items at a time, a few
 * requests at once, sending again what DynamoDB left unprocessed (throttling) after a growing wait.
 * Items still unprocessed after a few requests fail the call with TransientStorageError (see
 * resendUnprocessed), which the workflows retry. No two items may have the same key.
 */
export async function writeItems(doc: DynamoDBDocumentClient, table: string, items: readonly object[]): Promise<void> {
  const batches: object[][] = [];
  for (let start = 0; start < items.length; start += BATCH_WRITE_ITEMS) batches.push(items.slice(start, start + BATCH_WRITE_ITEMS));
  const unprocessedCount = (requests: BatchWriteCommandInput['RequestItems']) => requests?.[table]?.length ?? 0;
  await mapInFlight(batches, REQUESTS_IN_FLIGHT, (batch) =>
    resendUnprocessed<BatchWriteCommandInput['RequestItems']>(
      { [table]: batch.map((item) => ({ PutRequest: { Item: item as Record<string, unknown> } })) },
      async (requests) => {
        const { UnprocessedItems: unprocessed } = await tableCall(`writing ${table}`, () => doc.send(new BatchWriteCommand({ RequestItems: requests })));
        return unprocessedCount(unprocessed) > 0 ? unprocessed : undefined;
      },
      { operation: 'BatchWriteItem', describe: (left) => `writing ${table}: ${unprocessedCount(left)} item(s)` },
    ),
  );
}
