import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CATALOG_TABLE_KEY } from '../../tasks/adapters/aws/dynamodb-catalog';
import { EVENT_COLUMNS } from '../../tasks/curated/layout';
import { AWS_ENVIRONMENT } from '../../tasks/runtime/aws-environment';
import { parseLakeSettings } from '../../tasks/runtime/lake-settings';
import { readWorkflowDescriptor, substitutePlaceholders } from '../../tasks/runtime/workflow-definitions';
import { hourStartMs, rawPrefix } from '../../tasks/shared/hours';
import { OPERATIONAL_TABLES, tableNames, type TableDefinition } from '../../tasks/tables/definitions';
import { TASKS } from '../../infra/constructs/task-function';
import type { LakehouseApp } from '../../infra/lakehouse-app';
import { CLICK_EVENT_SCHEMA, RAW_DATA_PREFIX, RAW_ERROR_PREFIX } from '../../infra/stacks/ingestion-stack';
import { stateTimeouts } from '../../infra/stacks/orchestration-stack';
import { ACCOUNT, allows, lakehouseApp, PREFIX, REGION, removeOutdirs, REPO_ROOT, resourceOf, templatesOf, testArn, testEnvironment, type StackName } from './fixture';

const LAKE_BUCKET = `${PREFIX}-lake-${ACCOUNT}-${REGION}`;
const DATABASE = PREFIX.replaceAll('-', '_');
const functionName = (task: string) => `${PREFIX}-${task}`;

function synthesize(environment = testEnvironment()): { app: LakehouseApp; templates: Record<StackName, Template> } {
  const app = lakehouseApp({ environment });
  return { app, templates: templatesOf(app) };
}
afterAll(removeOutdirs);

// One synthesis of the default test environment for most tests (bundling skipped).
const { app, templates } = synthesize();

