import { Duration, Size, Stack } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  AuthorizationType,
  AwsIntegration,
  EndpointType,
  JsonSchemaType,
  JsonSchemaVersion,
  LogGroupLogDestination,
  MethodLoggingLevel,
  PassthroughBehavior,
  ResponseType,
  RestApi,
  type JsonSchema,
} from 'aws-cdk-lib/aws-apigateway';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Stream, StreamEncryption, StreamMode } from 'aws-cdk-lib/aws-kinesis';
import { Compression, DeliveryStream, EnableLogging, KinesisStreamSource, S3Bucket } from 'aws-cdk-lib/aws-kinesisfirehose';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { acknowledge, wildcardAction, wildcardResource } from '../constructs/nag';
import { lakehouseNames, type LakehouseNames } from '../names';
import { FIREHOSE_ERRORS_PREFIX } from './lake-stack';
import { removalPolicyOf, type LakehouseStackProps } from './lakehouse-stack-props';

/**
 * Where Firehose delivers: the arrival hour in UTC, the layout the generator writes and the hourly
 * crawl reads (`raw/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz`, see tasks/shared/hours.ts).
 */
export const RAW_DATA_PREFIX = 'raw/!{timestamp:yyyy/MM/dd/HH}/';
export const RAW_ERROR_PREFIX = `${FIREHOSE_ERRORS_PREFIX}!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/`;

/** What the API accepts: the fields an event cannot do without (the partition key and what the merge requires); anything else passes to the lake, whose validation has the last word. */
export const CLICK_EVENT_SCHEMA: JsonSchema = {
  schema: JsonSchemaVersion.DRAFT4,
  title: 'ClickEvent',
  type: JsonSchemaType.OBJECT,
  required: ['click_id', 'user_id', 'event_name', 'timestamp'],
  properties: {
    click_id: { type: JsonSchemaType.STRING, minLength: 1, maxLength: 128 },
    // Kinesis's partition key: at most 256 characters.
    user_id: { type: JsonSchemaType.STRING, minLength: 1, maxLength: 256 },
    event_name: { type: JsonSchemaType.STRING, minLength: 1, maxLength: 256 },
    timestamp: { type: JsonSchemaType.STRING, minLength: 1, maxLength: 64 },
  },
};

/**
 * Kinesis PutRecord from the request: the event as one line of JSON (the merge reads newline-
 * delimited records; Firehose adds no delimiter), partitioned by the user so that a user's events
 * keep their order through a shard.
 */
export function putRecordTemplate(streamName: string): string {
  return [
    '#set($line = "$input.json(\'$\')',
    '")',
    '{',
    `  "StreamName": "${streamName}",`,
    '  "PartitionKey": "$util.escapeJavaScript($input.path(\'$.user_id\'))",',
    '  "Data": "$util.base64Encode($line)"',
    '}',
  ].join('\n');
}

/**
 * Ingestion as the seed architecture has it: clients POST each click event to an API Gateway REST
 * API (IAM-signed, validated, throttled), which puts it on a Kinesis data stream; Kinesis Data
 * Firehose buffers the stream (60 s or 64 MiB) into gzip objects under raw/ by arrival hour.
 */
export class IngestionStack extends Stack {
  readonly names: LakehouseNames;
  readonly api: RestApi;
  readonly stream: Stream;
  readonly deliveryStream: DeliveryStream;
  /** Attach to the roles of the producers (servers, or a Cognito identity pool's roles for browsers and apps). */
  readonly producerPolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: LakehouseStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = (this.names = lakehouseNames(config, this));
    const removalPolicy = removalPolicyOf(config);
    const logRetention = config.retention.logDays as RetentionDays;
    const lake = Bucket.fromBucketName(this, 'Lake', names.lakeBucket);

    this.stream = new Stream(this, 'Events', {
      streamName: names.ingestStream,
      streamMode: StreamMode.PROVISIONED,
      shardCount: config.ingestion.shards,
      retentionPeriod: Duration.hours(config.ingestion.streamRetentionHours),
      // The AWS managed key (aws/kinesis): encrypted at rest, with no key policy for every producer and consumer to keep in step.
      encryption: StreamEncryption.MANAGED,
      removalPolicy,
    });

    const deliveryLogs = new LogGroup(this, 'DeliveryLogs', {
      logGroupName: `/aws/kinesisfirehose/${names.deliveryStream}`,
      retention: logRetention,
      removalPolicy,
    });
    this.deliveryStream = new DeliveryStream(this, 'RawDelivery', {
      deliveryStreamName: names.deliveryStream,
      source: new KinesisStreamSource(this.stream),
      destination: new S3Bucket(lake, {
        dataOutputPrefix: RAW_DATA_PREFIX,
        errorOutputPrefix: RAW_ERROR_PREFIX,
        bufferingInterval: Duration.seconds(60),
        bufferingSize: Size.mebibytes(64),
        compression: Compression.GZIP,
        loggingConfig: new EnableLogging(deliveryLogs),
      }),
    });
    acknowledge(
      this.deliveryStream,
      'Firehose reads the stream, which is encrypted with KMS (aws/kinesis); CloudFormation accepts server-side encryption only for a Direct PUT delivery stream.',
      'AwsSolutions-KDF1',
    );
    acknowledge(
      this.deliveryStream,
      'The S3 destination\'s grant (aws-kinesisfirehose): Firehose writes objects it names itself under raw/ and firehose-errors/, and lists and aborts its multipart uploads.',
      wildcardAction('s3:GetObject*'),
      wildcardAction('s3:GetBucket*'),
      wildcardAction('s3:List*'),
      wildcardAction('s3:DeleteObject*'),
      wildcardAction('s3:Abort*'),
      wildcardResource(this, lake.arnForObjects('*')),
    );

