import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Annotations, Duration, IgnoreMode, Stack } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnEndpoint, CfnEndpointConfig, CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CURRENT_MODEL_KEY } from '../../models/demand/artifact';
import { AWS_ENVIRONMENT } from '../../tasks/runtime/aws-environment';
import { OPERATIONAL_TABLES, type TableRole } from '../../tasks/tables/definitions';
import { definedTable } from '../constructs/defined-table';
import { acknowledge, wildcardResource } from '../constructs/nag';
import { AWS_PORTS_FILES, TaskFunction } from '../constructs/task-function';
import { arnIn, lakehouseNames, pascal, type LakehouseNames } from '../names';
import { REPO_ROOT } from '../paths';
import type { LakehouseConfig } from '../config';
import { removalPolicyOf, type LakehouseStackProps } from './lakehouse-stack-props';

/** The local lake directory the demo and `lakehouse train-model` write, relative to the repository root. */
const LOCAL_LAKE_DIR = 'lake';

/**
 * The pricing branch: the operational tables (from tasks/tables/definitions.ts), the price model's
 * SageMaker endpoint (the image built from models/Dockerfile), and the consumer of price_signals'
 * stream, which calls the endpoint and writes bounded price changes, with its dead letters in SQS.
 */
export class PricingStack extends Stack {
  readonly names: LakehouseNames;
  readonly tables: Readonly<Record<TableRole, Table>>;
  readonly deadLetterQueue: Queue;
  readonly modelImage: DockerImageAsset;
  readonly endpoint: CfnEndpoint;
  readonly consumer: TaskFunction;
  /** The model file baked into the image, relative to the repository root. */
  readonly modelArtifact: string;

