import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { NotFoundError } from '../../tasks/ports/errors';
import {
  collectStates,
  DEFAULT_WORKFLOWS_DIR,
  findPlaceholders,
  listWorkflowNames,
  loadWorkflow,
  readWorkflowDescriptor,
  substitutePlaceholders,
  validateDefinition,
  WorkflowDefinitionError,
  type AslDefinition,
} from '../../tasks/runtime/workflow-definitions';

const workflows = listWorkflowNames();

function rawFile(name: string): { text: string; definition: AslDefinition } {
  const descriptor = readWorkflowDescriptor(name);
  const text = readFileSync(path.join(DEFAULT_WORKFLOWS_DIR, descriptor.definition), 'utf8');
  return { text, definition: JSON.parse(text) as AslDefinition };
}

/** Values shaped as CDK's definitionSubstitutions will give them on AWS. */
function awsValues(names: string[]): Record<string, string> {
  return Object.fromEntries(
    names.map((name) => [
      name,
      name.endsWith('StateMachineArn')
        ? `arn:aws:states:eu-west-1:123456789012:stateMachine:${name}`
        : `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
    ]),
  );
}

describe('workflow definitions', () => {
  it('finds the hourly and backfill workflows', () => {
    expect(workflows).toEqual(['backfill', 'hourly']);
  });

  it('has a descriptor for every ASL file', () => {
    const aslFiles = readdirSync(DEFAULT_WORKFLOWS_DIR).filter((file) => file.endsWith('.asl.json'));
    expect(aslFiles.sort()).toEqual(workflows.map((name) => readWorkflowDescriptor(name).definition).sort());
  });

  describe.each(workflows)('%s', (name) => {
    it('is valid JSON with a Comment on the machine and on every state, placeholders left in', () => {
      const { definition } = rawFile(name);
      expect(typeof definition.Comment).toBe('string');
      for (const { name: stateName, state } of collectStates(definition)) {
        expect({ state: stateName, comment: typeof state.Comment === 'string' && state.Comment.length > 10 }).toEqual({ state: stateName, comment: true });
      }
    });

    it('names its states as PascalCase verb phrases', () => {
      for (const { name: stateName } of collectStates(rawFile(name).definition)) expect(stateName).toMatch(/^([A-Z][a-z]+)+$/);
    });

    it('uses exactly the placeholders its descriptor declares', () => {
      const descriptor = readWorkflowDescriptor(name);
      expect(findPlaceholders(rawFile(name).text).sort()).toEqual(Object.keys(descriptor.placeholders).sort());
    });

    it('validates with asl-validator once the local ARNs are filled in', () => {
      const workflow = loadWorkflow(name);
      expect(findPlaceholders(JSON.stringify(workflow.definition))).toEqual([]);
      expect(() => validateDefinition(workflow.definition, workflow.file)).not.toThrow();
    });

    it('validates with asl-validator once AWS ARNs are filled in, as CDK will', () => {
      const { text } = rawFile(name);
      const definition: unknown = JSON.parse(substitutePlaceholders(text, awsValues(findPlaceholders(text))));
      expect(() => validateDefinition(definition, `${name}.asl.json`)).not.toThrow();
    });

    it('gives every Task a Retry that never retries bad input, a Catch of everything, and a TimeoutSeconds', () => {
      const tasks = collectStates(rawFile(name).definition).filter(({ state }) => state.Type === 'Task');
      expect(tasks.length).toBeGreaterThan(0);
      for (const { name: stateName, state } of tasks) {
        const retriers = (state.Retry ?? []) as Array<{ ErrorEquals: string[]; JitterStrategy?: string; MaxAttempts?: number }>;
        expect({ stateName, retriers: retriers.length > 0 }).toEqual({ stateName, retriers: true });
        for (const retrier of retriers) {
          expect(retrier.ErrorEquals).not.toEqual(expect.arrayContaining(['InvalidInputError']));
          expect(retrier.ErrorEquals).not.toEqual(expect.arrayContaining(['States.ALL']));
          expect(retrier.ErrorEquals).not.toEqual(expect.arrayContaining(['States.TaskFailed']));
          expect(retrier.JitterStrategy).toBe('FULL');
          expect(retrier.MaxAttempts).toBeGreaterThan(0);
        }
        const catchers = (state.Catch ?? []) as Array<{ ErrorEquals: string[]; ResultPath?: string }>;
        // Housekeeping records its failure and lets the hour succeed; every other step fails the execution.
        const resultPath = stateName === 'VacuumExpiredFiles' ? '$.vacuumError' : '$.error';
        expect(catchers).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], ResultPath: resultPath })]);
        expect(state.TimeoutSeconds).toBeGreaterThan(0);
        if (String(state.Resource).includes('Function')) expect(state.TimeoutSeconds).toBeLessThanOrEqual(900);
      }
    });
  });

  it('runs the hourly steps in order and ends in FailExecution on a caught error', () => {
    const { definition } = rawFile('hourly');
    const order: string[] = [];
    for (let name: string | undefined = definition.StartAt; name !== undefined; name = definition.States[name]?.Next as string | undefined) {
      order.push(name);
    }
    expect(order).toEqual(['CrawlRawHour', 'MergeLateEvents', 'CompactPartitions', 'AggregateTouchedHours', 'WritePriceSignals', 'VacuumExpiredFiles', 'FinishHour']);
    expect(definition.States['FailExecution']).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
  });

  it('maps every hour of a backfill to a nested hourly execution in a distributed map, bounded by the planned concurrency', () => {
    const { definition } = rawFile('backfill');
    expect(definition.States['RunHours']).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.hours',
      MaxConcurrencyPath: '$.plan.concurrency',
      ItemSelector: { 'hour.$': '$$.Map.Item.Value' },
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        States: {
          RunHourlyWorkflow: {
            Resource: 'arn:aws:states:::states:startExecution.sync:2',
            Parameters: { StateMachineArn: '${HourlyStateMachineArn}' },
          },
        },
      },
    });
  });
});

describe('substitutePlaceholders', () => {
  it('replaces every occurrence of each placeholder and nothing else', () => {
    expect(substitutePlaceholders('{"a": "${One}", "b": "${One}-${Two}", "c.$": "$.x"}', { One: '1', Two: '2' })).toBe(
      '{"a": "1", "b": "1-2", "c.$": "$.x"}',
    );
  });

  it('refuses to leave a placeholder without a value', () => {
    expect(() => substitutePlaceholders('"${One}" "${Two}"', { One: '1' })).toThrow(/\$\{Two\}/);
  });
});

describe('loadWorkflow', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'workflows-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function writeWorkflow(name: string, definition: string, descriptor: object = {}): void {
    writeFileSync(
      path.join(dir, `${name}.workflow.json`),
      JSON.stringify({ name, definition: `${name}.asl.json`, placeholders: { DoFunctionArn: { task: 'do' } }, tasks: { DoIt: 'do' }, ...descriptor }),
    );
    writeFileSync(path.join(dir, `${name}.asl.json`), definition);
  }

  const valid = {
    Comment: 'test',
    StartAt: 'DoIt',
    States: { DoIt: { Type: 'Task', Comment: 'does it', Resource: '${DoFunctionArn}', End: true } },
  };

  it('loads a valid workflow with local ARNs', () => {
    writeWorkflow('ok', JSON.stringify(valid));
    expect(loadWorkflow('ok', dir).definition.States['DoIt']?.Resource).toBe('arn:aws:lambda:us-east-1:000000000000:function:lakehouse-do');
  });

  it('names the file and its first problems, in one line, for an invalid state machine', () => {
    const broken = { ...valid, States: { DoIt: { Type: 'Task', Comment: 'x', Resource: '${DoFunctionArn}', Next: 'Nowhere' } } };
    writeWorkflow('broken', JSON.stringify(broken));
    let caught: unknown;
    try {
      loadWorkflow('broken', dir);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(WorkflowDefinitionError);
    const message = (caught as Error).message;
    expect((caught as Error).name).toBe('WorkflowDefinitionError');
    expect(message).toContain(path.join(dir, 'broken.asl.json'));
    expect(message).toMatch(/is not a valid state machine: .*Nowhere/);
    expect(message).not.toContain('\n');
  });

  it('reports a file that is not JSON', () => {
    writeWorkflow('garbled', '{"StartAt": ');
    expect(() => loadWorkflow('garbled', dir)).toThrow(/garbled\.asl\.json is not valid JSON/);
  });

  it('reports a placeholder the descriptor does not declare', () => {
    writeWorkflow('undeclared', JSON.stringify({ ...valid, Comment: '${Other}' }));
    expect(() => loadWorkflow('undeclared', dir)).toThrow(/\$\{Other\} is not in undeclared\.workflow\.json/);
  });

  it('reports a Task state that no task runs', () => {
    writeWorkflow('unmapped', JSON.stringify(valid), { tasks: {} });
    expect(() => loadWorkflow('unmapped', dir)).toThrow(/Task state DoIt has no task/);
  });

  it('throws NotFoundError for an unknown workflow, naming the known ones', () => {
    writeWorkflow('ok', JSON.stringify(valid));
    expect(() => loadWorkflow('nope', dir)).toThrow(NotFoundError);
    expect(() => loadWorkflow('nope', dir)).toThrow(/expected one of ok/);
  });
});
