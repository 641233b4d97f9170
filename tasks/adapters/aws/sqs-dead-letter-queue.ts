import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetter, DeadLetterQueue } from '../../ports/dead-letter-queue';
import { TransientStorageError } from '../../ports/errors';

export interface SqsDeadLetterQueueProps {
  /** The SQS client, built by the caller (region, credentials, retries). */
  readonly client: SQSClient;
  readonly queueUrl: string;
}

/**
 * Dead letters on AWS: one SQS message per record, its body the letter as JSON, the error's name
 * also as a message attribute for filtering. (The event source mapping's own on-failure destination,
 * for batches whose retries run out, can be the same queue; its messages carry the batch's shard
 * and sequence range rather than the records.)
 */
export class SqsDeadLetterQueue implements DeadLetterQueue {
  constructor(private readonly props: SqsDeadLetterQueueProps) {}

  async send(letter: DeadLetter): Promise<void> {
    try {
      await this.props.client.send(
        new SendMessageCommand({
          QueueUrl: this.props.queueUrl,
          MessageBody: JSON.stringify(letter),
          MessageAttributes: { errorName: { DataType: 'String', StringValue: letter.error.name } },
        }),
      );
    } catch (error) {
      throw new TransientStorageError(`sending the dead letter of stream record ${letter.record.dynamodb?.SequenceNumber ?? '?'} to ${this.props.queueUrl} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
