import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { describeIssues } from '../tasks/shared/describe-issues';

/**
 * The settings of one deployment (an environment), read from cdk.json's context: `environments`
 * maps each environment's name to its settings, and `env` (`-c env=<name>`) picks one. Every field
 * but `prefix` has a default; unknown fields are refused, so that a typo does not pass silently.
 * infra/README.md describes every setting.
 */

export const AGGREGATE_ENGINES = ['redshift', 'athena'] as const;

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

const LOG_RETENTION_DAYS = new Set<number>(Object.values(RetentionDays).filter((value): value is number => typeof value === 'number'));

const positiveInt = z.number().int().positive();

const environmentSchema = z.strictObject({
  /** Names every resource (`<prefix>-merge`, `<prefix>-products`, ...) and every stack (`<prefix>-lake`, ...). */
  // At most 20 characters: `<prefix>-access-logs-<account>-<region>` must fit S3's 63.
  prefix: z.string().regex(/^[a-z][a-z0-9-]{1,18}[a-z0-9]$/, 'expected 3 to 20 lowercase letters, digits and dashes, starting with a letter'),
  /** The AWS account; unset, the CLI's credentials decide (an environment-agnostic synth). */
  account: z.string().regex(/^\d{12}$/, 'expected a 12-digit account id').optional(),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected a region such as eu-west-1').optional(),
  /** What `cdk destroy` does with the lake bucket, the tables and the keys: `retain` keeps the data. */
  removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  /** The Glue database of the lake's tables. @default the prefix with `_` for `-` */
  glueDatabase: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,254}$/, 'expected lowercase letters, digits and underscores, starting with a letter')
    .optional(),
  schedule: z
    .strictObject({
      /** Whether the hourly schedule is on; off, hours run only when started (lakehouse run/backfill). */
      enabled: z.boolean().default(true),
      /** Minutes after each hour begins when the previous hour runs: Firehose's last buffers (60 s) must have landed. */
      minute: z.number().int().min(1).max(59).default(5),
    })
    .prefault({}),
  retention: z
    .strictObject({
      /** Raw objects are deleted this many days after they land (backfills and reruns need them). */
      rawDays: positiveInt.default(365),
      /** Raw objects move to S3 Standard-IA after this many days (S3's minimum is 30). */
      rawInfrequentAccessDays: z.number().int().min(30).default(30),
      /** Rejected records are kept this many days. */
      rejectsDays: positiveInt.default(90),
      /** Old partition versions and crashed writers' files are deleted by vacuum after this many hours. */
      partitionVersionHours: positiveInt.default(72),
      /** The click index keeps an arrival hour's entries this many days (reruns of older hours read more partitions to deduplicate). */
      clickIndexDays: z.number().int().min(3).default(30),
      /** Deleted or overwritten objects stay recoverable (noncurrent versions) this many days. */
      noncurrentVersionDays: positiveInt.default(7),
      /** S3 server access logs are kept this many days. */
      accessLogDays: positiveInt.default(90),
      /** CloudWatch Logs retention of every function, state machine, API stage and delivery stream. */
      logDays: z
        .number()
        .int()
        .refine((days) => LOG_RETENTION_DAYS.has(days), 'expected a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)')
        .default(30),
    })
    .prefault({}),
  compaction: z
    .strictObject({
      /** The size compaction aims its Parquet files at. */
      targetFileBytes: z.number().int().min(MIB).max(4 * GIB).default(128 * MIB),
    })
    .prefault({}),
  /** Where the aggregates are computed and unloaded: Redshift Serverless (Spectrum) or Athena. */
  aggregateEngine: z.enum(AGGREGATE_ENGINES).default('redshift'),
  redshift: z
    .strictObject({
      database: z.string().regex(/^[a-z_][a-z0-9_]{0,63}$/).default('dev'),
      /** The external schema over the Glue database, in which the queries find `events` and `users`. */
      externalSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,126}$/).default('lake'),
      /** Redshift Processing Units the workgroup starts a query with (Redshift Serverless bills RPU-seconds used). */
      baseCapacityRpu: z.number().int().min(4).max(1024).default(8),
      /** The workgroup's subnets and security groups; unset, the account's default VPC. */
      subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/)).min(1).optional(),
      securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/)).min(1).optional(),
    })
    .prefault({}),
  athena: z
    .strictObject({
      /** A query scanning more is cancelled (the workgroup enforces it; Athena's minimum is 10 MB). */
      bytesScannedCutoffPerQuery: z.number().int().min(10 * MIB).default(10 * GIB),
    })
    .prefault({}),
  ingestion: z
    .strictObject({
      /** Kinesis shards: each takes 1 MB/s or 1,000 records/s. */
      shards: positiveInt.max(500).default(2),
      /** Hours the stream keeps records for Firehose (24 to 8760). */
      streamRetentionHours: z.number().int().min(24).max(8760).default(24),
      /** API Gateway's steady-state requests a second for the stage, and its burst. */
      throttlingRateLimit: positiveInt.default(2000),
      throttlingBurstLimit: positiveInt.default(4000),
    })
    .prefault({}),
  lakeFormation: z
    .strictObject({
      /**
       * Whether this deployment writes the account's Lake Formation settings (one per account and
       * region): the admins, and no IAMAllowedPrincipals default grants. Turn off where another
       * stack or team owns them; the CloudFormation execution role must then be an admin already.
       */
      manageSettings: z.boolean().default(true),
      /** IAM role or user ARNs made data lake administrators, besides the CDK's CloudFormation execution role. */
      admins: z.array(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/\S+$/)).default([]),
      /** Who may assume the analyst role; empty: any principal of the account that IAM allows to. */
      analystPrincipals: z.array(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:\S+$/)).default([]),
    })
    .prefault({}),
  pricing: z
    .strictObject({
      /**
       * The model artifact baked into the endpoint's image, relative to the repository root.
       * @default the model `lake/models/demand/current.json` points at (`lakehouse train-model` writes it)
       */
      modelArtifact: z.string().min(1).optional(),
      instanceType: z.string().regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/).default('ml.t2.medium'),
      instanceCount: positiveInt.max(10).default(1),
      /** The most stream batches the consumer handles at once, which bounds the endpoint's load. */
      consumerReservedConcurrency: positiveInt.max(100).default(2),
    })
    .prefault({}),
  /** Where alarms are mailed (confirm the subscription); unset, alarms only go to the SNS topic. */
  alarmEmail: z.email().optional(),
});

