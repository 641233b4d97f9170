import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientStorageError } from '../../tasks/ports/errors';
import { writeItems } from '../../tasks/tables/write-items';

describe('writeItems', () => {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } }));
  const mocked = mockClient(DynamoDBDocumentClient);
  const items = Array.from({ length: 30 }, (_, i) => ({ id: i + 1 }));
  const put = (item: { id: number }) => ({ PutRequest: { Item: item } });

  beforeEach(() => mocked.reset());

  it('puts 25 items a request, and sends again what a request left unprocessed', async () => {
    mocked.on(BatchWriteCommand).resolvesOnce({ UnprocessedItems: { t: [put(items[3]!)] } }).resolves({});

    await writeItems(doc, 't', items);

    const requests = mocked.commandCalls(BatchWriteCommand).map((call) => call.args[0].input.RequestItems?.t?.map((request) => request.PutRequest?.Item?.id));
    expect(requests).toHaveLength(3);
    expect(requests).toEqual(expect.arrayContaining([items.slice(0, 25).map(({ id }) => id), items.slice(25).map(({ id }) => id), [4]]));
  });

  it('fails with TransientStorageError when items stay unprocessed', async () => {
    mocked.on(BatchWriteCommand).callsFake(({ RequestItems }) => ({ UnprocessedItems: { t: RequestItems.t.slice(0, 1) } }));

    await expect(writeItems(doc, 't', items.slice(0, 2))).rejects.toThrow(new TransientStorageError('writing t: 1 item(s) still unprocessed after 8 BatchWriteItem requests'));
    expect(mocked.commandCalls(BatchWriteCommand)).toHaveLength(8);
  });

  it('sends nothing for no items', async () => {
    await writeItems(doc, 't', []);

    expect(mocked.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });
});
