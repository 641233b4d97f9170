import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { TransientStorageError } from '../../../../tasks/ports/errors';
import { SqsDeadLetterQueue } from '../../../../tasks/adapters/aws/sqs-dead-letter-queue';
import type { DeadLetter } from '../../../../tasks/ports/dead-letter-queue';

const sqs = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/lakehouse-price-signals-dlq';

const letter: DeadLetter = {
  record: { eventName: 'INSERT', dynamodb: { SequenceNumber: '4200000000000000001', Keys: { product_id: { N: '7' } } } },
  error: { name: 'NotFoundError', message: 'product 7 is not in the catalog' },
  attempts: 1,
  failedAt: '2021-07-12T06:05:00.000Z',
};

describe('SqsDeadLetterQueue', () => {
  beforeEach(() => sqs.reset());

  it('sends the record and its error as one message, the error name as an attribute', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });

    await new SqsDeadLetterQueue({ client: new SQSClient({ region: 'eu-west-1' }), queueUrl: QUEUE_URL }).send(letter);

    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      MessageBody: JSON.stringify(letter),
      MessageAttributes: { errorName: { DataType: 'String', StringValue: 'NotFoundError' } },
    });
  });

  it('turns a failed send into TransientStorageError with its cause, so the record is retried', async () => {
    const cause = Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable' });
    sqs.on(SendMessageCommand).rejects(cause);

    const sent = new SqsDeadLetterQueue({ client: new SQSClient({ region: 'eu-west-1' }), queueUrl: QUEUE_URL }).send(letter);

    await expect(sent).rejects.toBeInstanceOf(TransientStorageError);
    await expect(sent).rejects.toMatchObject({ message: expect.stringContaining('4200000000000000001'), cause });
  });
});
