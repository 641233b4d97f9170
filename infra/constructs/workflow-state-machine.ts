import type { RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledge, wildcardResource } from './nag';
import { loadWorkflow } from '../../tasks/runtime/workflow-definitions';

export interface WorkflowStateMachineProps {
  /** The workflow: `workflows/<workflow>.workflow.json` and the ASL file it names. */
  readonly workflow: string;
  readonly stateMachineName: string;
  /** The function of each task the descriptor's placeholders name. */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The ARN of each state machine the descriptor's placeholders name. @default none */
  readonly stateMachineArns?: Readonly<Record<string, string>>;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * A Standard state machine whose definition is a file of `workflows/`, the same file the local
 * runner runs: its `${Placeholders}` are filled by CloudFormation (`DefinitionSubstitutions`) with
 * what the workflow's descriptor says fills each one. The file is read into the template
 * (`DefinitionString`) rather than uploaded as an asset, so that the template shows, and the tests
 * check, the definition that runs. Every execution event is logged, and traced with X-Ray.
 *
 * A definition from a file derives no permissions: this grants invoking the functions its Task
 * states name; anything else the file needs is granted by the caller.
 */
export class WorkflowStateMachine extends Construct {
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    // Loaded (and validated) as the local runner loads it: its placeholders are exactly those the descriptor declares.
    const { descriptor, text } = loadWorkflow(props.workflow);

    const substitutions: Record<string, string> = {};
    const invoked: IFunction[] = [];
    for (const [placeholder, source] of Object.entries(descriptor.placeholders)) {
      if ('task' in source) {
        const fn = props.functions[source.task];
        if (fn === undefined) throw new Error(`workflow ${props.workflow}: no function for task "${source.task}" (placeholder \${${placeholder}})`);
        substitutions[placeholder] = fn.functionArn;
        invoked.push(fn);
      } else {
        const arn = props.stateMachineArns?.[source.stateMachine];
        if (arn === undefined) throw new Error(`workflow ${props.workflow}: no state machine "${source.stateMachine}" (placeholder \${${placeholder}})`);
        substitutions[placeholder] = arn;
      }
    }

    this.logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromString(text),
      definitionSubstitutions: substitutions,
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    for (const fn of invoked) fn.grantInvoke(this.stateMachine);
    acknowledge(
      this,
      'Invoking a Task state\'s function is granted on the function and its versions and aliases (<arn>:*), as grantInvoke does.',
      ...invoked.map((fn) => wildcardResource(this, `${fn.functionArn}:*`)),
    );
    acknowledge(this, 'X-Ray and CloudWatch Logs delivery (logs:CreateLogDelivery, ...) support no resource-level permissions.', 'AwsSolutions-IAM5[Resource::*]');
  }
}
