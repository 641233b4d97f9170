import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';
import { describeIssues } from '../shared/describe-issues';

/**
 * The configuration a task's Lambda function reads from its environment: the names of the
 * resources the CDK app creates. The CDK app sets these variables and the Lambda entries read them
 * through `readAwsEnvironment`, so the two cannot drift apart.
 */
export const AWS_ENVIRONMENT = {
  /** The lake's bucket: raw/, curated/, aggregates/, ... under the same keys as the local lake directory. */
  LAKE_BUCKET: 'LAKE_BUCKET',
  /** The DynamoDB table holding the catalog's commits: the version of record that Glue follows. */
  CATALOG_TABLE: 'CATALOG_TABLE',
  /** The Glue database whose tables (events, users, ...) follow the catalog's commits. */
  GLUE_DATABASE: 'GLUE_DATABASE',
  /** The Glue crawler over raw/, started by the crawl step (new folders only). Optional. */
  RAW_CRAWLER_NAME: 'RAW_CRAWLER_NAME',
  /** The lake settings (`lakehouse.json`'s content) as JSON. Optional. */
  LAKE_SETTINGS: 'LAKE_SETTINGS',
  /** `redshift` (Spectrum UNLOAD through the Data API) or `athena`. @default redshift */
  AGGREGATE_ENGINE: 'AGGREGATE_ENGINE',
  REDSHIFT_WORKGROUP: 'REDSHIFT_WORKGROUP',
  REDSHIFT_DATABASE: 'REDSHIFT_DATABASE',
  /** The external schema over the Glue database. */
  REDSHIFT_EXTERNAL_SCHEMA: 'REDSHIFT_EXTERNAL_SCHEMA',
  /** The role UNLOAD writes to S3 with. */
  REDSHIFT_UNLOAD_ROLE_ARN: 'REDSHIFT_UNLOAD_ROLE_ARN',
  ATHENA_WORKGROUP: 'ATHENA_WORKGROUP',
  /** Prefixed to the operational tables' names (products, orders, price_signals, price_history). @default '' */
  TABLE_NAME_PREFIX: 'TABLE_NAME_PREFIX',
  /** The SageMaker endpoint the pricing consumer invokes. */
  MODEL_ENDPOINT_NAME: 'MODEL_ENDPOINT_NAME',
  /** The SQS queue the pricing consumer sends records it gives up on to. */
  DEAD_LETTER_QUEUE_URL: 'DEAD_LETTER_QUEUE_URL',
} as const;

const nonEmpty = z.string().min(1);

const awsEnvironmentSchema = z.object({
  LAKE_BUCKET: nonEmpty,
  CATALOG_TABLE: nonEmpty.optional(),
  GLUE_DATABASE: nonEmpty.optional(),
  RAW_CRAWLER_NAME: nonEmpty.optional(),
  LAKE_SETTINGS: nonEmpty.optional(),
  AGGREGATE_ENGINE: z.enum(['redshift', 'athena']).default('redshift'),
  REDSHIFT_WORKGROUP: nonEmpty.optional(),
  REDSHIFT_DATABASE: nonEmpty.optional(),
  REDSHIFT_EXTERNAL_SCHEMA: nonEmpty.optional(),
  REDSHIFT_UNLOAD_ROLE_ARN: nonEmpty.optional(),
  ATHENA_WORKGROUP: nonEmpty.optional(),
  TABLE_NAME_PREFIX: z.string().default(''),
  MODEL_ENDPOINT_NAME: nonEmpty.optional(),
  DEAD_LETTER_QUEUE_URL: nonEmpty.optional(),
});

export type AwsEnvironment = z.infer<typeof awsEnvironmentSchema>;

/** The environment's configuration; a missing or invalid variable is refused with InvalidInputError naming it. */
export function readAwsEnvironment(env: NodeJS.ProcessEnv = process.env): AwsEnvironment {
  const parsed = awsEnvironmentSchema.safeParse(env);
  if (!parsed.success) throw new InvalidInputError(`invalid Lambda environment: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The value of an optional variable that this function needs. */
export function requireSetting<K extends keyof AwsEnvironment>(environment: AwsEnvironment, name: K): NonNullable<AwsEnvironment[K]> {
  const value = environment[name];
  if (value === undefined) throw new InvalidInputError(`invalid Lambda environment: ${name} is not set`);
  return value as NonNullable<AwsEnvironment[K]>;
}
