import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { NotFoundError } from '../ports/errors';

interface AslValidationError {
  readonly 'Error code': string;
  readonly Message: string;
}

type AslValidator = (
  definition: unknown,
  options: { checkPaths: boolean; checkArn: boolean },
) => { isValid: boolean; errors: AslValidationError[] };

// asl-validator ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as AslValidator;

/**
 * The ASL files in `workflows/` are the single source of the state machines: CDK fills their `${Placeholders}`
 * with real ARNs (`definitionSubstitutions`), the local runner with well-formed local ARNs. Each file has a small
 * descriptor, `<name>.workflow.json`, saying what fills each placeholder and which task runs each Task state.
 */

/** The ASL file is unreadable, not a valid state machine, or disagrees with its descriptor. */
export class WorkflowDefinitionError extends Error {
  override readonly name = 'WorkflowDefinitionError';
}

/** What fills a placeholder: a task's Lambda function, or another workflow's state machine. */
export type PlaceholderSource = { readonly task: string } | { readonly stateMachine: string };

export interface WorkflowDescriptor {
  readonly name: string;
  /** The ASL file, relative to the descriptor. */
  readonly definition: string;
  readonly placeholders: Readonly<Record<string, PlaceholderSource>>;
  /** Task state name → task name (a key of the TaskRegistry). */
  readonly tasks: Readonly<Record<string, string>>;
}

/** A state of an ASL definition as the runner and the tests look at it; only the fields they read are typed. */
export interface AslState {
  readonly Type: string;
  readonly Comment?: string;
  readonly Resource?: string;
  readonly Retry?: readonly unknown[];
  readonly Catch?: readonly unknown[];
  readonly TimeoutSeconds?: number;
  readonly ItemProcessor?: AslDefinition;
  readonly Iterator?: AslDefinition;
  readonly Branches?: readonly AslDefinition[];
  readonly [field: string]: unknown;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
  readonly Comment?: string;
  readonly [field: string]: unknown;
}

export interface LoadedWorkflow {
  readonly descriptor: WorkflowDescriptor;
  /** Absolute path of the ASL file. */
  readonly file: string;
  /** The ASL file as written, placeholders in (what CDK puts in the template). */
  readonly text: string;
  /** The definition with every placeholder filled, validated. */
  readonly definition: AslDefinition;
}

export const DEFAULT_WORKFLOWS_DIR = path.resolve(__dirname, '../../workflows');

/** The Resource of a Task state that starts another state machine and waits for its JSON output. */
export const START_EXECUTION_SYNC_RESOURCE = 'arn:aws:states:::states:startExecution.sync:2';

const LOCAL_ARN_PREFIX = 'arn:aws:states:us-east-1:000000000000';
const LOCAL_FUNCTION_ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:lakehouse-';
const LOCAL_STATE_MACHINE_ARN_PREFIX = `${LOCAL_ARN_PREFIX}:stateMachine:lakehouse-`;
const PLACEHOLDER = /\$\{([A-Za-z][A-Za-z0-9]*)\}/g;
const DESCRIPTOR_SUFFIX = '.workflow.json';
const LISTED_PROBLEMS = 3;

/** The distinct `${Name}` placeholders of an ASL text, in order of first appearance. */
export function findPlaceholders(text: string): string[] {
  return [...new Set(Array.from(text.matchAll(PLACEHOLDER), (match) => match[1] as string))];
}

/**
 * Replaces every `${Name}` by `values[Name]`, as CloudFormation does for `definitionSubstitutions`.
 * Throws WorkflowDefinitionError naming the placeholders that have no value.
 */
export function substitutePlaceholders(text: string, values: Readonly<Record<string, string>>): string {
  const missing = findPlaceholders(text).filter((name) => !Object.hasOwn(values, name));
  if (missing.length > 0) throw new WorkflowDefinitionError(`no value for placeholder(s) ${missing.map((name) => `\${${name}}`).join(', ')}`);
  return text.replace(PLACEHOLDER, (_, name: string) => values[name] as string);
}

export function localFunctionArn(task: string): string {
  return `${LOCAL_FUNCTION_ARN_PREFIX}${task}`;
}

export function localStateMachineArn(workflow: string): string {
  return `${LOCAL_STATE_MACHINE_ARN_PREFIX}${workflow}`;
}