describe('LakeStack', () => {
  const lake = templates.lake;

  it('encrypts, blocks public access to and versions the lake bucket, logging its accesses', () => {
    lake.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: LAKE_BUCKET,
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: resourceOf(lake, 'AWS::S3::Bucket', { BucketName: `${PREFIX}-access-logs-${ACCOUNT}-${REGION}` }).id }, LogFilePrefix: 'lake/' },
    });
  });

  it('refuses requests without TLS to both buckets', () => {
    for (const bucket of [LAKE_BUCKET, `${PREFIX}-access-logs-${ACCOUNT}-${REGION}`]) {
      const { id } = resourceOf(lake, 'AWS::S3::Bucket', { BucketName: bucket });
      lake.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        },
      });
    }
  });

  it('expires raw/ after the raw retention, moving it to Standard-IA first, and expires noncurrent versions', () => {
    lake.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: LAKE_BUCKET,
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'raw/', ExpirationInDays: 365, Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }], Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'rejects/', ExpirationInDays: 90 }),
          Match.objectLike({ Prefix: '_staging/', ExpirationInDays: 1 }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
          Match.objectLike({ ExpiredObjectDeleteMarker: true }),
        ]),
      },
    });
  });

  it('retains the lake bucket, the catalog table and the access logs by default', () => {
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::Table']) {
      for (const resource of Object.values(lake.findResources(type))) expect(resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('defines the curated events table with the curated columns and dt/hr partitions, as Parquet read through each partition\'s manifest', () => {
    const columns = EVENT_COLUMNS.filter(({ name }) => name !== 'dt' && name !== 'hr').map(({ name, type }) => Match.objectLike({ Name: name, Type: type }));
    lake.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: DATABASE,
      TableInput: {
        Name: 'events',
        TableType: 'EXTERNAL_TABLE',
        PartitionKeys: [
          { Name: 'dt', Type: 'string' },
          { Name: 'hr', Type: 'string' },
        ],
        StorageDescriptor: {
          Columns: columns,
          Location: { 'Fn::Join': ['', ['s3://', { Ref: Match.anyValue() }, '/curated/manifests/events/']] },
          InputFormat: 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat',
          OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
  });

  it('defines the users dimension the aggregates join, over a folder of its own', () => {
    lake.hasResourceProperties('AWS::Glue::Table', {
      TableInput: {
        Name: 'users',
        StorageDescriptor: {
          Columns: [Match.objectLike({ Name: 'user_id' }), Match.objectLike({ Name: 'name' }), Match.objectLike({ Name: 'segment' })],
          Location: { 'Fn::Join': ['', ['s3://', { Ref: Match.anyValue() }, '/dims/users/']] },
          SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
        },
      },
    });
  });

  it('crawls only new folders of raw/, leaving existing tables as they are', () => {
    lake.hasResourceProperties('AWS::Glue::Crawler', {
      Name: `${PREFIX}-raw`,
      DatabaseName: DATABASE,
      RecrawlPolicy: { RecrawlBehavior: 'CRAWL_NEW_FOLDERS_ONLY' },
      SchemaChangePolicy: { UpdateBehavior: 'LOG', DeleteBehavior: 'LOG' },
      Targets: { S3Targets: [Match.objectLike({ Path: { 'Fn::Join': ['', ['s3://', { Ref: Match.anyValue() }, '/raw/']] } })] },
      CrawlerSecurityConfiguration: Match.anyValue(),
    });
    // A crawler with no schedule: the crawl step starts it.
    expect(resourceOf(lake, 'AWS::Glue::Crawler').properties['Schedule']).toBeUndefined();
  });

  it('makes Lake Formation govern the database: deployment role as admin, no IAMAllowedPrincipals defaults', () => {
    lake.hasResourceProperties('AWS::LakeFormation::DataLakeSettings', {
      Admins: [{ DataLakePrincipalIdentifier: { 'Fn::Sub': Match.stringLikeRegexp('cfn-exec-role') } }],
      CreateDatabaseDefaultPermissions: [],
      CreateTableDefaultPermissions: [],
    });
    lake.hasResourceProperties('AWS::LakeFormation::Resource', { UseServiceLinkedRole: false, HybridAccessEnabled: false });
  });

  it('grants the analyst role SELECT on events without ip_prefix and user_name', () => {
    const analyst = resourceOf(lake, 'AWS::IAM::Role', { RoleName: `${PREFIX}-analyst` }).id;
    lake.hasResourceProperties('AWS::LakeFormation::PrincipalPermissions', {
      Principal: { DataLakePrincipalIdentifier: { 'Fn::GetAtt': [analyst, 'Arn'] } },
      Permissions: ['SELECT'],
      PermissionsWithGrantOption: [],
      Resource: { TableWithColumns: { DatabaseName: DATABASE, Name: 'events', ColumnWildcard: { ExcludedColumnNames: ['ip_prefix', 'user_name'] } } },
    });
    // Nothing else on the table's data.
    const grants = lake.findResources('AWS::LakeFormation::PrincipalPermissions', { Properties: { Principal: { DataLakePrincipalIdentifier: { 'Fn::GetAtt': [analyst, 'Arn'] } } } });
    expect(Object.values(grants).map((grant) => Object.keys((grant as { Properties: { Resource: object } }).Properties.Resource)[0]).sort()).toEqual(['Database', 'TableWithColumns']);
  });

  it('keeps the catalog\'s commits in a DynamoDB table keyed as the catalog adapter says, with point-in-time recovery', () => {
    lake.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: `${PREFIX}-catalog`,
      KeySchema: [
        { AttributeName: CATALOG_TABLE_KEY.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: CATALOG_TABLE_KEY.sortKey.name, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: CATALOG_TABLE_KEY.partitionKey.name, AttributeType: CATALOG_TABLE_KEY.partitionKey.type },
        { AttributeName: CATALOG_TABLE_KEY.sortKey.name, AttributeType: CATALOG_TABLE_KEY.sortKey.type },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
  });
});

describe('IngestionStack', () => {
  const ingestion = templates.ingestion;

  it('delivers the stream to raw/ by arrival hour in the layout the generator writes and the crawl reads', () => {
    const hour = '2021-07-12T05';
    expect(RAW_DATA_PREFIX.replace('!{timestamp:yyyy/MM/dd/HH}', hour.replace('-', '/').replace('-', '/').replace('T', '/'))).toBe(rawPrefix(hour));
    ingestion.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'KinesisStreamAsSource',
      KinesisStreamSourceConfiguration: { KinesisStreamARN: { 'Fn::GetAtt': [resourceOf(ingestion, 'AWS::Kinesis::Stream').id, 'Arn'] } },
      ExtendedS3DestinationConfiguration: {
        BucketARN: `arn:aws:s3:::${LAKE_BUCKET}`,
        Prefix: 'raw/!{timestamp:yyyy/MM/dd/HH}/',
        ErrorOutputPrefix: RAW_ERROR_PREFIX,
        BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 64 },
        CompressionFormat: 'GZIP',
        CloudWatchLoggingOptions: Match.objectLike({ Enabled: true }),
      },
    });
    expect(RAW_ERROR_PREFIX).toMatch(/^firehose-errors\/!\{firehose:error-output-type\}\//);
  });

  it('keeps events in an encrypted stream with the configured shards', () => {
    ingestion.hasResourceProperties('AWS::Kinesis::Stream', {
      ShardCount: 2,
      RetentionPeriodHours: 24,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
    });
  });

  it('puts each validated, IAM-signed POST on the stream, partitioned by user_id, as one line', () => {
    const method = resourceOf(ingestion, 'AWS::ApiGateway::Method', { HttpMethod: 'POST' }).properties;
    expect(method).toMatchObject({
      AuthorizationType: 'AWS_IAM',
      RequestValidatorId: { Ref: resourceOf(ingestion, 'AWS::ApiGateway::RequestValidator').id },
      RequestModels: { 'application/json': { Ref: resourceOf(ingestion, 'AWS::ApiGateway::Model').id } },
      Integration: { Type: 'AWS', Uri: `arn:aws:apigateway:${REGION}:kinesis:action/PutRecord`, PassthroughBehavior: 'NEVER' },
    });
    const template = JSON.stringify(method['Integration'].RequestTemplates['application/json']);
    expect(template).toContain(String.raw`\"PartitionKey\": \"$util.escapeJavaScript($input.path('$.user_id'))\"`);
    // The record is the body as one line of JSON with a newline after it: the merge reads newline-delimited records.
    expect(template).toContain(String.raw`#set($line = \"$input.json('$')\n\")`);
    expect(template).toContain(String.raw`\"Data\": \"$util.base64Encode($line)\"`);
    expect(template).toContain(JSON.stringify({ Ref: resourceOf(ingestion, 'AWS::Kinesis::Stream').id }));
  });

  it('validates the body against the click event model', () => {
    ingestion.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true, ValidateRequestParameters: true });
    ingestion.hasResourceProperties('AWS::ApiGateway::Model', {
      ContentType: 'application/json',
      Schema: Match.objectLike({ type: 'object', required: CLICK_EVENT_SCHEMA.required, properties: Match.objectLike({ user_id: { type: 'string', minLength: 1, maxLength: 256 } }) }),
    });
  });

  it('throttles the stage and logs its accesses and errors', () => {
    ingestion.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      MethodSettings: [Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 2000, ThrottlingBurstLimit: 4000, LoggingLevel: 'ERROR', DataTraceEnabled: false })],
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
  });
});

