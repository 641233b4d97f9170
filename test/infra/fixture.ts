import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createLakehouseApp, type LakehouseApp, type LakehouseStacks } from '../../infra/lakehouse-app';

import { REPO_ROOT } from '../../infra/paths';

export { REPO_ROOT };
export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';
export const PREFIX = 'lh-test';

/** cdk.json's context: the feature flags and environments the CLI synthesizes with. */
export function cdkJsonContext(): Record<string, unknown> {
  return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
}

/** A test environment: literal account and region, so that names and ARNs in the templates are literal. */
export function testEnvironment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { prefix: PREFIX, account: ACCOUNT, region: REGION, ...overrides };
}

export interface SynthOptions {
  /** The environment's settings. @default testEnvironment() */
  readonly environment?: Record<string, unknown>;
  /** Run the local esbuild bundling (slow). @default false */
  readonly bundle?: boolean;
  /** CDK's built-in CloudFormation validation (~5 s a synth on two cores). @default false */
  readonly cloudFormationValidation?: boolean;
  readonly outdir?: string;
  readonly extraContext?: Record<string, unknown>;
  /** Acknowledge the warning that no trained model is there to bake into the image. @default true */
  readonly acknowledgeMissingModel?: boolean;
}

const outdirs: string[] = [];

/** Deletes the cloud assemblies lakehouseApp wrote into directories of its own. */
export function removeOutdirs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * The lakehouse app for a test environment, with cdk.json's feature flags; bundling skipped unless
 * asked. Without `outdir`, it synthesizes into a temporary directory that removeOutdirs deletes.
 */
export function lakehouseApp(options: SynthOptions = {}): LakehouseApp {
  let outdir = options.outdir;
  if (outdir === undefined) outdirs.push((outdir = mkdtempSync(path.join(tmpdir(), 'lakehouse-infra-'))));
  const lakehouse = createLakehouseApp({
    outdir,
    builtinCloudFormationValidation: options.cloudFormationValidation ?? false,
    context: {
      ...cdkJsonContext(),
      env: 'test',
      environments: { test: options.environment ?? testEnvironment() },
      ...(options.bundle === true ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.extraContext,
    },
  });
  // This checkout has trained no price model: the warning is expected (a test checks it), and would only clutter the output.
  if (options.acknowledgeMissingModel === false) return lakehouse;
  Validations.of(lakehouse.stacks.pricing).acknowledge({ id: 'annotation::lakehouse:model-artifact-missing', reason: 'the tests stage the image without a trained model' });
  return lakehouse;
}

export type StackName = keyof LakehouseStacks;

/** The templates of an app, synthesized once. */
export function templatesOf(app: LakehouseApp): Record<StackName, Template> {
  return Object.fromEntries(Object.entries(app.stacks).map(([name, stack]) => [name, Template.fromStack(stack)])) as Record<StackName, Template>;
}

/** The only resource of `type` in a template whose properties match `filter`, with its logical id. */
export function resourceOf(template: Template, type: string, props: Record<string, unknown> = {}): { readonly id: string; readonly properties: Record<string, any> } {
  const found = template.findResources(type, { Properties: props });
  const ids = Object.keys(found);
  if (ids.length !== 1) throw new Error(`expected one ${type} matching ${JSON.stringify(props)}, found ${ids.length}`);
  const id = ids[0] as string;
  return { id, properties: (found[id] as { Properties: Record<string, any> }).Properties };
}

/** `arn:aws:<service>:eu-west-1:123456789012:<resource>` in the test environment. */
export function testArn(service: string, resource: string): string {
  return `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
}

/** Whether the policies attached to role `roleId` allow `action` on `resource` (a string or a CloudFormation reference), however CDK merged their statements. */
export function allows(template: Template, roleId: string, action: string, resource: unknown): boolean {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as { Properties: { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } } }[];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return policies
    .filter((policy) => policy.Properties.Roles.some((role) => same(role, { Ref: roleId })))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
    .some((statement) => statement.Effect === 'Allow' && asArray(statement.Action).includes(action) && asArray(statement.Resource).some((granted) => same(granted, resource)));
}

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

function asArray<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}
