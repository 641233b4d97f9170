import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import { Table, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { ContextAttribute, Schedule, ScheduleExpression, ScheduleTargetInput, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { AGGREGATES_PREFIX, AGGREGATES_STAGING_PREFIX } from '../../tasks/aggregate/queries';
import { CATALOG_PREFIX } from '../../tasks/adapters/catalog-fold';
import { EVENTS_TABLE, MANIFESTS_PREFIX, REJECTS_PREFIX } from '../../tasks/curated/layout';
import { AWS_ENVIRONMENT } from '../../tasks/runtime/aws-environment';
import { parseLakeSettings } from '../../tasks/runtime/lake-settings';
import { collectStates, loadWorkflow } from '../../tasks/runtime/workflow-definitions';
import { ORDERS_BY_PRODUCT_INDEX } from '../../tasks/tables/definitions';
import type { LakehouseConfig } from '../config';
import { LakeFormationGrants } from '../constructs/lake-formation';
import { acknowledge, wildcardResource } from '../constructs/nag';
import { duckDbLayer, geoDatabaseLayer } from '../constructs/package-layer';
import { AWS_PORTS_FILES, TaskFunction, type TaskName, type TaskFunctionProps } from '../constructs/task-function';
import { WorkflowStateMachine } from '../constructs/workflow-state-machine';
import { arnIn, lakehouseNames, pascal, type LakehouseNames } from '../names';
import { ATHENA_RESULTS_PREFIX, CURATED_ROOT, USERS_TABLE } from './lake-stack';
import { removalPolicyOf, type LakehouseStackProps } from './lakehouse-stack-props';

/** The tasks the hourly and backfill workflows run (the pricing consumer lives with its stream). */
export type WorkflowTask = Exclude<TaskName, 'pricing'>;

/** Which objects of the lake a task reads, writes and deletes, by key prefix. */
interface LakeAccess {
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  readonly delete?: readonly string[];
}

/**
 * The hourly pipeline: one Lambda function per task, the hourly and backfill state machines from
 * workflows/ (the same files the local runner runs), and the schedule that starts the hourly
 * workflow for each arrival hour shortly after it ends.
 */
export class OrchestrationStack extends Stack {
  readonly names: LakehouseNames;
  readonly functions: Readonly<Record<WorkflowTask, TaskFunction>>;
  readonly hourly: WorkflowStateMachine;
  readonly backfill: WorkflowStateMachine;
  /** Turns the schedule's firing time into the previous arrival hour and starts the hourly workflow for it. */
  readonly scheduledStart: StateMachine;
  /** Unset when the environment turns the schedule off. */
  readonly schedule?: Schedule;

  constructor(scope: Construct, id: string, props: LakehouseStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = (this.names = lakehouseNames(config, this));
    const removalPolicy = removalPolicyOf(config);
    const logRetention = config.retention.logDays as RetentionDays;
    const lake = Bucket.fromBucketName(this, 'Lake', names.lakeBucket);
    const catalogTable = Table.fromTableName(this, 'CatalogTable', names.catalogTable);
    const duckDb = duckDbLayer(this);
    const geo = geoDatabaseLayer(this);
    const timeouts = { ...stateTimeouts('hourly'), ...stateTimeouts('backfill') };

    const E = AWS_ENVIRONMENT;
    const lakeEnvironment = { [E.LAKE_BUCKET]: names.lakeBucket };
    const catalogEnvironment = { ...lakeEnvironment, [E.CATALOG_TABLE]: names.catalogTable, [E.GLUE_DATABASE]: names.glueDatabase };
    const settingsEnvironment = { [E.LAKE_SETTINGS]: lakeSettingsOf(config) };

    const task = (name: WorkflowTask, props: Omit<TaskFunctionProps, 'task' | 'functionName' | 'timeout' | 'logRetention' | 'removalPolicy'>) =>
      new TaskFunction(this, `${pascal(name)}Task`, {
        task: name,
        functionName: names.functionName(name),
        // As long as its Task state allows (read from the ASL): a shorter function timeout would end
        // the attempt with Lambda's timeout error, which the state's Retry (States.Timeout) does not retry.
        timeout: Duration.seconds(timeouts[name] ?? 900),
        logRetention,
        removalPolicy,
        ...props,
      });

    const functions: Record<WorkflowTask, TaskFunction> = {
      crawl: task('crawl', {
        description: 'Hourly step 1: registers the raw arrival hour in the catalog, infers its schema and drift, and starts the raw crawler.',
        // I/O bound: lists the hour and reads the first 256 KiB of each object; 1 GB for network throughput.
        memorySize: 1024,
        files: AWS_PORTS_FILES,
        environment: { ...catalogEnvironment, [E.RAW_CRAWLER_NAME]: names.rawCrawler },
      }),
      merge: task('merge', {
        description: 'Hourly step 2: validates, deduplicates, enriches and merges the hour\'s events (and late deliveries) into their event-hour partitions.',
        // The heaviest step: every record of the arrival hour (3.6 M, ~3.6 GB of JSON at 1,000 events/s)
        // is parsed, deduplicated against the touched partitions and sorted into Parquet by DuckDB, with
        // the ~135 MB geolocation database in memory. Lambda's maximum, which also brings 6 vCPUs.
        memorySize: 10240,
        ephemeralStorageMiB: 10240,
        layers: [duckDb, geo],
        files: AWS_PORTS_FILES,
        // The staging worker threads (tasks/merge/stage-pool.ts): piscina as installed (it starts its
        // workers from its own worker.js) and the worker bundled beside the function's bundle.
        packages: ['piscina'],
        extraBundles: [{ entry: 'infra/bundling/stage-worker.ts', outfile: 'tasks/merge/stage-worker.js' }],
        environment: catalogEnvironment,
      }),
      compact: task('compact', {
        description: 'Hourly step 3: rewrites partitions with too many or too small files into files of the target size, switched atomically.',
        // Reads a whole event-hour partition (a few hundred MB of Parquet at 1,000 events/s) and
        // sorts it into target-size files with DuckDB.
        memorySize: 6144,
        ephemeralStorageMiB: 10240,
        layers: [duckDb],
        files: AWS_PORTS_FILES,
        environment: { ...catalogEnvironment, ...settingsEnvironment },
      }),
      aggregate: task('aggregate', {
        description: `Hourly step 4: recomputes the aggregates of the touched hours on ${config.aggregateEngine === 'redshift' ? 'Redshift Spectrum' : 'Athena'} and unloads them to aggregates/.`,
        // The engine does the work: the function plans the jobs, waits on the engine and moves small CSV files.
        memorySize: 1024,
        layers: [duckDb],
        // The SQL of queries/, which tasks/aggregate/queries.ts reads from ../../queries.
        files: AWS_PORTS_FILES,
        environment: { ...catalogEnvironment, ...settingsEnvironment, ...this.aggregateEngineEnvironment(config, names) },
      }),
      signals: task('signals', {
        description: 'Hourly step 5: writes a hydrated price signal per product and touched event hour into price_signals.',
        // Reads the touched hours' product_demand and queries orders and products: I/O bound.
        memorySize: 1024,
        files: AWS_PORTS_FILES,
        environment: { ...lakeEnvironment, [E.TABLE_NAME_PREFIX]: names.tableNamePrefix },
      }),
      vacuum: task('vacuum', {
        description: 'Hourly step 6: deletes curated and rejects files no snapshot has named for longer than the retention period.',
        // Lists and deletes objects.
        memorySize: 1024,
        files: AWS_PORTS_FILES,
        environment: { ...catalogEnvironment, ...settingsEnvironment },
      }),
      'plan-hours': task('plan-hours', {
        description: 'Backfill: lists the hours of the range to run.',
        // Pure: no I/O.
        memorySize: 256,
      }),
      'summarize-backfill': task('summarize-backfill', {
        description: 'Backfill: counts the succeeded and failed hours; fails the backfill if any hour failed.',
        memorySize: 256,
      }),
    };
    this.functions = functions;
    this.grantTasks(config, names, lake, catalogTable);

    const taskFunctions = functionsByTask(functions);
    this.hourly = new WorkflowStateMachine(this, 'Hourly', {
      workflow: 'hourly',
      stateMachineName: names.hourlyStateMachine,
      functions: taskFunctions,
      logRetention,
      removalPolicy,
    });
    this.backfill = new WorkflowStateMachine(this, 'Backfill', {
      workflow: 'backfill',
      stateMachineName: names.backfillStateMachine,
      functions: taskFunctions,
      stateMachineArns: { hourly: this.hourly.stateMachine.stateMachineArn },
      logRetention,
      removalPolicy,
    });
    this.grantChildExecutions(this.backfill.stateMachine, this.hourly.stateMachine, names);

    this.scheduledStart = this.scheduledStartMachine(names, logRetention, removalPolicy);
    if (config.schedule.enabled) {
      this.schedule = new Schedule(this, 'HourlySchedule', {
        scheduleName: `${config.prefix}-hourly`,
        description: `Starts the hourly workflow for the previous arrival hour, ${config.schedule.minute} minutes after each hour begins.`,
        schedule: ScheduleExpression.cron({ minute: String(config.schedule.minute), hour: '*', day: '*', month: '*', year: '*', timeZone: TimeZone.ETC_UTC }),
        timeWindow: TimeWindow.off(),
        // Scheduler cannot do date arithmetic in a target's input: it passes the time it fired, and
        // the scheduled-start state machine starts the hour before it.
        target: new StepFunctionsStartExecution(this.scheduledStart, {
          input: ScheduleTargetInput.fromObject({ scheduledTime: ContextAttribute.scheduledTime }),
          retryAttempts: 10,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
  }

  /** Which engine the aggregate step uses, and where to find it. */
  private aggregateEngineEnvironment(config: LakehouseConfig, names: LakehouseNames): Record<string, string> {
    const E = AWS_ENVIRONMENT;
    if (config.aggregateEngine === 'athena') return { [E.AGGREGATE_ENGINE]: 'athena', [E.ATHENA_WORKGROUP]: names.athenaWorkgroup };
    return {
      [E.AGGREGATE_ENGINE]: 'redshift',
      [E.REDSHIFT_WORKGROUP]: names.redshiftWorkgroup,
      [E.REDSHIFT_DATABASE]: config.redshift.database,
      [E.REDSHIFT_EXTERNAL_SCHEMA]: config.redshift.externalSchema,
      [E.REDSHIFT_UNLOAD_ROLE_ARN]: arnIn(this, 'iam', `role/${names.spectrumRole}`, { region: false }),
    };
  }

  /** Each task's access to the lake, the catalog (DynamoDB, Glue, Lake Formation), its engine and its tables. */
  private grantTasks(config: LakehouseConfig, names: LakehouseNames, lake: IBucket, catalogTable: ITable): void {
    const fns = this.functions;
    const curated = `${CURATED_ROOT}/`;
    // Every task on the catalog may bring Glue up to the version of record, which writes the partitions' manifests.
    this.grantLake(fns.crawl, lake, { read: ['raw/', CATALOG_PREFIX], write: [CATALOG_PREFIX, MANIFESTS_PREFIX] });
    this.grantLake(fns.merge, lake, { read: ['raw/', 'dims/', curated, CATALOG_PREFIX], write: [curated, REJECTS_PREFIX, CATALOG_PREFIX] });
    this.grantLake(fns.compact, lake, { read: [curated, CATALOG_PREFIX], write: [curated, CATALOG_PREFIX] });
    this.grantLake(fns.aggregate, lake, {
      read: [curated, 'dims/', CATALOG_PREFIX, AGGREGATES_STAGING_PREFIX, AGGREGATES_PREFIX],
      write: [CATALOG_PREFIX, MANIFESTS_PREFIX, AGGREGATES_STAGING_PREFIX, AGGREGATES_PREFIX],
      delete: [AGGREGATES_STAGING_PREFIX, AGGREGATES_PREFIX],
    });
    this.grantLake(fns.signals, lake, { read: [AGGREGATES_PREFIX, 'dims/'] });
    this.grantLake(fns.vacuum, lake, { read: [curated, REJECTS_PREFIX, CATALOG_PREFIX], write: [CATALOG_PREFIX, MANIFESTS_PREFIX], delete: [curated, REJECTS_PREFIX, CATALOG_PREFIX] });

    const catalogTasks = [fns.crawl, fns.merge, fns.compact, fns.aggregate, fns.vacuum];
    const curatedLocation = `arn:${this.partition}:s3:::${names.lakeBucket}/${CURATED_ROOT}`;
    for (const fn of catalogTasks) {
      catalogTable.grantReadWriteData(fn.function);
      // The catalog's commits are projected into Glue's `events` table (tasks/adapters/aws/glue-catalog-sync.ts).
      fn.function.addToRolePolicy(
        new PolicyStatement({
          actions: [
            'glue:GetDatabase',
            'glue:GetTable',
            'glue:UpdateTable',
            'glue:GetPartition',
            'glue:GetPartitions',
            'glue:BatchGetPartition',
            'glue:BatchCreatePartition',
            'glue:BatchUpdatePartition',
            'glue:BatchDeletePartition',
          ],
          resources: [arnIn(this, 'glue', 'catalog'), arnIn(this, 'glue', `database/${names.glueDatabase}`), arnIn(this, 'glue', `table/${names.glueDatabase}/${EVENTS_TABLE}`)],
        }),
      );
      const grants = new LakeFormationGrants(fn, 'LakeFormation', { principalArn: fn.role.roleArn, database: names.glueDatabase });
      grants.onDatabase();
      grants.onTable(EVENTS_TABLE, ['SELECT', 'INSERT', 'DELETE', 'ALTER', 'DESCRIBE']);
      grants.onDataLocation(curatedLocation);
    }

    fns.crawl.function.addToRolePolicy(new PolicyStatement({ actions: ['glue:StartCrawler'], resources: [arnIn(this, 'glue', `crawler/${names.rawCrawler}`)] }));

    const aggregate = fns.aggregate.function;
    if (config.aggregateEngine === 'redshift') {
      // A workgroup's ARN holds an id generated at its creation: the workgroup is named in the function's environment.
      const workgroups = arnIn(this, 'redshift-serverless', 'workgroup/*');
      aggregate.addToRolePolicy(new PolicyStatement({ actions: ['redshift-data:ExecuteStatement', 'redshift-serverless:GetCredentials'], resources: [workgroups] }));
      aggregate.addToRolePolicy(
        new PolicyStatement({
          actions: ['redshift-data:DescribeStatement', 'redshift-data:CancelStatement', 'redshift-data:GetStatementResult'],
          resources: ['*'],
        }),
      );
      acknowledge(
        fns.aggregate,
        'The Data API authorizes statements on the workgroup (whose ARN holds an id generated at creation) and describes or cancels them on no resource (statements are the caller\'s own).',
        wildcardResource(this, workgroups),
        'AwsSolutions-IAM5[Resource::*]',
      );
    } else {
      aggregate.addToRolePolicy(
        new PolicyStatement({
          actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'],
          resources: [arnIn(this, 'athena', `workgroup/${names.athenaWorkgroup}`)],
        }),
      );
      aggregate.addToRolePolicy(
        new PolicyStatement({ actions: ['glue:GetTable', 'glue:GetPartitions', 'glue:GetPartition'], resources: [arnIn(this, 'glue', `table/${names.glueDatabase}/${USERS_TABLE}`)] }),
      );
      aggregate.addToRolePolicy(new PolicyStatement({ actions: ['lakeformation:GetDataAccess'], resources: ['*'] }));
      this.grantLake(fns.aggregate, lake, { read: [`${ATHENA_RESULTS_PREFIX}pipeline/`], write: [`${ATHENA_RESULTS_PREFIX}pipeline/`] });
      const grants = new LakeFormationGrants(fns.aggregate, 'AthenaLakeFormation', { principalArn: fns.aggregate.role.roleArn, database: names.glueDatabase });
      grants.onTable(USERS_TABLE, ['SELECT', 'DESCRIBE']);
      acknowledge(fns.aggregate, 'lakeformation:GetDataAccess supports no resource-level permissions; Lake Formation grants decide what it vends.', 'AwsSolutions-IAM5[Resource::*]');
    }

    const table = (id: string, role: keyof LakehouseNames['tables'], indexes: string[] = []) =>
      Table.fromTableAttributes(this, id, { tableName: names.tables[role], globalIndexes: indexes });
    const signals = fns.signals.function;
    table('ProductsTable', 'products').grantReadData(signals);
    table('OrdersTable', 'orders', [ORDERS_BY_PRODUCT_INDEX]).grantReadData(signals);
    table('PriceSignalsTable', 'priceSignals').grantReadWriteData(signals);
    acknowledge(
      fns.signals,
      'The orders of a product are read through the orders table\'s index (the grant covers the table\'s indexes).',
      wildcardResource(this, `${arnIn(this, 'dynamodb', `table/${names.tables.orders}`)}/index/*`),
    );
  }

  /** The objects of the lake a task reads, writes and deletes, by prefix; listing the bucket. */
  private grantLake(fn: TaskFunction, lake: IBucket, access: LakeAccess): void {
    const statements: [string[], readonly string[] | undefined][] = [
      [['s3:GetObject'], access.read],
      [['s3:PutObject', 's3:AbortMultipartUpload'], access.write],
      [['s3:DeleteObject'], access.delete],
    ];
    const resources = new Set<string>();
    for (const [actions, prefixes] of statements) {
      if (prefixes === undefined || prefixes.length === 0) continue;
      const objects = prefixes.map((prefix) => lake.arnForObjects(`${prefix}*`));
      objects.forEach((object) => resources.add(object));
      fn.function.addToRolePolicy(new PolicyStatement({ actions, resources: objects }));
    }
    fn.function.addToRolePolicy(new PolicyStatement({ actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [lake.bucketArn] }));
    acknowledge(
      fn,
      `The ${fn.task} task reads and writes objects whose keys the catalog and the task name at run time, under the prefixes it works on.`,
      ...[...resources].map((resource) => wildcardResource(this, resource)),
    );
  }

  /**
   * `states:startExecution.sync:2` (RunHourlyWorkflow) starts the hourly execution, then follows it
   * through an EventBridge rule that Step Functions manages; the distributed map starts child
   * executions of the backfill: the file's definition derives none of this.
   */
  private grantChildExecutions(parent: StateMachine, child: StateMachine, names: LakehouseNames): void {
    const executions = arnIn(this, 'states', `execution:${names.hourlyStateMachine}:*`);
    const rule = arnIn(this, 'events', 'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule');
    parent.addToRolePolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [child.stateMachineArn] }));
    parent.addToRolePolicy(new PolicyStatement({ actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [executions] }));
    parent.addToRolePolicy(new PolicyStatement({ actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'], resources: [rule] }));
    acknowledge(this.backfill, 'The backfill follows and stops the hourly executions it starts, whose names Step Functions generates.', wildcardResource(this, executions));
    // RunHours is a distributed map: each iteration is a child execution of the backfill itself, which
    // the backfill starts, follows and stops (named by its own name, since its ARN is its own token).
    const mapRuns = arnIn(this, 'states', `execution:${names.backfillStateMachine}/*`);
    parent.addToRolePolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [arnIn(this, 'states', `stateMachine:${names.backfillStateMachine}`)] }));
    parent.addToRolePolicy(new PolicyStatement({ actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [mapRuns] }));
    acknowledge(this.backfill, 'The distributed map runs each hour as a child execution of the backfill, whose names Step Functions generates.', wildcardResource(this, mapRuns));
  }

  /**
   * A small state machine the schedule starts with the time it fired: it starts the hourly workflow
   * for the arrival hour before that time, named after the hour, so that a retried delivery of the
   * same firing finds the execution already started instead of running the hour twice.
   */
  private scheduledStartMachine(names: LakehouseNames, logRetention: RetentionDays, removalPolicy: ReturnType<typeof removalPolicyOf>): StateMachine {
    const previousHour = "$fromMillis($toMillis($states.input.scheduledTime) - 3600000, '[Y0001]-[M01]-[D01]T[H01]')";
    const definition = {
      Comment: 'Started by the hourly schedule with {"scheduledTime": "<ISO 8601>"}: starts the hourly workflow for the arrival hour before it.',
      QueryLanguage: 'JSONata',
      StartAt: 'StartPreviousHour',
      States: {
        StartPreviousHour: {
          Type: 'Task',
          Comment: 'Starts the hourly workflow for the hour before the scheduled time (UTC), as execution scheduled-<hour>.',
          Resource: 'arn:aws:states:::states:startExecution',
          Arguments: {
            StateMachineArn: '${HourlyStateMachineArn}',
            Name: `{% 'scheduled-' & ${previousHour} %}`,
            Input: { hour: `{% ${previousHour} %}` },
          },
          Retry: [
            {
              ErrorEquals: ['StepFunctions.AWSStepFunctionsException', 'StepFunctions.SdkClientException', 'StepFunctions.ExecutionLimitExceededException'],
              IntervalSeconds: 5,
              BackoffRate: 2,
              MaxAttempts: 5,
              JitterStrategy: 'FULL',
            },
          ],
          Catch: [{ ErrorEquals: ['StepFunctions.ExecutionAlreadyExistsException'], Next: 'AlreadyStarted' }],
          End: true,
        },
        AlreadyStarted: { Type: 'Succeed', Comment: 'A retried delivery of the same firing: the hour runs once.' },
      },
    };
    const logGroup = new LogGroup(this, 'ScheduledStartLogs', {
      logGroupName: `/aws/vendedlogs/states/${names.scheduleStateMachine}`,
      retention: logRetention,
      removalPolicy,
    });
    const machine = new StateMachine(this, 'ScheduledStart', {
      stateMachineName: names.scheduleStateMachine,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromString(JSON.stringify(definition, null, 2)),
      definitionSubstitutions: { HourlyStateMachineArn: this.hourly.stateMachine.stateMachineArn },
      logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      timeout: Duration.minutes(5),
    });
    machine.addToRolePolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [this.hourly.stateMachine.stateMachineArn] }));
    acknowledge(machine, 'X-Ray and log delivery (CreateLogDelivery, ...) support no resource-level permissions.', 'AwsSolutions-IAM5[Resource::*]');
    return machine;
  }
}

/** The TimeoutSeconds of each task's Task state in a workflow file, by task name. */
export function stateTimeouts(workflow: string): Partial<Record<string, number>> {
  const { descriptor, definition } = loadWorkflow(workflow);
  const timeouts: Record<string, number> = {};
  for (const { name, state } of collectStates(definition)) {
    const taskName = descriptor.tasks[name];
    if (taskName !== undefined && typeof state.TimeoutSeconds === 'number') timeouts[taskName] = state.TimeoutSeconds;
  }
  return timeouts;
}

/** The Lambda environment's LAKE_SETTINGS: the environment's compaction and vacuum settings, checked as the tasks parse them. */
export function lakeSettingsOf(config: LakehouseConfig): string {
  const text = JSON.stringify({
    compaction: { targetFileBytes: config.compaction.targetFileBytes },
    vacuum: { retentionHours: config.retention.partitionVersionHours, clickIndexRetentionHours: config.retention.clickIndexDays * 24 },
  });
  parseLakeSettings(text, `the lake settings of environment ${config.name}`);
  return text;
}

function functionsByTask(functions: Readonly<Record<WorkflowTask, TaskFunction>>): Record<string, IFunction> {
  return Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.function]));
}