describe('QueryStack', () => {
  const query = templates.query;

  it('runs Redshift Serverless with the Spectrum role, private, TLS only', () => {
    const role = resourceOf(query, 'AWS::IAM::Role', { RoleName: `${PREFIX}-redshift-spectrum` }).id;
    query.hasResourceProperties('AWS::RedshiftServerless::Namespace', {
      NamespaceName: PREFIX,
      ManageAdminPassword: true,
      IamRoles: [{ 'Fn::GetAtt': [role, 'Arn'] }],
      DefaultIamRoleArn: { 'Fn::GetAtt': [role, 'Arn'] },
    });
    query.hasResourceProperties('AWS::RedshiftServerless::Workgroup', {
      WorkgroupName: PREFIX,
      BaseCapacity: 8,
      PubliclyAccessible: false,
      ConfigParameters: Match.arrayWith([{ ParameterKey: 'require_ssl', ParameterValue: 'true' }]),
    });
  });

  it('lets Spectrum read curated/ and the users dimension and UNLOAD write the aggregates\' prefixes', () => {
    const role = resourceOf(query, 'AWS::IAM::Role', { RoleName: `${PREFIX}-redshift-spectrum` }).id;
    const object = (key: string) => `arn:aws:s3:::${LAKE_BUCKET}/${key}`;
    for (const key of ['curated/*', 'dims/users/*']) expect(allows(query, role, 's3:GetObject', object(key))).toBe(true);
    for (const key of ['_staging/aggregates/*', 'aggregates/*']) {
      for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) expect(allows(query, role, action, object(key))).toBe(true);
    }
    expect(allows(query, role, 's3:PutObject', object('curated/*'))).toBe(false);
    for (const action of ['glue:GetTable', 'glue:GetPartitions']) expect(allows(query, role, action, testArn('glue', `table/${DATABASE}/*`))).toBe(true);
    query.hasResourceProperties('AWS::LakeFormation::PrincipalPermissions', {
      Principal: { DataLakePrincipalIdentifier: { 'Fn::GetAtt': [role, 'Arn'] } },
      Permissions: ['SELECT', 'DESCRIBE'],
      Resource: { Table: { DatabaseName: DATABASE, Name: 'events' } },
    });
  });

  it('creates the external schema over the Glue database through the Data API', () => {
    const schema = resourceOf(query, 'Custom::RedshiftExternalSchema').properties;
    const create = JSON.stringify(schema['Create']);
    expect(create).toContain('BatchExecuteStatement');
    expect(create).toContain(`CREATE EXTERNAL SCHEMA IF NOT EXISTS lake FROM DATA CATALOG DATABASE '${DATABASE}' IAM_ROLE '`);
    expect(create).toContain('GRANT USAGE ON SCHEMA lake TO PUBLIC');
    expect(JSON.stringify(schema['Update'])).toEqual(create);
  });

  it('enforces the Athena workgroups\' result locations and scan limit', () => {
    for (const [name, results] of [
      [PREFIX, 'pipeline'],
      [`${PREFIX}-analysts`, 'analysts'],
    ] as const) {
      query.hasResourceProperties('AWS::Athena::WorkGroup', {
        Name: name,
        WorkGroupConfiguration: {
          EnforceWorkGroupConfiguration: true,
          BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
          ResultConfiguration: { OutputLocation: `s3://${LAKE_BUCKET}/_athena-results/${results}/`, EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
        },
      });
    }
  });
});

