import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { TASKS } from '../constructs/task-function';
import { arnIn, lakehouseNames, pascal, type LakehouseNames } from '../names';
import { removalPolicyOf, type LakehouseStackProps } from './lakehouse-stack-props';

const FIVE_MINUTES = Duration.minutes(5);

/**
 * The alarms of the lakehouse, to one encrypted SNS topic: failed executions of the state
 * machines, the pricing consumer's dead letters, each task function's errors, Firehose falling
 * behind, and the collect API failing. Resources are found by their names (see names.ts).
 */
export class OperationsStack extends Stack {
  readonly names: LakehouseNames;
  readonly topic: Topic;
  readonly alarms: Alarm[] = [];
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: LakehouseStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = (this.names = lakehouseNames(config, this));
    this.prefix = config.prefix;

    // SNS encrypts with this key; CloudWatch, which publishes the alarms, must be able to use it
    // (the AWS managed aws/sns key would refuse it).
    const key = new Key(this, 'AlarmTopicKey', {
      description: `Encrypts the ${config.prefix} alarm topic.`,
      enableKeyRotation: true,
      removalPolicy: removalPolicyOf(config),
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.topic = new Topic(this, 'AlarmTopic', { topicName: `${config.prefix}-alarms`, displayName: `${config.prefix} lakehouse alarms`, masterKey: key, enforceSSL: true });
    if (config.alarmEmail !== undefined) this.topic.addSubscription(new EmailSubscription(config.alarmEmail));

    for (const [id, name] of [
      ['Hourly', names.hourlyStateMachine],
      ['Backfill', names.backfillStateMachine],
      ['ScheduledStart', names.scheduleStateMachine],
    ] as const) {
      const machine = StateMachine.fromStateMachineName(this, `${id}StateMachine`, name);
      const failed = new MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: { failed: machine.metricFailed(), timedOut: machine.metricTimedOut(), aborted: machine.metricAborted() },
        period: FIVE_MINUTES,
        label: 'executions failed, timed out or aborted',
      });
      this.alarm(`${id}ExecutionsFailed`, failed, 1, `An execution of ${name} failed, timed out or was aborted: see its error in the Step Functions console (or lakehouse executions).`);
    }

    const deadLetters = Queue.fromQueueArn(this, 'DeadLetterQueue', arnIn(this, 'sqs', names.deadLetterQueue));
    this.alarm(
      'DeadLettersWaiting',
      deadLetters.metricApproximateNumberOfMessagesVisible({ period: FIVE_MINUTES, statistic: 'Maximum' }),
      1,
      `Price signals went to ${names.deadLetterQueue}: read their errors, fix, and redrive them.`,
    );

    for (const task of TASKS) {
      const fn = LambdaFunction.fromFunctionName(this, `${pascal(task)}Function`, names.functionName(task));
      // Over 15 minutes, at least 3: a step's conflicts and transient errors are retried by its
      // state (and show in the execution alarm if they exhaust the retries); a run of them is worth a look.
      this.alarm(`${pascal(task)}Errors`, fn.metricErrors({ period: Duration.minutes(15), statistic: 'Sum' }), 3, `${names.functionName(task)} failed 3 or more times in 15 minutes.`);
    }

    this.alarm(
      'RawDeliveryBehind',
      new Metric({
        namespace: 'AWS/Firehose',
        metricName: 'DeliveryToS3.DataFreshness',
        dimensionsMap: { DeliveryStreamName: names.deliveryStream },
        statistic: 'Maximum',
        period: FIVE_MINUTES,
      }),
      900,
      `${names.deliveryStream} has records older than 15 minutes not yet in raw/: hours may run before their events land.`,
      3,
    );
    this.alarm(
      'CollectApiErrors',
      new Metric({ namespace: 'AWS/ApiGateway', metricName: '5XXError', dimensionsMap: { ApiName: `${names.ingestStream}-collect`, Stage: 'v1' }, statistic: 'Sum', period: FIVE_MINUTES }),
      10,
      'The collect API answered 5XX to clients (Kinesis refused or failed): events are being lost unless clients retry.',
    );
  }

  private alarm(id: string, metric: IMetric, threshold: number, description: string, evaluationPeriods = 1): Alarm {
    const alarm = new Alarm(this, id, {
      alarmName: `${this.prefix}-${id}`,
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