/** The workflow name of a local state machine ARN, or undefined for any other ARN. */
export function workflowOfLocalStateMachineArn(arn: string): string | undefined {
  return arn.startsWith(LOCAL_STATE_MACHINE_ARN_PREFIX) ? arn.slice(LOCAL_STATE_MACHINE_ARN_PREFIX.length) : undefined;
}

/** An execution ARN in the local account, shaped as Step Functions shapes them. */
export function localExecutionArn(workflow: string, executionName: string): string {
  return `${LOCAL_ARN_PREFIX}:execution:lakehouse-${workflow}:${executionName}`;
}

/** The values the local runner gives a descriptor's placeholders. */
export function localPlaceholderValues(descriptor: WorkflowDescriptor): Record<string, string> {
  return Object.fromEntries(
    Object.entries(descriptor.placeholders).map(([name, source]) => [
      name,
      'task' in source ? localFunctionArn(source.task) : localStateMachineArn(source.stateMachine),
    ]),
  );
}

/** The names of the workflows in `dir` (one per `<name>.workflow.json`), sorted. */
export function listWorkflowNames(dir: string = DEFAULT_WORKFLOWS_DIR): string[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (error) {
    throw new WorkflowDefinitionError(`cannot read the workflows directory ${dir}: ${(error as Error).message}`, { cause: error });
  }
  return files.filter((file) => file.endsWith(DESCRIPTOR_SUFFIX)).map((file) => file.slice(0, -DESCRIPTOR_SUFFIX.length)).sort();
}

/** Reads `<dir>/<name>.workflow.json`; NotFoundError for an unknown workflow. */
export function readWorkflowDescriptor(name: string, dir: string = DEFAULT_WORKFLOWS_DIR): WorkflowDescriptor {
  const known = listWorkflowNames(dir);
  if (!known.includes(name)) {
    throw new NotFoundError(`no workflow "${name}": expected one of ${known.join(', ') || '(none)'} (${dir}/*${DESCRIPTOR_SUFFIX})`);
  }
  const file = path.join(dir, `${name}${DESCRIPTOR_SUFFIX}`);
  const descriptor = parseJsonFile(file) as Partial<WorkflowDescriptor> | null;
  const problems = descriptorProblems(descriptor, name);
  if (problems.length > 0) throw new WorkflowDefinitionError(`${file} is not a valid workflow descriptor: ${problems.join('; ')}`);
  return descriptor as WorkflowDescriptor;
}

/**
 * Loads a workflow for a local run: its descriptor, its ASL file with the local ARNs filled in, validated with
 * asl-validator and checked against the descriptor. Throws WorkflowDefinitionError with one line naming the file
 * and its first problems; NotFoundError for an unknown workflow.
 */
export function loadWorkflow(name: string, dir: string = DEFAULT_WORKFLOWS_DIR): LoadedWorkflow {
  const descriptor = readWorkflowDescriptor(name, dir);
  const file = path.resolve(dir, descriptor.definition);
  const text = readText(file);
  // Validation compiles JSON schemas (about 0.1 s): a backfill starting one child per hour reuses the result
  // for as long as neither file changes.
  const version = `${JSON.stringify(descriptor)}\n${text}`;
  const cached = loaded.get(file);
  if (cached?.version === version) return cached.workflow;
  const workflow = checkWorkflow(name, descriptor, file, text);
  loaded.set(file, { version, workflow });
  return workflow;
}

const loaded = new Map<string, { readonly version: string; readonly workflow: LoadedWorkflow }>();

function checkWorkflow(name: string, descriptor: WorkflowDescriptor, file: string, text: string): LoadedWorkflow {
  // The file must be JSON with its placeholders left in: CDK reads it that way.
  parseJson(text, file);
  const found = findPlaceholders(text);
  const declared = Object.keys(descriptor.placeholders);
  const undeclared = found.filter((placeholder) => !declared.includes(placeholder));
  const unused = declared.filter((placeholder) => !found.includes(placeholder));
  if (undeclared.length > 0 || unused.length > 0) {
    const problems = [
      ...undeclared.map((placeholder) => `\${${placeholder}} is not in ${name}${DESCRIPTOR_SUFFIX}`),
      ...unused.map((placeholder) => `${name}${DESCRIPTOR_SUFFIX} declares \${${placeholder}}, which the file does not use`),
    ];
    throw new WorkflowDefinitionError(`${file} disagrees with its descriptor: ${problems.join('; ')}`);
  }
  const definition = parseJson(substitutePlaceholders(text, localPlaceholderValues(descriptor)), file);
  validateDefinition(definition, file);
  checkTaskStates(definition as AslDefinition, descriptor, file);
  return { descriptor, file, text, definition: definition as AslDefinition };
}