describe('PricingStack', () => {
  const pricing = templates.pricing;

  it('builds every operational table from its definition, with point-in-time recovery', () => {
    const names = tableNames(`${PREFIX}-`);
    for (const [role, definition] of Object.entries(OPERATIONAL_TABLES) as [keyof typeof OPERATIONAL_TABLES, TableDefinition][]) {
      const keys = [definition.partitionKey, definition.sortKey].filter((key) => key !== undefined);
      pricing.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: names[role],
        KeySchema: keys.map((key, index) => ({ AttributeName: key.name, KeyType: index === 0 ? 'HASH' : 'RANGE' })),
        AttributeDefinitions: Match.arrayWith(keys.map((key) => ({ AttributeName: key.name, AttributeType: key.type }))),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        BillingMode: 'PAY_PER_REQUEST',
        ...(definition.stream === undefined ? {} : { StreamSpecification: { StreamViewType: definition.stream } }),
        ...(definition.indexes === undefined
          ? {}
          : { GlobalSecondaryIndexes: definition.indexes.map((index) => Match.objectLike({ IndexName: index.name, Projection: { ProjectionType: 'ALL' } })) }),
      });
    }
  });

  it('feeds price_signals\' stream to the consumer in batches, bisecting and reporting failed records, dead letters to SQS', () => {
    const queue = resourceOf(pricing, 'AWS::SQS::Queue').id;
    pricing.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [resourceOf(pricing, 'AWS::DynamoDB::Table', { TableName: `${PREFIX}-price_signals` }).id, 'StreamArn'] },
      FunctionName: { Ref: resourceOf(pricing, 'AWS::Lambda::Function', { FunctionName: functionName('pricing') }).id },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 6 * 3600,
      ParallelizationFactor: 1,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    pricing.hasResourceProperties('AWS::SQS::Queue', { QueueName: `${PREFIX}-price-signals-dlq`, SqsManagedSseEnabled: true });
    pricing.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('tells the consumer its endpoint, dead-letter queue and tables, and lets it invoke the endpoint', () => {
    const consumer = resourceOf(pricing, 'AWS::Lambda::Function', { FunctionName: functionName('pricing') });
    expect(consumer.properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      Handler: 'tasks/pricing/index.handler',
      MemorySize: 512,
      Timeout: 120,
      ReservedConcurrentExecutions: 2,
      Environment: {
        Variables: {
          [AWS_ENVIRONMENT.MODEL_ENDPOINT_NAME]: `${PREFIX}-price-model`,
          [AWS_ENVIRONMENT.DEAD_LETTER_QUEUE_URL]: { Ref: resourceOf(pricing, 'AWS::SQS::Queue').id },
          [AWS_ENVIRONMENT.TABLE_NAME_PREFIX]: `${PREFIX}-`,
          [AWS_ENVIRONMENT.LAKE_BUCKET]: LAKE_BUCKET,
        },
      },
    });
    pricing.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'sagemaker:InvokeEndpoint', Resource: testArn('sagemaker', `endpoint/${PREFIX}-price-model`) })]) },
    });
  });

  it('serves the model from the image of models/Dockerfile on a SageMaker endpoint', () => {
    const model = resourceOf(pricing, 'AWS::SageMaker::Model');
    expect(model.properties['PrimaryContainer']).toMatchObject({ Image: { 'Fn::Sub': expect.stringContaining('container-assets') }, Mode: 'SingleModel' });
    pricing.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ProductionVariants: [{ VariantName: 'AllTraffic', ModelName: { 'Fn::GetAtt': [model.id, 'ModelName'] }, InstanceType: 'ml.t2.medium', InitialInstanceCount: 1, InitialVariantWeight: 1 }],
    });
    pricing.hasResourceProperties('AWS::SageMaker::Endpoint', { EndpointName: `${PREFIX}-price-model` });
    const manifest = JSON.parse(readFileSync(path.join(app.app.outdir, `${app.stacks.pricing.artifactId}.assets.json`), 'utf8')) as {
      dockerImages: Record<string, { source: { dockerFile: string; dockerBuildArgs: Record<string, string>; platform: string } }>;
    };
    const [image] = Object.values(manifest.dockerImages);
    expect(image?.source).toMatchObject({ dockerFile: 'models/Dockerfile', platform: 'linux/amd64', dockerBuildArgs: { MODEL: app.stacks.pricing.modelArtifact } });
  });

  it('stages only what models/Dockerfile.dockerignore lets into the image\'s build context', () => {
    const manifest = JSON.parse(readFileSync(path.join(app.app.outdir, `${app.stacks.pricing.artifactId}.assets.json`), 'utf8')) as { dockerImages: Record<string, { source: { directory: string } }> };
    const [image] = Object.values(manifest.dockerImages);
    const context = path.join(app.app.outdir, image?.source.directory as string);
    // The trained models of the working copy's lake come along (the image bakes one in), nothing else of the lake.
    const trained = existsSync(path.join(REPO_ROOT, 'lake', 'models'));
    expect(readdirSync(context).sort()).toEqual([...(trained ? ['lake'] : []), 'models', 'package-lock.json', 'package.json', 'tasks']);
    if (trained) expect(readdirSync(path.join(context, 'lake'))).toEqual(['models']);
    expect(readdirSync(path.join(context, 'tasks'))).toEqual(['ports']);
  });

  it('warns at synthesis when there is no trained model to bake into the image', () => {
    // An artifact that is not there, whether or not the working copy's lake has a trained model.
    const { stacks } = lakehouseApp({ acknowledgeMissingModel: false, environment: testEnvironment({ pricing: { modelArtifact: 'lake/models/demand/v=none/model.json' } }) });
    const warnings = stacks.pricing.node.metadata.filter((entry) => entry.type === 'aws:cdk:warning').map((entry) => String(entry.data));
    expect(warnings).toEqual([expect.stringContaining('no price model at lake/models/demand/v=none/model.json')]);
  });
});

