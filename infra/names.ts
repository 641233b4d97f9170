import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { tableNames, type TableNames } from '../tasks/tables/definitions';
import type { LakehouseConfig } from './config';

/**
 * The physical names of the resources, all derived from the environment's prefix. Stacks refer to
 * each other's resources by these names (and the account and region they are deployed to) rather
 * than through CloudFormation exports, so that no stack pins another's resources, each stack reads
 * on its own, and IAM policies name what they grant.
 */
export interface LakehouseNames {
  readonly lakeBucket: string;
  readonly accessLogBucket: string;
  readonly glueDatabase: string;
  readonly rawCrawler: string;
  readonly catalogTable: string;
  /** Prefixed to the operational tables' names (TABLE_NAME_PREFIX). */
  readonly tableNamePrefix: string;
  readonly tables: TableNames;
  readonly deadLetterQueue: string;
  readonly modelEndpoint: string;
  readonly redshiftNamespace: string;
  readonly redshiftWorkgroup: string;
  readonly spectrumRole: string;
  readonly athenaWorkgroup: string;
  readonly analystRole: string;
  readonly hourlyStateMachine: string;
  readonly backfillStateMachine: string;
  readonly scheduleStateMachine: string;
  readonly deliveryStream: string;
  readonly ingestStream: string;
  /** The function of a task (`crawl`, `merge`, ..., `pricing`). */
  functionName(task: string): string;
}

/** The CloudFormation stack of a concern: `<prefix>-lake`, `<prefix>-orchestration`, ... */
export function stackNameOf(config: LakehouseConfig, concern: string): string {
  return `${config.prefix}-${concern}`;
}

/** Names in the account and region of `scope`'s stack (literal when the environment sets them, else CloudFormation's pseudo parameters). */
export function lakehouseNames(config: LakehouseConfig, scope: IConstruct): LakehouseNames {
  const stack = Stack.of(scope);
  const account = stack.account;
  const region = stack.region;
  const p = config.prefix;
  return {
    // Bucket names are global: the account and region make them unique.
    lakeBucket: `${p}-lake-${account}-${region}`,
    accessLogBucket: `${p}-access-logs-${account}-${region}`,
    glueDatabase: config.glueDatabase,
    rawCrawler: `${p}-raw`,
    catalogTable: `${p}-catalog`,
    tableNamePrefix: `${p}-`,
    tables: tableNames(`${p}-`),
    deadLetterQueue: `${p}-price-signals-dlq`,
    modelEndpoint: `${p}-price-model`,
    redshiftNamespace: p,
    redshiftWorkgroup: p,
    spectrumRole: `${p}-redshift-spectrum`,
    athenaWorkgroup: p,
    analystRole: `${p}-analyst`,
    hourlyStateMachine: `${p}-hourly`,
    backfillStateMachine: `${p}-backfill`,
    scheduleStateMachine: `${p}-schedule-hourly`,
    deliveryStream: `${p}-raw`,
    ingestStream: `${p}-events`,
    functionName: (task) => `${p}-${task}`,
  };
}

/** `arn:<partition>:<service>:<region>:<account>:<resource>` in the stack of `scope`. */
/** `hourly-run` → `HourlyRun`, `price_signals` → `PriceSignals`: a construct id from a name. */
export function pascal(name: string): string {
  return name.replace(/(^|[_-])([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
}

export function arnIn(scope: IConstruct, service: string, resource: string, options: { readonly region?: boolean } = {}): string {
  const stack = Stack.of(scope);
  return `arn:${stack.partition}:${service}:${options.region === false ? '' : stack.region}:${stack.account}:${resource}`;
}