export type EnvironmentSettings = z.output<typeof environmentSchema>;

/** One environment's settings, with its name and the defaults filled in. */
export interface LakehouseConfig extends EnvironmentSettings {
  /** The key of `environments` this came from. */
  readonly name: string;
  readonly glueDatabase: string;
}

/** A cdk.json context (or `-c`) problem, in one line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The environment `context.env` names, from `context.environments`, validated. Throws ConfigError
 * with one line saying which setting is wrong and why.
 */
export function readLakehouseConfig(context: { readonly env?: unknown; readonly environments?: unknown }): LakehouseConfig {
  const environments = context.environments;
  if (typeof environments !== 'object' || environments === null || Array.isArray(environments)) {
    throw new ConfigError('cdk.json context "environments" is missing or not an object: expected {"<name>": {"prefix": "...", ...}}');
  }
  const names = Object.keys(environments);
  const name = context.env;
  if (typeof name !== 'string' || !Object.hasOwn(environments, name)) {
    const given = name === undefined ? 'no environment given' : `no environment ${JSON.stringify(name)}`;
    throw new ConfigError(`${given}: pass -c env=<name>, one of ${names.join(', ') || '(none in cdk.json context "environments")'}`);
  }
  const parsed = environmentSchema.safeParse((environments as Record<string, unknown>)[name]);
  if (!parsed.success) throw new ConfigError(`invalid environment "${name}" in cdk.json context: ${describeIssues(parsed.error, ['environments', name])}`);
  const settings = parsed.data;
  return { ...settings, name, glueDatabase: settings.glueDatabase ?? settings.prefix.replaceAll('-', '_') };
}