describe('OrchestrationStack', () => {
  const orchestration = templates.orchestration;
  const timeouts = { ...stateTimeouts('hourly'), ...stateTimeouts('backfill') };
  const memory: Record<string, number> = { crawl: 1024, merge: 10240, compact: 6144, aggregate: 1024, signals: 1024, vacuum: 1024, 'plan-hours': 256, 'summarize-backfill': 256 };

  it('runs every workflow task as a Node.js 22 x86_64 function bundled from tasks/<task>/lambda.ts, as long as its state allows', () => {
    for (const task of TASKS.filter((name) => name !== 'pricing')) {
      expect(timeouts[task]).toBeGreaterThan(0);
      orchestration.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: functionName(task),
        Runtime: 'nodejs22.x',
        Architectures: ['x86_64'],
        Handler: `tasks/${task}/index.handler`,
        MemorySize: memory[task],
        Timeout: timeouts[task],
        TracingConfig: { Mode: 'Active' },
      });
    }
  });

  it('gives the tasks that run DuckDB its binding through a layer, and the merge the geolocation database too', () => {
    const layer = (description: RegExp) => ({ Ref: Object.keys(orchestration.findResources('AWS::Lambda::LayerVersion', { Properties: { Description: Match.stringLikeRegexp(description.source) } }))[0] });
    const duckDb = layer(/DuckDB/);
    const geo = layer(/DB-IP/);
    orchestration.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['x86_64'], CompatibleRuntimes: ['nodejs22.x'], LicenseInfo: 'CC-BY-4.0' });
    expect(resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName('merge') }).properties['Layers']).toEqual([duckDb, geo]);
    for (const task of ['compact', 'aggregate']) {
      expect(resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName(task) }).properties['Layers']).toEqual([duckDb]);
    }
    for (const task of ['crawl', 'signals', 'vacuum', 'plan-hours']) {
      expect(resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName(task) }).properties['Layers']).toBeUndefined();
    }
  });

  it('names each function\'s resources in its environment, under the names the Lambda entries read', () => {
    const variables = (task: string) => resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName(task) }).properties['Environment'].Variables as Record<string, unknown>;
    const catalog = { LAKE_BUCKET: LAKE_BUCKET, CATALOG_TABLE: `${PREFIX}-catalog`, GLUE_DATABASE: DATABASE };
    expect(variables('crawl')).toMatchObject({ ...catalog, RAW_CRAWLER_NAME: `${PREFIX}-raw` });
    expect(variables('merge')).toMatchObject(catalog);
    expect(variables('aggregate')).toMatchObject({
      ...catalog,
      AGGREGATE_ENGINE: 'redshift',
      REDSHIFT_WORKGROUP: PREFIX,
      REDSHIFT_DATABASE: 'dev',
      REDSHIFT_EXTERNAL_SCHEMA: 'lake',
      REDSHIFT_UNLOAD_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/${PREFIX}-redshift-spectrum`,
    });
    expect(variables('signals')).toEqual({ NODE_OPTIONS: '--enable-source-maps', LAKE_BUCKET: LAKE_BUCKET, TABLE_NAME_PREFIX: `${PREFIX}-` });
    for (const task of ['compact', 'vacuum', 'aggregate']) {
      const settings = parseLakeSettings(variables(task)['LAKE_SETTINGS'] as string, 'LAKE_SETTINGS');
      expect(settings).toMatchObject({ compaction: { targetFileBytes: 128 * 1024 * 1024 }, vacuum: { retentionHours: 72, clickIndexRetentionHours: 720 } });
    }
    const known = new Set<string>([...Object.values(AWS_ENVIRONMENT), 'NODE_OPTIONS']);
    for (const task of TASKS.filter((name) => name !== 'pricing')) {
      for (const name of Object.keys(variables(task) ?? {})) expect(known).toContain(name);
    }
  });

  it('lets the catalog tasks change the events table through Lake Formation, and the crawl start the crawler', () => {
    for (const task of ['crawl', 'merge', 'compact', 'aggregate', 'vacuum']) {
      const role = resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName(task) }).properties['Role'];
      orchestration.hasResourceProperties('AWS::LakeFormation::PrincipalPermissions', {
        Principal: { DataLakePrincipalIdentifier: role },
        Permissions: ['SELECT', 'INSERT', 'DELETE', 'ALTER', 'DESCRIBE'],
        Resource: { Table: { DatabaseName: DATABASE, Name: 'events' } },
      });
      orchestration.hasResourceProperties('AWS::LakeFormation::PrincipalPermissions', {
        Principal: { DataLakePrincipalIdentifier: role },
        Permissions: ['DATA_LOCATION_ACCESS'],
        Resource: { DataLocation: { ResourceArn: `arn:aws:s3:::${LAKE_BUCKET}/curated` } },
      });
    }
    orchestration.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'glue:StartCrawler', Resource: testArn('glue', `crawler/${PREFIX}-raw`) })]) },
    });
  });

  it('lets every task on the catalog write the partitions\' manifests, which bringing Glue up to date writes', () => {
    // The merge and the compaction write all of curated/; the others only the manifests.
    for (const [task, granted] of [['crawl', 'curated/manifests/*'], ['merge', 'curated/*'], ['compact', 'curated/*'], ['aggregate', 'curated/manifests/*'], ['vacuum', 'curated/manifests/*']]) {
      const role = resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName(task!) }).properties['Role']['Fn::GetAtt'][0];
      expect({ task, allowed: allows(orchestration, role, 's3:PutObject', `arn:aws:s3:::${LAKE_BUCKET}/${granted}`) }).toEqual({ task, allowed: true });
    }
  });

  it('lets the aggregate step run statements through the Redshift Data API', () => {
    const role = resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName('aggregate') }).properties['Role']['Fn::GetAtt'][0];
    for (const action of ['redshift-data:ExecuteStatement', 'redshift-serverless:GetCredentials']) {
      expect(allows(orchestration, role, action, testArn('redshift-serverless', 'workgroup/*'))).toBe(true);
    }
    for (const action of ['redshift-data:DescribeStatement', 'redshift-data:CancelStatement']) expect(allows(orchestration, role, action, '*')).toBe(true);
    for (const key of ['_staging/aggregates/*', 'aggregates/*']) {
      for (const action of ['s3:PutObject', 's3:DeleteObject']) expect(allows(orchestration, role, action, `arn:aws:s3:::${LAKE_BUCKET}/${key}`)).toBe(true);
    }
  });

  describe.each(['hourly', 'backfill'])('the %s state machine', (workflow) => {
    const machine = resourceOf(orchestration, 'AWS::StepFunctions::StateMachine', { StateMachineName: `${PREFIX}-${workflow}` });

    it('logs every event to CloudWatch Logs and traces with X-Ray', () => {
      orchestration.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `${PREFIX}-${workflow}`,
        StateMachineType: 'STANDARD',
        LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } } }] },
        TracingConfiguration: { Enabled: true },
      });
    });

    it(`is workflows/${workflow}.asl.json, its placeholders filled with the functions and state machines its descriptor names`, () => {
      const descriptor = readWorkflowDescriptor(workflow);
      const file = readFileSync(path.join(REPO_ROOT, 'workflows', descriptor.definition), 'utf8');
      expect(machine.properties['DefinitionString']).toBe(file);
      // What CloudFormation will substitute, each reference resolved to the ARN of the resource it names.
      const deployed = JSON.parse(substitutePlaceholders(machine.properties['DefinitionString'], resolveSubstitutions(orchestration, machine.properties['DefinitionSubstitutions'])));
      // What the descriptor says each placeholder is.
      const expected = JSON.parse(
        substitutePlaceholders(
          file,
          Object.fromEntries(
            Object.entries(descriptor.placeholders).map(([name, source]) => [
              name,
              'task' in source ? testArn('lambda', `function:${functionName(source.task)}`) : testArn('states', `stateMachine:${PREFIX}-${source.stateMachine}`),
            ]),
          ),
        ),
      );
      expect(deployed).toEqual(expected);
    });

    it('may invoke every function its Task states name', () => {
      const role = machine.properties['RoleArn']['Fn::GetAtt'][0];
      for (const task of Object.values(readWorkflowDescriptor(workflow).tasks)) {
        const fn = resourceOf(orchestration, 'AWS::Lambda::Function', { FunctionName: functionName(task) }).id;
        expect(allows(orchestration, role, 'lambda:InvokeFunction', { 'Fn::GetAtt': [fn, 'Arn'] })).toBe(true);
      }
    });
  });

  it('lets the backfill start, follow and stop hourly executions (startExecution.sync:2)', () => {
    const role = resourceOf(orchestration, 'AWS::StepFunctions::StateMachine', { StateMachineName: `${PREFIX}-backfill` }).properties['RoleArn']['Fn::GetAtt'][0];
    const hourly = resourceOf(orchestration, 'AWS::StepFunctions::StateMachine', { StateMachineName: `${PREFIX}-hourly` }).id;
    expect(allows(orchestration, role, 'states:StartExecution', { Ref: hourly })).toBe(true);
    for (const action of ['states:DescribeExecution', 'states:StopExecution']) expect(allows(orchestration, role, action, testArn('states', `execution:${PREFIX}-hourly:*`))).toBe(true);
    for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule']) {
      expect(allows(orchestration, role, action, testArn('events', 'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule'))).toBe(true);
    }
  });

  it('lets the backfill run its distributed map: child executions of itself', () => {
    const role = resourceOf(orchestration, 'AWS::StepFunctions::StateMachine', { StateMachineName: `${PREFIX}-backfill` }).properties['RoleArn']['Fn::GetAtt'][0];
    expect(allows(orchestration, role, 'states:StartExecution', testArn('states', `stateMachine:${PREFIX}-backfill`))).toBe(true);
    for (const action of ['states:DescribeExecution', 'states:StopExecution']) expect(allows(orchestration, role, action, testArn('states', `execution:${PREFIX}-backfill/*`))).toBe(true);
  });

  it('schedules the hourly workflow 5 minutes past every hour, in UTC, with the time it fired', () => {
    orchestration.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(5 * * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: { Ref: resourceOf(orchestration, 'AWS::StepFunctions::StateMachine', { StateMachineName: `${PREFIX}-schedule-hourly` }).id },
        Input: JSON.stringify({ scheduledTime: '<aws.scheduler.scheduled-time>' }),
      },
    });
  });

  it('starts the hour before the scheduled time, named after it, as the hourly input validation expects', async () => {
    const machine = resourceOf(orchestration, 'AWS::StepFunctions::StateMachine', { StateMachineName: `${PREFIX}-schedule-hourly` }).properties;
    expect(machine['DefinitionSubstitutions']).toEqual({ HourlyStateMachineArn: { Ref: resourceOf(orchestration, 'AWS::StepFunctions::StateMachine', { StateMachineName: `${PREFIX}-hourly` }).id } });
    expect(machine).toMatchObject({ LoggingConfiguration: { Level: 'ALL' }, TracingConfiguration: { Enabled: true } });
    const definition = JSON.parse(machine['DefinitionString']) as { QueryLanguage: string; States: { StartPreviousHour: { Arguments: { Name: string; Input: { hour: string } } } } };
    expect(definition.QueryLanguage).toBe('JSONata');
    const { Name, Input } = definition.States.StartPreviousHour.Arguments;
    const evaluate = async (expression: string, scheduledTime: string) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const jsonata = require('jsonata') as (text: string) => { evaluate: (input: unknown, bindings: unknown) => Promise<unknown> };
      return jsonata(expression.replace(/^\{%\s*/, '').replace(/\s*%\}$/, '')).evaluate({}, { states: { input: { scheduledTime } } });
    };
    for (const [scheduledTime, hour] of [
      ['2021-07-12T06:05:00Z', '2021-07-12T05'],
      ['2024-03-01T00:05:00Z', '2024-02-29T23'],
      ['2025-01-01T00:59:00Z', '2024-12-31T23'],
    ] as const) {
      expect(await evaluate(Input.hour, scheduledTime)).toBe(hour);
      expect(() => hourStartMs(hour)).not.toThrow();
      expect(await evaluate(Name, scheduledTime)).toBe(`scheduled-${hour}`);
    }
  });
});

