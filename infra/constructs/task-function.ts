import * as path from 'node:path';
import { Size, type Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REPO_ROOT } from '../paths';
import { acknowledge } from './nag';
import type { PackageLayer } from './package-layer';

/** The tasks that run as Lambda functions: each has `tasks/<task>/lambda.ts` exporting `handler`. */
export const TASKS = ['crawl', 'merge', 'compact', 'aggregate', 'signals', 'vacuum', 'plan-hours', 'summarize-backfill', 'pricing'] as const;
export type TaskName = (typeof TASKS)[number];

/**
 * The files a function built on the AWS ports (tasks/runtime/aws-ports.ts) may read at run time:
 * the ports reach tasks/aggregate/queries.ts, which reads the SQL from `../../queries`. Only the
 * aggregate step runs the queries, but every bundle that can reach them carries them (a few KB).
 */
export const AWS_PORTS_FILES: readonly string[] = ['queries'];

/** A bundle beside the function's, e.g. a worker thread's entry. */
export interface ExtraBundle {
  /** The entry, relative to the repository root. */
  readonly entry: string;
  /** Where the bundle goes, relative to the function's root (`/var/task`). */
  readonly outfile: string;
}

export interface TaskFunctionProps {
  readonly task: TaskName;
  readonly functionName: string;
  readonly description: string;
  /** Chosen per task at the call site, with the reason. */
  readonly memorySize: number;
  readonly timeout: Duration;
  /** @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** Layers of installed packages; their packages stay out of the bundle. @default none */
  readonly layers?: readonly PackageLayer[];
  /**
   * Repository files and directories the task reads at run time, copied to the same path under the
   * function's root, where the bundle finds them as the sources do (see `handler` below). @default none
   */
  readonly files?: readonly string[];
  /** Installed packages shipped as they are in the function's node_modules (and left out of the bundle). @default none */
  readonly packages?: readonly string[];
  /** @default none */
  readonly extraBundles?: readonly ExtraBundle[];
  /** /tmp, for what DuckDB spills and the task stages. @default 512 MiB */
  readonly ephemeralStorageMiB?: number;
  /** @default no reservation: the account's unreserved pool */
  readonly reservedConcurrentExecutions?: number;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * One task as a Lambda function (Node.js 22, x86_64: the DuckDB binding in the layer is linux-x64),
 * bundled by the local esbuild from `tasks/<task>/lambda.ts`.
 *
 * The bundle is placed at `tasks/<task>/index.js` in the function, as deep as its sources are in the
 * repository, so that paths the task code builds from `__dirname` (`../../queries`, `stage-worker.js`)
 * resolve to the same files as in the repository once `files` copies them there. The AWS SDK is
 * bundled, at the versions package-lock.json pins, rather than taken from the runtime.
 */
export class TaskFunction extends Construct {
  readonly function: NodejsFunction;
  /** The function's own role (see the constructor): what the stacks grant to. */
  readonly role: Role;
  readonly task: TaskName;

  constructor(scope: Construct, id: string, props: TaskFunctionProps) {
    super(scope, id);
    this.task = props.task;
    const taskDir = `tasks/${props.task}`;
    const layers = props.layers ?? [];
    const packages = props.packages ?? [];
    const externals = [...layers.flatMap((layer) => layer.packages), ...packages];
    const logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${props.functionName}`,
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    // A role of its own rather than AWSLambdaBasicExecutionRole: the function writes only to its own log group.
    const role = (this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `The ${props.task} task's function (${props.functionName}).`,
    }));
    logGroup.grantWrite(role);
    acknowledge(
      this,
      'Node.js 22, not the latest runtime: the version the embedded default runs and its tests pass on (package.json pins node ^22), and the one DuckDB\'s linux-x64 binding in the layer is tested with here.',
      'AwsSolutions-L1',
    );
    acknowledge(this, 'X-Ray tracing (PutTraceSegments, PutTelemetryRecords) supports no resource-level permissions.', 'AwsSolutions-IAM5[Resource::*]');
    this.function = new NodejsFunction(this, 'Function', {
      functionName: props.functionName,
      description: props.description,
      entry: path.join(REPO_ROOT, taskDir, 'lambda.ts'),
      handler: `${taskDir}/index.handler`,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.X86_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      tracing: Tracing.ACTIVE,
      ...(props.ephemeralStorageMiB === undefined ? {} : { ephemeralStorageSize: Size.mebibytes(props.ephemeralStorageMiB) }),
      logGroup,
      role,
      layers: layers.map((layer) => layer.layer),
      ...(props.reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        target: 'node22',
        format: OutputFormat.CJS,
        sourceMap: true,
        sourcesContent: false,
        externalModules: externals,
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => [
            `mkdir -p ${sh(outputDir, taskDir)}`,
            `mv ${sh(outputDir, 'index.js')} ${sh(outputDir, 'index.js.map')} ${sh(outputDir, taskDir)}/`,
            ...(props.files ?? []).flatMap((file) => [`mkdir -p ${sh(outputDir, path.dirname(file))}`, `cp -R ${sh(inputDir, file)} ${sh(outputDir, file)}`]),
            ...packages.flatMap((name) => [
              `mkdir -p ${sh(outputDir, 'node_modules', path.dirname(name))}`,
              `cp -R ${sh(inputDir, 'node_modules', name)} ${sh(outputDir, 'node_modules', name)}`,
            ]),
            ...(props.extraBundles ?? []).map(
              (bundle) =>
                `${sh(inputDir, 'node_modules', '.bin', 'esbuild')} ${sh(inputDir, bundle.entry)} --bundle --platform=node --target=node22 --format=cjs --log-level=warning` +
                ` --outfile=${sh(outputDir, bundle.outfile)}${externals.map((name) => ` --external:${name}`).join('')}`,
            ),
          ],
        },
      },
    });
  }
}

/** A path for the bundling hooks' shell (bash), quoted. */
function sh(...segments: string[]): string {
  return `'${path.join(...segments).replaceAll("'", `'\\''`)}'`;
}