  constructor(scope: Construct, id: string, props: LakehouseStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = (this.names = lakehouseNames(config, this));
    const removalPolicy = removalPolicyOf(config);

    const tables = {} as Record<TableRole, Table>;
    for (const role of Object.keys(OPERATIONAL_TABLES) as TableRole[]) {
      tables[role] = definedTable(this, `${pascal(role)}Table`, { definition: OPERATIONAL_TABLES[role], tableName: names.tables[role], removalPolicy });
    }
    this.tables = tables;

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: names.deadLetterQueue,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    acknowledge(
      this.deadLetterQueue,
      'This queue is itself the dead-letter destination of the price_signals consumer (its event source mapping\'s on-failure destination and its own dead letters); a queue behind it would hide records no one redrives.',
      'AwsSolutions-SQS3',
    );

    const { artifact, found } = modelArtifactOf(config);
    this.modelArtifact = artifact;
    if (!found) {
      Annotations.of(this).addWarningV2(
        'lakehouse:model-artifact-missing',
        `no price model at ${artifact}: the endpoint's image will not build at deploy. Train one (npx lakehouse train-model) or set pricing.modelArtifact.`,
      );
    }
    this.modelImage = new DockerImageAsset(this, 'ModelImage', {
      directory: REPO_ROOT,
      file: 'models/Dockerfile',
      platform: Platform.LINUX_AMD64,
      buildArgs: { MODEL: artifact },
      // The build context is the repository: stage only what models/Dockerfile.dockerignore lets through.
      ignoreMode: IgnoreMode.DOCKER,
      exclude: contextExcludes(REPO_ROOT, dockerignoreIncludes(path.join(REPO_ROOT, 'models', 'Dockerfile.dockerignore'))),
    });
    this.endpoint = this.modelEndpoint(names, config);

    this.consumer = new TaskFunction(this, 'Consumer', {
      task: 'pricing',
      functionName: names.functionName('pricing'),
      description: 'Consumes price_signals\' stream: asks the price model, applies the guardrails, writes bounded price changes and their audit.',
      // One batch of at most 100 signals, one InvokeEndpoint and a few writes per record: small.
      memorySize: 512,
      // A batch's model call and writes take seconds; 2 minutes leaves room for the SDK's retries of a slow endpoint.
      timeout: Duration.minutes(2),
      files: AWS_PORTS_FILES,
      // Bounds the load on the endpoint (one instance by default): each concurrent batch is one InvokeEndpoint at a time.
      reservedConcurrentExecutions: config.pricing.consumerReservedConcurrency,
      environment: {
        [AWS_ENVIRONMENT.LAKE_BUCKET]: names.lakeBucket,
        [AWS_ENVIRONMENT.TABLE_NAME_PREFIX]: names.tableNamePrefix,
        [AWS_ENVIRONMENT.MODEL_ENDPOINT_NAME]: names.modelEndpoint,
        [AWS_ENVIRONMENT.DEAD_LETTER_QUEUE_URL]: this.deadLetterQueue.queueUrl,
      },
      logRetention: config.retention.logDays as RetentionDays,
      removalPolicy,
    });
    const consumer = this.consumer.function;
    tables.products.grantReadWriteData(consumer);
    tables.priceHistory.grantReadWriteData(consumer);
    tables.priceSignals.grantReadData(consumer);
    this.deadLetterQueue.grantSendMessages(consumer);
    consumer.addToRolePolicy(new PolicyStatement({ actions: ['sagemaker:InvokeEndpoint'], resources: [arnIn(this, 'sagemaker', `endpoint/${names.modelEndpoint}`)] }));
    consumer.addEventSource(
      new DynamoEventSource(tables.priceSignals, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        // Stream order per product matters (a signal is decided against the price the previous one left).
        parallelizationFactor: 1,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: 3,
        // A signal older than this prices from stale demand: it goes to the dead letters instead.
        maxRecordAge: Duration.hours(6),
        onFailure: new SqsDlq(this.deadLetterQueue),
      }),
    );
    // Granted by the table's grantReadData/grantReadWriteData: the tables' indexes.
    for (const role of ['products', 'priceHistory', 'priceSignals'] as const) {
      if ((OPERATIONAL_TABLES[role].indexes ?? []).length > 0) {
        acknowledge(this.consumer, 'The table grant covers its indexes, named at run time.', wildcardResource(this, `${tables[role].tableArn}/index/*`));
      }
    }
  }

  private modelEndpoint(names: LakehouseNames, config: LakehouseConfig): CfnEndpoint {
    const role = new Role(this, 'ModelRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'SageMaker pulls the price model\'s image and writes the endpoint\'s logs and metrics.',
    });
    this.modelImage.repository.grantPull(role);
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [arnIn(this, 'logs', 'log-group:/aws/sagemaker/Endpoints/*')],
      }),
    );
    role.addToPolicy(new PolicyStatement({ actions: ['cloudwatch:PutMetricData'], resources: ['*'], conditions: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/Endpoints' } } }));
    acknowledge(
      role,
      'SageMaker names the endpoint\'s log groups and streams itself (/aws/sagemaker/Endpoints/<endpoint>); cloudwatch:PutMetricData has no resource-level permissions (limited to SageMaker\'s namespace by condition); ecr:GetAuthorizationToken has none either.',
      wildcardResource(this, arnIn(this, 'logs', 'log-group:/aws/sagemaker/Endpoints/*')),
      'AwsSolutions-IAM5[Resource::*]',
    );
    const model = new CfnModel(this, 'Model', {
      executionRoleArn: role.roleArn,
      primaryContainer: { image: this.modelImage.imageUri, mode: 'SingleModel' },
    });
    model.node.addDependency(role);
    const endpointConfig = new CfnEndpointConfig(this, 'EndpointConfig', {
      productionVariants: [
        {
          variantName: 'AllTraffic',
          modelName: model.attrModelName,
          initialInstanceCount: config.pricing.instanceCount,
          instanceType: config.pricing.instanceType,
          initialVariantWeight: 1,
        },
      ],
    });
    return new CfnEndpoint(this, 'Endpoint', { endpointName: names.modelEndpoint, endpointConfigName: endpointConfig.attrEndpointConfigName });
  }
}

/**
 * The model artifact the image bakes in: the configured one, else the one the local lake's
 * `current.json` points at (what `lakehouse train-model` published last).
 */
function modelArtifactOf(config: LakehouseConfig): { readonly artifact: string; readonly found: boolean } {
  if (config.pricing.modelArtifact !== undefined) {
    return { artifact: config.pricing.modelArtifact, found: existsSync(path.join(REPO_ROOT, config.pricing.modelArtifact)) };
  }
  const pointer = path.join(REPO_ROOT, LOCAL_LAKE_DIR, CURRENT_MODEL_KEY);
  try {
    const { key } = JSON.parse(readFileSync(pointer, 'utf8')) as { key?: unknown };
    if (typeof key === 'string') {
      const artifact = path.posix.join(LOCAL_LAKE_DIR, key);
      return { artifact, found: existsSync(path.join(REPO_ROOT, artifact)) };
    }
  } catch {
    // No trained model: reported below.
  }
  return { artifact: path.posix.join(LOCAL_LAKE_DIR, 'models/demand/<version>/model.json'), found: false };
}

/**
 * The paths a `*`-then-`!path` .dockerignore lets into the build context (models/Dockerfile.dockerignore
 * is written so), checked to be of that form.
 */
export function dockerignoreIncludes(file: string): string[] {
  const patterns = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (patterns[0] !== '*' || patterns.slice(1).some((pattern) => !pattern.startsWith('!'))) {
    throw new Error(`${file}: expected "*" and then "!<path>" lines, got ${JSON.stringify(patterns)}`);
  }
  return patterns.slice(1).map((pattern) => pattern.slice(1).replace(/\/+$/, ''));
}

/**
 * The same context as exclusions without negations: every entry that is neither an included path nor
 * on the way to one. CDK then skips whole directories (node_modules, lake/raw, ...) when it stages and
 * fingerprints the context, instead of walking them for a negation that might match below.
 */
export function contextExcludes(root: string, includes: readonly string[], dir = ''): string[] {
  const excludes: string[] = [];
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const relative = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (includes.includes(relative)) continue;
    if (entry.isDirectory() && includes.some((include) => include.startsWith(`${relative}/`))) {
      excludes.push(...contextExcludes(root, includes, relative));
    } else {
      excludes.push(relative);
    }
  }
  return excludes;
}