describe('OperationsStack', () => {
  const operations = templates.operations;

  it('alarms to an encrypted, TLS-only topic', () => {
    operations.hasResourceProperties('AWS::SNS::Topic', { TopicName: `${PREFIX}-alarms`, KmsMasterKeyId: Match.anyValue() });
    operations.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const topic = resourceOf(operations, 'AWS::SNS::Topic').id;
    for (const alarm of Object.values(operations.findResources('AWS::CloudWatch::Alarm'))) {
      expect((alarm as { Properties: { AlarmActions: unknown } }).Properties.AlarmActions).toEqual([{ Ref: topic }]);
    }
  });

  it('alarms on failed, timed-out or aborted executions of every state machine', () => {
    for (const machine of ['hourly', 'backfill', 'schedule-hourly']) {
      operations.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'failed + timedOut + aborted' }),
          Match.objectLike({
            Id: 'failed',
            MetricStat: Match.objectLike({
              Metric: { Namespace: 'AWS/States', MetricName: 'ExecutionsFailed', Dimensions: [{ Name: 'StateMachineArn', Value: testArn('states', `stateMachine:${PREFIX}-${machine}`) }] },
            }),
          }),
        ]),
      });
    }
  });

  it('alarms on dead letters waiting', () => {
    operations.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: `${PREFIX}-price-signals-dlq` }],
      Threshold: 1,
    });
  });

  it('alarms when Firehose falls behind and when the collect API fails', () => {
    operations.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Firehose',
      MetricName: 'DeliveryToS3.DataFreshness',
      Dimensions: [{ Name: 'DeliveryStreamName', Value: `${PREFIX}-raw` }],
      Threshold: 900,
      EvaluationPeriods: 3,
    });
    operations.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/ApiGateway', MetricName: '5XXError', Dimensions: Match.arrayWith([{ Name: 'Stage', Value: 'v1' }]) });
  });

  it('alarms on each task function\'s errors', () => {
    for (const task of TASKS) {
      operations.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: functionName(task) }],
        Statistic: 'Sum',
        Threshold: 3,
      });
    }
  });
});

