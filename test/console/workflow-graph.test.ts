import { buildWorkflowGraph, outcomeOf } from '../../console/workflow-graph';
import type { StateRecord } from '../../tasks/runtime/execution-store';
import type { AslDefinition } from '../../tasks/runtime/workflow-definitions';
import { loadWorkflow } from '../../tasks/runtime/workflow-definitions';

function visit(name: string, status: StateRecord['status'], extra: Partial<StateRecord> = {}): StateRecord {
  return { name, type: 'Task', enteredAt: '2021-07-12T05:00:00.000Z', status, input: {}, retries: 0, ...extra };
}

/** A definition with what the shipped workflows do not have: a Choice with a loop back, a Parallel, a Wait. */
const POLLING: AslDefinition = {
  StartAt: 'StartJob',
  States: {
    StartJob: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:x', Next: 'IsDone', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Failed' }] },
    IsDone: { Type: 'Choice', Choices: [{ Variable: '$.done', BooleanEquals: true, Next: 'Publish' }], Default: 'WaitABit' },
    WaitABit: { Type: 'Wait', Seconds: 5, Next: 'IsDone' },
    Publish: {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'PublishA', States: { PublishA: { Type: 'Pass', End: true } } },
        { StartAt: 'PublishB', States: { PublishB: { Type: 'Pass', End: true } } },
      ],
      End: true,
    },
    Failed: { Type: 'Fail' },
  },
};