/** Throws WorkflowDefinitionError, one line naming `file` and its first problems, unless asl-validator accepts `definition`. */
export function validateDefinition(definition: unknown, file: string): void {
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) {
    throw new WorkflowDefinitionError(`${file} is not a valid state machine: expected a JSON object with StartAt and States`);
  }
  // asl-validator writes a default QueryLanguage into every state it visits: validate a copy.
  const { isValid, errors } = aslValidator(copyJson(definition), { checkPaths: true, checkArn: true });
  if (isValid) return;
  const problems = errors.slice(0, LISTED_PROBLEMS).map((error) => `${error['Error code']}: ${oneLine(error.Message)}`);
  if (errors.length > LISTED_PROBLEMS) problems.push(`and ${errors.length - LISTED_PROBLEMS} more`);
  throw new WorkflowDefinitionError(`${file} is not a valid state machine: ${problems.join('; ')}`);
}

/** Every state of a definition, nested Map processors and Parallel branches included, with its name. */
export function collectStates(definition: AslDefinition): Array<{ readonly name: string; readonly state: AslState }> {
  const states: Array<{ name: string; state: AslState }> = [];
  for (const [name, state] of Object.entries(definition.States)) {
    states.push({ name, state });
    const nested = [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])];
    for (const child of nested) if (child !== undefined) states.push(...collectStates(child));
  }
  return states;
}

/** Every Task state must be run by a task of the descriptor, or start another workflow; a mismatch is a definition error. */
function checkTaskStates(definition: AslDefinition, descriptor: WorkflowDescriptor, file: string): void {
  const tasks = collectStates(definition).filter(({ state }) => state.Type === 'Task');
  const problems: string[] = [];
  for (const { name, state } of tasks) {
    if (state.Resource === START_EXECUTION_SYNC_RESOURCE) continue;
    if (!Object.hasOwn(descriptor.tasks, name)) problems.push(`Task state ${name} has no task in ${descriptor.name}${DESCRIPTOR_SUFFIX}`);
  }
  const taskStateNames = new Set(tasks.map(({ name }) => name));
  for (const name of Object.keys(descriptor.tasks)) {
    if (!taskStateNames.has(name)) problems.push(`${descriptor.name}${DESCRIPTOR_SUFFIX} maps ${name}, which is not a Task state`);
  }
  if (problems.length > 0) throw new WorkflowDefinitionError(`${file} disagrees with its descriptor: ${problems.join('; ')}`);
}

function descriptorProblems(descriptor: Partial<WorkflowDescriptor> | null, name: string): string[] {
  if (typeof descriptor !== 'object' || descriptor === null) return ['expected a JSON object'];
  const problems: string[] = [];
  if (descriptor.name !== name) problems.push(`"name" is ${JSON.stringify(descriptor.name)}, expected "${name}"`);
  if (typeof descriptor.definition !== 'string') problems.push('"definition" must name the ASL file');
  if (!isRecord(descriptor.placeholders)) {
    problems.push('"placeholders" must be an object');
  } else {
    for (const [placeholder, source] of Object.entries(descriptor.placeholders as Record<string, unknown>)) {
      const valid = isRecord(source) && (typeof source['task'] === 'string' || typeof source['stateMachine'] === 'string');
      if (!valid) problems.push(`placeholder ${placeholder} must be {"task": NAME} or {"stateMachine": NAME}`);
    }
  }
  if (!isRecord(descriptor.tasks) || !Object.values(descriptor.tasks).every((task) => typeof task === 'string')) {
    problems.push('"tasks" must map Task state names to task names');
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new WorkflowDefinitionError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function parseJsonFile(file: string): unknown {
  return parseJson(readText(file), file);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new WorkflowDefinitionError(`${file} is not valid JSON: ${oneLine((error as Error).message)}`, { cause: error });
  }
}

/**
 * A deep copy through JSON rather than structuredClone: aws-local-stepfunctions only treats objects whose prototype
 * is its realm's Object.prototype as payload templates, and structuredClone builds them in another realm under jest.
 */
export function copyJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