    this.api = this.collectApi(names, config.ingestion, logRetention, removalPolicy);
    acknowledge(
      this,
      'aws-kinesisfirehose adds a mapping of Firehose\'s CIDR blocks to every stack with a delivery stream, for destinations (Redshift, Splunk) this one does not use.',
      'CloudFormation-Validate::W7001',
    );
    this.producerPolicy = new ManagedPolicy(this, 'ProducerPolicy', {
      managedPolicyName: `${config.prefix}-event-producer`,
      description: 'Lets a producer POST click events to the collect API (IAM-signed requests).',
      statements: [new PolicyStatement({ actions: ['execute-api:Invoke'], resources: [this.api.arnForExecuteApi('POST', '/events', this.api.deploymentStage.stageName)] })],
    });
  }

  private collectApi(
    names: LakehouseNames,
    ingestion: LakehouseStackProps['config']['ingestion'],
    logRetention: RetentionDays,
    removalPolicy: ReturnType<typeof removalPolicyOf>,
  ): RestApi {
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention, removalPolicy });
    const api = new RestApi(this, 'CollectApi', {
      restApiName: `${names.ingestStream}-collect`,
      description: 'Collects click events: POST /events, one event a request, signed with SigV4.',
      endpointTypes: [EndpointType.REGIONAL],
      // Stage logging needs the account's API Gateway CloudWatch role (one per account and region;
      // other APIs of the account rely on it too, so `retain` keeps it when the stack goes).
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: removalPolicy,
      deployOptions: {
        stageName: 'v1',
        throttlingRateLimit: ingestion.throttlingRateLimit,
        throttlingBurstLimit: ingestion.throttlingBurstLimit,
        // Errors only: INFO would log every one of ~2.6 billion requests a month.
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        // Few fields: at 1,000 requests a second every byte of a line is ~2.6 GB a month of log ingestion.
        accessLogFormat: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            ip: AccessLogField.contextIdentitySourceIp(),
            time: AccessLogField.contextRequestTimeEpoch(),
            status: AccessLogField.contextStatus(),
            integrationStatus: AccessLogField.contextIntegrationStatus(),
            latency: AccessLogField.contextResponseLatency(),
            error: AccessLogField.contextErrorMessageString(),
          }),
        ),
      },
    });
    acknowledge(
      api,
      'The account-level role API Gateway logs with (CfnAccount) uses AWS\'s AmazonAPIGatewayPushToCloudWatchLogs, which API Gateway documents for it.',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
    );
    acknowledge(
      api,
      'No WAF: producers are IAM-signed and the stage is throttled, and a web ACL at ~2.6 billion requests a month would cost ~1,550 USD a month (0.60 USD a million) for no protection the signature does not give.',
      'AwsSolutions-APIG3',
    );

    const integrationRole = new Role(this, 'ApiToKinesisRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      description: 'API Gateway puts the collected events on the Kinesis stream.',
    });
    integrationRole.addToPolicy(new PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [this.stream.streamArn] }));

    const integration = new AwsIntegration({
      service: 'kinesis',
      action: 'PutRecord',
      integrationHttpMethod: 'POST',
      options: {
        credentialsRole: integrationRole,
        passthroughBehavior: PassthroughBehavior.NEVER,
        requestParameters: { 'integration.request.header.Content-Type': "'application/x-amz-json-1.1'" },
        requestTemplates: { 'application/json': putRecordTemplate(this.stream.streamName) },
        integrationResponses: [
          { statusCode: '200', responseTemplates: { 'application/json': '{"accepted": true}' } },
          {
            // Kinesis answers 400 when the shards are full: the client should retry that (429), not drop the event.
            selectionPattern: '4\\d{2}',
            statusCode: '400',
            responseTemplates: {
              'application/json': [
                "#if($input.path('$.__type').contains('ProvisionedThroughputExceeded'))",
                '#set($context.responseOverride.status = 429)',
                '{"message": "too many events: retry with backoff"}',
                '#else',
                '{"message": "the event was refused"}',
                '#end',
              ].join('\n'),
            },
          },
          { selectionPattern: '5\\d{2}', statusCode: '500', responseTemplates: { 'application/json': '{"message": "the event could not be taken: retry"}' } },
        ],
      },
    });

    const model = api.addModel('ClickEventModel', { contentType: 'application/json', modelName: 'ClickEvent', schema: CLICK_EVENT_SCHEMA });
    const validator = api.addRequestValidator('BodyValidator', { requestValidatorName: 'click-event-body', validateRequestBody: true, validateRequestParameters: true });
    api.root.addResource('events').addMethod('POST', integration, {
      authorizationType: AuthorizationType.IAM,
      requestValidator: validator,
      requestModels: { 'application/json': model },
      methodResponses: [{ statusCode: '200' }, { statusCode: '400' }, { statusCode: '429' }, { statusCode: '500' }],
    });
    acknowledge(
      api,
      'Producers sign requests with IAM (servers with their roles, browsers and apps with a Cognito identity pool\'s credentials); a user-pool authorizer would make every visitor sign in before a click is counted.',
      'AwsSolutions-COG4',
    );
    // Tell a client why its event was refused, not only that it was.
    api.addGatewayResponse('BadRequestBody', {
      type: ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      templates: { 'application/json': '{"message": "invalid event: $context.error.validationErrorString"}' },
    });
    return api;
  }
}
