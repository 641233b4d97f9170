import { z } from 'zod';
import { InvalidInputError } from '../ports/errors';
import { describeIssues } from '../shared/describe-issues';

const nonEmpty = z.string().min(1);

const awsEnvironmentSchema = z.object({
  /** The lake's bucket: raw/, curated/, aggregates/, ... under the same keys as the local lake directory. */
  LAKE_BUCKET: nonEmpty,
  /** The DynamoDB table holding the catalog's commits: the version of record that Glue follows. */
  CATALOG_TABLE: nonEmpty.optional(),
  /** The Glue database whose tables (events, users, ...) follow the catalog's commits. */
  GLUE_DATABASE: nonEmpty.optional(),
  /** The Glue crawler over raw/, started by the crawl step (new folders only). Optional. */
  RAW_CRAWLER_NAME: nonEmpty.optional(),
  /** The lake settings (`lakehouse.json`'s content) as JSON. Optional. */
  LAKE_SETTINGS: nonEmpty.optional(),
  /** `redshift` (Spectrum UNLOAD through the Data API) or `athena`. @default redshift */
  AGGREGATE_ENGINE: z.enum(['redshift', 'athena']).default('redshift'),
  REDSHIFT_WORKGROUP: nonEmpty.optional(),
  REDSHIFT_DATABASE: nonEmpty.optional(),
  /** The external schema over the Glue database. */
  REDSHIFT_EXTERNAL_SCHEMA: nonEmpty.optional(),
  /** The role UNLOAD writes to S3 with. */
  REDSHIFT_UNLOAD_ROLE_ARN: nonEmpty.optional(),
  ATHENA_WORKGROUP: nonEmpty.optional(),
  /** Prefixed to the operational tables' names (products, orders, price_signals, price_history). @default '' */
  TABLE_NAME_PREFIX: z.string().default(''),
  /** The SageMaker endpoint the pricing consumer invokes. */
  MODEL_ENDPOINT_NAME: nonEmpty.optional(),
  /** The SQS queue the pricing consumer sends records it gives up on to. */
  DEAD_LETTER_QUEUE_URL: nonEmpty.optional(),
});

/**
 * The names of the variables a task's Lambda function reads from its environment: the names of the
 * resources the CDK app creates. The CDK app sets these variables and the Lambda entries read them
 * through `readAwsEnvironment`, so the two cannot drift apart.
 */
export const AWS_ENVIRONMENT = awsEnvironmentSchema.keyof().enum;

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
