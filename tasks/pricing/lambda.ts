import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDeadLetterQueue } from '../adapters/aws/sqs-dead-letter-queue';
import { requireSetting } from '../runtime/aws-environment';
import { lambdaEntry } from '../runtime/lambda-entry';
import { tableNames } from '../tables/definitions';
import { createPriceSignalsHandler } from './handler';

/**
 * The price_signals stream consumer on AWS, behind an event source mapping with partial batch
 * responses. Why each failed record failed goes to the function's log, since the response cannot say.
 */
export const handler = lambdaEntry(({ environment, documentClient }) =>
  createPriceSignalsHandler({
    tables: { doc: documentClient(), names: tableNames(environment.TABLE_NAME_PREFIX) },
    model: { client: new SageMakerRuntimeClient({}), endpointName: requireSetting(environment, 'MODEL_ENDPOINT_NAME') },
    deadLetters: new SqsDeadLetterQueue({ client: new SQSClient({}), queueUrl: requireSetting(environment, 'DEAD_LETTER_QUEUE_URL') }),
    onRecordFailed: (record, error) => console.error(`record ${record.dynamodb?.SequenceNumber ?? '?'} failed: ${error.name}: ${error.message}`),
  }),
);