describe('environment settings', () => {
  const variant = synthesize(
    testEnvironment({
      aggregateEngine: 'athena',
      removalPolicy: 'destroy',
      schedule: { enabled: false },
      lakeFormation: { manageSettings: false },
    }),
  ).templates;

  it('tells the aggregate step to use Athena, and creates no Redshift, with the athena engine', () => {
    variant.query.resourceCountIs('AWS::RedshiftServerless::Workgroup', 0);
    variant.query.resourceCountIs('AWS::RedshiftServerless::Namespace', 0);
    const env = resourceOf(variant.orchestration, 'AWS::Lambda::Function', { FunctionName: functionName('aggregate') }).properties['Environment'].Variables;
    expect(env).toMatchObject({ AGGREGATE_ENGINE: 'athena', ATHENA_WORKGROUP: PREFIX });
    expect(env).not.toHaveProperty('REDSHIFT_WORKGROUP');
    variant.orchestration.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['athena:StartQueryExecution']), Resource: testArn('athena', `workgroup/${PREFIX}`) })]) },
    });
  });

  it('leaves the schedule out when it is turned off', () => {
    variant.orchestration.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });

  it('leaves the account\'s Lake Formation settings alone when told to', () => {
    variant.lake.resourceCountIs('AWS::LakeFormation::DataLakeSettings', 0);
  });

  it('deletes the data with the stacks when the removal policy is destroy', () => {
    expect(Object.values(variant.lake.findResources('AWS::S3::Bucket')).every((bucket) => (bucket as { DeletionPolicy: string }).DeletionPolicy === 'Delete')).toBe(true);
    variant.pricing.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
  });
});

