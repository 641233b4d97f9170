/**
 * The Lambda entries' wiring: each builds its ports from the environment the CDK app sets (names in
 * tasks/runtime/aws-environment.ts) and calls the same task core as the embedded default. AWS itself
 * cannot run here, so the clients are mocked and the exact calls asserted.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { duckDbS3Setup } from '../../tasks/adapters/aws/duckdb-s3-access';
import { handler as planHoursHandler } from '../../tasks/plan-hours/lambda';
import { InvalidInputError } from '../../tasks/ports/errors';
import { handler as pricingHandler } from '../../tasks/pricing/lambda';
import { readAwsEnvironment } from '../../tasks/runtime/aws-environment';
import { lambdaEntry } from '../../tasks/runtime/lambda-entry';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/price-signals-dead-letters';

describe('the Lambda environment', () => {
  it('refuses an environment without the lake bucket, naming the variable', () => {
    expect(() => readAwsEnvironment({})).toThrow(InvalidInputError);
    expect(() => readAwsEnvironment({})).toThrow(/LAKE_BUCKET/);
  });

  it('refuses an unknown aggregate engine and defaults to Redshift', () => {
    expect(() => readAwsEnvironment({ LAKE_BUCKET: 'lake', AGGREGATE_ENGINE: 'presto' })).toThrow(/AGGREGATE_ENGINE/);
    expect(readAwsEnvironment({ LAKE_BUCKET: 'lake' })).toMatchObject({ AGGREGATE_ENGINE: 'redshift', TABLE_NAME_PREFIX: '' });
  });

  it('fails the invocation, not the import, when a variable the function needs is missing', async () => {
    const handler = lambdaEntry(({ catalog }) => async () => catalog(), { LAKE_BUCKET: 'lake', AWS_REGION: 'eu-west-1' });
    await expect(handler({})).rejects.toThrow('invalid Lambda environment: CATALOG_TABLE is not set');
  });
});

describe('DuckDB over the lake bucket', () => {
  it('loads httpfs and scopes the function credentials to the bucket, quoting every value', () => {
    expect(duckDbS3Setup({ bucket: 'lake', region: 'eu-west-1', credentials: { accessKeyId: 'AKIA', secretAccessKey: "se'cret", sessionToken: 'token' } })).toEqual([
      "SET extension_directory = '/tmp/duckdb-extensions'",
      'INSTALL httpfs',
      'LOAD httpfs',
      "CREATE OR REPLACE SECRET lake_s3 (TYPE s3, KEY_ID 'AKIA', SECRET 'se''cret', SESSION_TOKEN 'token', REGION 'eu-west-1', SCOPE 's3://lake')",
    ]);
  });
});

describe('the pricing consumer entry', () => {
  const sqs = mockClient(SQSClient);
  const dynamodb = mockClient(DynamoDBClient);
  const sagemaker = mockClient(SageMakerRuntimeClient);
  const saved = { ...process.env };

  beforeEach(() => {
    sqs.reset();
    dynamodb.reset();
    sagemaker.reset();
    Object.assign(process.env, { AWS_REGION: 'eu-west-1', LAKE_BUCKET: 'lake', MODEL_ENDPOINT_NAME: 'price-model', DEAD_LETTER_QUEUE_URL: QUEUE_URL, TABLE_NAME_PREFIX: 'prod-' });
  });

  afterAll(() => {
    process.env = saved;
  });

  it('sends a record that holds no signal to the SQS dead letters, without asking the model or touching the tables', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const event: DynamoDBStreamEvent = {
      Records: [
        {
          eventID: 'e-1',
          eventName: 'INSERT',
          eventSource: 'aws:dynamodb',
          dynamodb: { Keys: { product_id: { N: '7' }, event_hour: { S: '2021-07-12T05' } }, NewImage: { product_id: { N: '7' } }, SequenceNumber: '100', StreamViewType: 'NEW_AND_OLD_IMAGES' },
        },
      ],
    };

    await expect(pricingHandler(event)).resolves.toEqual({ batchItemFailures: [] });

    const sent = sqs.commandCalls(SendMessageCommand);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.args[0].input.QueueUrl).toBe(QUEUE_URL);
    expect(JSON.parse(sent[0]!.args[0].input.MessageBody as string)).toMatchObject({ record: { eventID: 'e-1' }, error: { name: 'InvalidInputError' }, attempts: 1 });
    expect(dynamodb.calls()).toHaveLength(0);
    expect(sagemaker.calls()).toHaveLength(0);
  });
});

describe('the pure backfill steps', () => {
  it('plan the hours of a range with the core the local runner calls', async () => {
    await expect(planHoursHandler({ from: '2021-07-12T22', to: '2021-07-13T01', concurrency: 2 })).resolves.toEqual({
      hours: ['2021-07-12T22', '2021-07-12T23', '2021-07-13T00'],
      concurrency: 2,
    });
  });
});
