import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientStorageError } from '../../tasks/ports/errors';
import { readItems } from '../../tasks/tables/read-items';

describe('readItems', () => {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } }));
  const mocked = mockClient(DynamoDBDocumentClient);
  const keys = Array.from({ length: 130 }, (_, i) => ({ id: i + 1 }));
  const askedFor = () => mocked.commandCalls(BatchGetCommand).map((call) => call.args[0].input.RequestItems?.t?.Keys?.map((key) => key.id));

  beforeEach(() => mocked.reset());

  it('asks for 100 keys a request, strongly consistent, and again for the keys a request left unprocessed', async () => {
    mocked
      .on(BatchGetCommand)
      .callsFakeOnce(({ RequestItems }) => ({ Responses: { t: RequestItems.t.Keys.slice(1) }, UnprocessedKeys: { t: { Keys: RequestItems.t.Keys.slice(0, 1) } } }))
      .callsFake(({ RequestItems }) => ({ Responses: { t: RequestItems.t.Keys } }));

    const items = await readItems<{ id: number }>(doc, 't', keys);

    expect(items.map(({ id }) => id).sort((a, b) => a - b)).toEqual(keys.map(({ id }) => id));
    expect(askedFor()).toEqual([keys.slice(0, 100).map(({ id }) => id), [1], keys.slice(100).map(({ id }) => id)]);
    expect(mocked.commandCalls(BatchGetCommand).every((call) => call.args[0].input.RequestItems?.t?.ConsistentRead === true)).toBe(true);
  });

  it('fails with TransientStorageError when keys stay unprocessed, instead of asking forever', async () => {
    mocked.on(BatchGetCommand).callsFake(({ RequestItems }) => ({ Responses: { t: [] }, UnprocessedKeys: { t: { Keys: RequestItems.t.Keys.slice(0, 1) } } }));

    await expect(readItems(doc, 't', keys.slice(0, 2))).rejects.toThrow(new TransientStorageError('reading t: 1 key(s) still unprocessed after 8 BatchGetItem requests'));
    expect(askedFor()).toEqual([[1, 2], ...Array.from({ length: 7 }, () => [1])]);
  });

  it('asks for nothing for no keys', async () => {
    expect(await readItems(doc, 't', [])).toEqual([]);
    expect(mocked.commandCalls(BatchGetCommand)).toHaveLength(0);
  });
});
