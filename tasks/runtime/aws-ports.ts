import { AthenaClient } from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GlueClient } from '@aws-sdk/client-glue';
import { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AthenaAggregateEngine } from '../adapters/aws/athena-aggregate-engine';
import { duckDbS3Setup } from '../adapters/aws/duckdb-s3-access';
import { DynamoDbCatalog } from '../adapters/aws/dynamodb-catalog';
import { DynamoDbTables } from '../adapters/aws/dynamodb-tables';
import { GlueCatalogSync } from '../adapters/aws/glue-catalog-sync';
import { RedshiftAggregateEngine } from '../adapters/aws/redshift-aggregate-engine';
import { S3ObjectStore } from '../adapters/aws/s3-object-store';
import type { AggregateEngine } from '../ports/aggregate-engine';
import type { Catalog } from '../ports/catalog';
import type { ObjectStore } from '../ports/object-store';
import type { OperationalTables } from '../ports/operational-tables';
import { tableNames } from '../tables/definitions';
import { readAwsEnvironment, requireSetting, type AwsEnvironment } from './aws-environment';
import { NO_LAKE_SETTINGS, parseLakeSettings, type LakeSettings } from './lake-settings';

/** The ports of a task on AWS, built from its Lambda's environment (the names the CDK app sets). */
export interface AwsPorts {
  readonly environment: AwsEnvironment;
  readonly settings: LakeSettings;
  readonly store: ObjectStore;
  /** The catalog: its version of record in DynamoDB, followed by the Glue tables. */
  readonly catalog: () => Catalog;
  readonly tables: () => OperationalTables;
  /** Redshift Spectrum UNLOAD or Athena, as AGGREGATE_ENGINE says. */
  readonly aggregateEngine: () => AggregateEngine;
  readonly documentClient: () => DynamoDBDocumentClient;
}

/**
 * Builds the ports from `env`. Only the store is built at once; the others on first use, so that a
 * function is refused only for a variable it needs (the signals function has no catalog table).
 */
export function createAwsPorts(env: NodeJS.ProcessEnv = process.env): AwsPorts {
  const environment = readAwsEnvironment(env);
  const region = env.AWS_REGION;
  const settings = environment.LAKE_SETTINGS === undefined ? NO_LAKE_SETTINGS : parseLakeSettings(environment.LAKE_SETTINGS, 'LAKE_SETTINGS');
  const store = new S3ObjectStore({ client: new S3Client({}), bucket: environment.LAKE_BUCKET, duckdbSetup: () => duckDbSetupOf(env, environment.LAKE_BUCKET, region) });
  const documentClient = once(() => DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }));
  return {
    environment,
    settings,
    store,
    documentClient,
    catalog: once(
      () =>
        new DynamoDbCatalog({
          doc: documentClient(),
          tableName: requireSetting(environment, 'CATALOG_TABLE'),
          store,
          glue: new GlueCatalogSync({ client: new GlueClient({}), database: requireSetting(environment, 'GLUE_DATABASE'), store }),
        }),
    ),
    tables: once(() => new DynamoDbTables(documentClient(), tableNames(environment.TABLE_NAME_PREFIX))),
    aggregateEngine: once(() => aggregateEngineOf(environment, store)),
  };
}

function aggregateEngineOf(environment: AwsEnvironment, store: ObjectStore): AggregateEngine {
  if (environment.AGGREGATE_ENGINE === 'athena') {
    return new AthenaAggregateEngine({ client: new AthenaClient({}), store, workGroup: requireSetting(environment, 'ATHENA_WORKGROUP'), database: requireSetting(environment, 'GLUE_DATABASE') });
  }
  return new RedshiftAggregateEngine({
    client: new RedshiftDataClient({}),
    store,
    workgroupName: requireSetting(environment, 'REDSHIFT_WORKGROUP'),
    database: requireSetting(environment, 'REDSHIFT_DATABASE'),
    externalSchema: requireSetting(environment, 'REDSHIFT_EXTERNAL_SCHEMA'),
    iamRole: requireSetting(environment, 'REDSHIFT_UNLOAD_ROLE_ARN'),
  });
}

/** DuckDB reads S3 with the function's own credentials, which Lambda puts in its environment. */
function duckDbSetupOf(env: NodeJS.ProcessEnv, bucket: string, region: string | undefined): string[] {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (accessKeyId === undefined || secretAccessKey === undefined || region === undefined) {
    throw new Error('DuckDB cannot read the lake: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION are not all set (Lambda sets them)');
  }
  return duckDbS3Setup({ bucket, region, credentials: { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) } });
}

function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