describe('buildWorkflowGraph', () => {
  it('colours each state of the hourly workflow by its outcome: succeeded, retried, caught, and not run', () => {
    const { definition } = loadWorkflow('hourly');
    const graph = buildWorkflowGraph('hourly', definition, [
      visit('CrawlRawHour', 'SUCCEEDED'),
      visit('MergeLateEvents', 'SUCCEEDED', { retries: 2 }),
      visit('CompactPartitions', 'CAUGHT', { error: { error: 'CommitConflictError', cause: 'lost' } }),
      visit('FailExecution', 'FAILED', { type: 'Fail' }),
    ]);

    expect(Object.fromEntries(graph.nodes.map((node) => [node.id, node.outcome]))).toEqual({
      CrawlRawHour: 'succeeded',
      MergeLateEvents: 'retried',
      CompactPartitions: 'caught',
      AggregateTouchedHours: 'not-run',
      WritePriceSignals: 'not-run',
      VacuumExpiredFiles: 'not-run',
      FinishHour: 'not-run',
      FailExecution: 'failed',
    });
    const taken = graph.edges.filter((edge) => edge.taken).map((edge) => `${edge.kind}:${edge.from}->${edge.to}`);
    expect(taken).toEqual(['start:->CrawlRawHour', 'next:CrawlRawHour->MergeLateEvents', 'next:MergeLateEvents->CompactPartitions', 'catch:CompactPartitions->FailExecution']);
    // The main path is one column, top to bottom; the Fail state sits beside it.
    const column = ['CrawlRawHour', 'MergeLateEvents', 'CompactPartitions', 'AggregateTouchedHours', 'WritePriceSignals', 'VacuumExpiredFiles', 'FinishHour'].map(
      (id) => graph.nodes.find((node) => node.id === id)!,
    );
    expect(new Set(column.map((node) => node.x)).size).toBe(1);
    expect(column.map((node) => node.y)).toEqual([...column.map((node) => node.y)].sort((a, b) => a - b));
    const fail = graph.nodes.find((node) => node.id === 'FailExecution')!;
    expect(fail.x).toBeGreaterThan(column[0]!.x + column[0]!.width);
  });

  it('draws a Map\'s item processor as a group around its states, their visits counted over the iterations', () => {
    const { definition } = loadWorkflow('backfill');
    const graph = buildWorkflowGraph('backfill', definition, [
      visit('PlanHours', 'SUCCEEDED'),
      visit('RunHours', 'RUNNING', { type: 'Map' }),
      visit('RunHourlyWorkflow', 'SUCCEEDED', { mapIndex: 0 }),
      visit('RunHourlyWorkflow', 'CAUGHT', { mapIndex: 1 }),
      visit('RecordFailedHour', 'SUCCEEDED', { type: 'Pass', mapIndex: 1 }),
      visit('RunHourlyWorkflow', 'RUNNING', { mapIndex: 2 }),
    ]);

    expect(graph.groups.map(({ id, outcome, visits }) => ({ id, outcome, visits }))).toEqual([{ id: 'RunHours', outcome: 'running', visits: 1 }]);
    const group = graph.groups[0]!;
    for (const id of ['RunHourlyWorkflow', 'RecordFailedHour']) {
      const node = graph.nodes.find((candidate) => candidate.id === id)!;
      expect(node.x).toBeGreaterThan(group.x);
      expect(node.y).toBeGreaterThan(group.y);
      expect(node.x + node.width).toBeLessThan(group.x + group.width);
      expect(node.y + node.height).toBeLessThan(group.y + group.height);
    }
    expect(graph.nodes.find((node) => node.id === 'RunHourlyWorkflow')).toMatchObject({ outcome: 'caught', visits: 3 });
    expect(graph.nodes.find((node) => node.id === 'SummarizeBackfill')).toMatchObject({ outcome: 'not-run', visits: 0 });
  });

  it('draws Choice rules and their default, a loop back up, and Parallel branches side by side', () => {
    const graph = buildWorkflowGraph('polling', POLLING, [visit('StartJob', 'SUCCEEDED'), visit('IsDone', 'SUCCEEDED', { type: 'Choice' }), visit('WaitABit', 'SUCCEEDED', { type: 'Wait' })]);

    const edges = graph.edges.map((edge) => `${edge.kind}:${edge.from}->${edge.to}${edge.label === undefined ? '' : ` (${edge.label})`}`);
    expect(edges).toEqual(
      expect.arrayContaining([
        'next:StartJob->IsDone',
        'catch:StartJob->Failed (catch States.ALL)',
        'choice:IsDone->Publish (rule 1)',
        'default:IsDone->WaitABit (default)',
        'next:WaitABit->IsDone',
      ]),
    );
    // The loop goes back up, along a lane left of everything.
    const loop = graph.edges.find((edge) => edge.from === 'WaitABit' && edge.to === 'IsDone')!;
    expect(loop.points[loop.points.length - 1]![1]).toBeLessThan(loop.points[0]![1]);
    expect(Math.min(...loop.points.map(([x]) => x))).toBeLessThan(Math.min(...graph.nodes.map((node) => node.x)));
    const [a, b] = ['PublishA', 'PublishB'].map((id) => graph.nodes.find((node) => node.id === id)!);
    expect(a!.y).toBe(b!.y);
    expect(b!.x).toBeGreaterThan(a!.x + a!.width);
    expect(graph.groups.map(({ id, label }) => [id, label])).toEqual([['Publish', 'Publish (Parallel: 2 branches)']]);
    for (const [x, y] of graph.edges.flatMap((edge) => edge.points)) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(graph.width);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(graph.height);
    }
  });
});

describe('outcomeOf', () => {
  it('ranks a failure over a catch over a running visit over retries', () => {
    expect(outcomeOf(undefined).outcome).toBe('not-run');
    expect(outcomeOf([visit('A', 'SUCCEEDED'), visit('A', 'FAILED'), visit('A', 'CAUGHT')]).outcome).toBe('failed');
    expect(outcomeOf([visit('A', 'SUCCEEDED'), visit('A', 'CAUGHT')]).outcome).toBe('caught');
    expect(outcomeOf([visit('A', 'RUNNING', { retries: 1 })]).outcome).toBe('running');
    expect(outcomeOf([visit('A', 'SUCCEEDED', { retries: 1 }), visit('A', 'SUCCEEDED')])).toEqual({ outcome: 'retried', visits: 2, retries: 1 });
  });
});