/**
 * The ARN each DefinitionSubstitutions value names: `Fn::GetAtt [function, Arn]` and `Ref state
 * machine`, resolved through the resource's name in the template.
 */
function resolveSubstitutions(template: Template, substitutions: Record<string, unknown>): Record<string, string> {
  const resources = template.toJSON()['Resources'] as Record<string, { Type: string; Properties: Record<string, unknown> }>;
  const arnOf = (logicalId: string): string => {
    const resource = resources[logicalId];
    if (resource?.Type === 'AWS::Lambda::Function') return testArn('lambda', `function:${resource.Properties['FunctionName'] as string}`);
    if (resource?.Type === 'AWS::StepFunctions::StateMachine') return testArn('states', `stateMachine:${resource.Properties['StateMachineName'] as string}`);
    throw new Error(`unexpected substitution target ${logicalId} (${resource?.Type})`);
  };
  return Object.fromEntries(
    Object.entries(substitutions).map(([name, value]) => {
      const reference = value as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
      if (reference['Fn::GetAtt']?.[1] === 'Arn') return [name, arnOf(reference['Fn::GetAtt'][0])];
      if (reference.Ref !== undefined) return [name, arnOf(reference.Ref)];
      throw new Error(`unexpected substitution ${name}: ${JSON.stringify(value)}`);
    }),
  );
}
