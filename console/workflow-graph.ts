import type { StateRecord } from '../tasks/runtime/execution-store';
import type { AslDefinition, AslState } from '../tasks/runtime/workflow-definitions';
import type { GraphBox, GraphEdge, GraphGroup, GraphNode, StateOutcome, WorkflowGraph } from './api-types';

/**
 * Lays out an ASL state machine for drawing, top to bottom, and colours each state by how it fared in
 * one execution. States are ranked by the longest path from StartAt over their transitions (Next,
 * Choice rules and Default, Catch), so the main path reads as one column; a state reached only by
 * skipping ranks (a Fail state every Catch leads to) sits at the side, and the transitions that skip
 * ranks run down a lane on the right. A Map's item processor and a Parallel's branches are laid out
 * the same way inside a group box, which is the Map or Parallel state itself.
 */

const NODE_WIDTH = 220;
const NODE_HEIGHT = 42;
const ROW_GAP = 30;
const COLUMN_GAP = 40;
const LANE_GAP = 14;
const GROUP_PADDING = 16;
const GROUP_HEADER = 28;
const START_HEIGHT = 26;
const MARGIN = 12;

interface Transition {
  readonly from: string;
  readonly to: string;
  readonly kind: 'next' | 'choice' | 'default' | 'catch';
  readonly label?: string;
}

interface Level {
  readonly width: number;
  readonly height: number;
  readonly nodes: GraphNode[];
  readonly groups: GraphGroup[];
  readonly edges: GraphEdge[];
}

interface Tally {
  readonly outcome: StateOutcome;
  readonly visits: number;
  readonly retries: number;
}

/** The graph of `definition` with the outcome of every state in an execution whose state visits are `visits`. */
export function buildWorkflowGraph(workflow: string, definition: AslDefinition, visits: readonly StateRecord[]): WorkflowGraph {
  const byName = new Map<string, StateRecord[]>();
  for (const visit of visits) byName.set(visit.name, [...(byName.get(visit.name) ?? []), visit]);
  const level = layoutLevel(definition, byName);
  const shifted = shiftLevel(level, MARGIN, MARGIN);
  return { workflow, width: level.width + 2 * MARGIN, height: level.height + 2 * MARGIN, ...shifted };
}

/** How a state fared over all its visits (several for a state inside a Map). */
export function outcomeOf(visits: readonly StateRecord[] | undefined): Tally {
  if (visits === undefined || visits.length === 0) return { outcome: 'not-run', visits: 0, retries: 0 };
  const retries = visits.reduce((sum, visit) => sum + visit.retries, 0);
  const has = (status: StateRecord['status']) => visits.some((visit) => visit.status === status);
  const outcome: StateOutcome = has('FAILED') ? 'failed' : has('CAUGHT') ? 'caught' : has('RUNNING') ? 'running' : retries > 0 ? 'retried' : 'succeeded';
  return { outcome, visits: visits.length, retries };
}

/** The transitions out of each state, in the order the state lists them. */
export function transitionsOf(states: Readonly<Record<string, AslState>>): Transition[] {
  const transitions: Transition[] = [];
  for (const [name, state] of Object.entries(states)) {
    if (typeof state['Next'] === 'string') transitions.push({ from: name, to: state['Next'], kind: 'next' });
    const choices = Array.isArray(state['Choices']) ? (state['Choices'] as { Next?: unknown }[]) : [];
    choices.forEach((choice, index) => {
      if (typeof choice.Next === 'string') transitions.push({ from: name, to: choice.Next, kind: 'choice', label: `rule ${index + 1}` });
    });
    if (typeof state['Default'] === 'string') transitions.push({ from: name, to: state['Default'], kind: 'default', label: 'default' });
    for (const rule of (state.Catch ?? []) as { ErrorEquals?: unknown; Next?: unknown }[]) {
      if (typeof rule.Next !== 'string') continue;
      const errors = Array.isArray(rule.ErrorEquals) ? rule.ErrorEquals.join(', ') : '';
      transitions.push({ from: name, to: rule.Next, kind: 'catch', label: `catch ${errors}` });
    }
  }
  return transitions.filter((transition) => Object.hasOwn(states, transition.to));
}

function layoutLevel(definition: AslDefinition, visits: ReadonlyMap<string, StateRecord[]>): Level {
  const names = Object.keys(definition.States);
  const transitions = transitionsOf(definition.States);
  const { order, backEdges } = depthFirstOrder(definition.StartAt, names, transitions);
  const forward = transitions.filter((transition) => !backEdges.has(edgeKey(transition)));
  const rank = longestPathRanks(order, forward);

  // Nested levels first: their size is the size of their group.
  const nested = new Map<string, { level: Level; offsets: { x: number; y: number }[] }>();
  const sizes = new Map<string, { width: number; height: number }>();
  for (const name of names) {
    const state = definition.States[name]!;
    const processors = [state.ItemProcessor ?? state.Iterator, ...(state.Branches ?? [])].filter((child): child is AslDefinition => child !== undefined);
    if (processors.length === 0) {
      sizes.set(name, { width: NODE_WIDTH, height: NODE_HEIGHT });
      continue;
    }
    const levels = processors.map((processor) => layoutLevel(processor, visits));
    const offsets: { x: number; y: number }[] = [];
    let x = GROUP_PADDING;
    for (const child of levels) {
      offsets.push({ x, y: GROUP_HEADER + GROUP_PADDING });
      x += child.width + COLUMN_GAP;
    }
    const contentWidth = x - COLUMN_GAP + GROUP_PADDING;
    const width = Math.max(NODE_WIDTH, contentWidth, labelWidth(groupLabel(name, state, levels.length)));
    // Centred when the label makes the group wider than its states.
    for (const offset of offsets) offset.x += (width - contentWidth) / 2;
    const height = GROUP_HEADER + 2 * GROUP_PADDING + Math.max(...levels.map((child) => child.height));
    const merged: Level = {
      width,
      height,
      nodes: levels.flatMap((child, index) => shiftLevel(child, offsets[index]!.x, offsets[index]!.y).nodes),
      groups: levels.flatMap((child, index) => shiftLevel(child, offsets[index]!.x, offsets[index]!.y).groups),
      edges: levels.flatMap((child, index) => shiftLevel(child, offsets[index]!.x, offsets[index]!.y).edges),
    };
    nested.set(name, { level: merged, offsets });
    sizes.set(name, { width, height });
  }

  // Rows by rank, each in depth-first order; the first state of every row on one axis, the others to its right.
  const rows: string[][] = [];
  for (const name of order) (rows[rank.get(name)!] ??= []).push(name);
  // Lanes on the left: one per transition back up, and one for second transitions between the same states.
  const pairs = transitions.map((transition) => `${transition.from}->${transition.to}`);
  const repeats = pairs.some((pair, index) => pairs.indexOf(pair) !== index);
  const leftLanes = (backEdges.size > 0 ? LANE_GAP * (backEdges.size + 1) : 0) + (repeats ? LANE_GAP * 2 : 0);
  const axis = leftLanes + Math.max(...rows.map((row) => sizes.get(row[0]!)!.width)) / 2;
  const boxes = new Map<string, GraphBox>();
  const rowBottoms: number[] = [];
  let y = START_HEIGHT;
  for (const row of rows) {
    let x = axis - sizes.get(row[0]!)!.width / 2;
    const rowHeight = Math.max(...row.map((name) => sizes.get(name)!.height));
    for (const name of row) {
      const size = sizes.get(name)!;
      boxes.set(name, { x, y, width: size.width, height: size.height });
      x += size.width + COLUMN_GAP;
    }
    rowBottoms.push(y + rowHeight);
    y += rowHeight + ROW_GAP;
  }
  let right = Math.max(...[...boxes.values()].map((box) => box.x + box.width));
  const height = y - ROW_GAP;

  const nodes: GraphNode[] = [];
  const groups: GraphGroup[] = [];
  const edges: GraphEdge[] = [];
  for (const name of order) {
    const state = definition.States[name]!;
    const box = boxes.get(name)!;
    const tally = outcomeOf(visits.get(name));
    const comment = typeof state.Comment === 'string' ? state.Comment : undefined;
    const inner = nested.get(name);
    if (inner === undefined) {
      nodes.push({ id: name, type: state.Type, ...box, ...tally, ...(comment === undefined ? {} : { comment }) });
      continue;
    }
    groups.push({ id: name, type: state.Type, label: groupLabel(name, state, inner.offsets.length), ...box, ...tally, ...(comment === undefined ? {} : { comment }) });
    const shifted = shiftLevel(inner.level, box.x, box.y);
    nodes.push(...shifted.nodes);
    groups.push(...shifted.groups);
    edges.push(...shifted.edges);
  }

  const start = boxes.get(definition.StartAt);
  if (start !== undefined) {
    const cx = start.x + start.width / 2;
    edges.push({ from: '', to: definition.StartAt, kind: 'start', points: [[cx, 4], [cx, start.y]], taken: (visits.get(definition.StartAt)?.length ?? 0) > 0 });
  }

  // Transitions: to the next row straight down (with one bend when the columns differ); back up along a
  // lane on the left; skipping rows (or repeating a transition already drawn) along a lane on the right.
  const drawn = new Set<string>();
  const laneOfTarget = new Map<string, number>();
  let backLane = 0;
  for (const transition of transitions) {
    const from = boxes.get(transition.from)!;
    const to = boxes.get(transition.to)!;
    const fromRank = rank.get(transition.from)!;
    const toRank = rank.get(transition.to)!;
    const pair = `${transition.from}->${transition.to}`;
    let points: [number, number][];
    if (backEdges.has(edgeKey(transition))) {
      backLane += 1;
      const laneX = leftLanes - (repeats ? LANE_GAP * 2 : 0) - LANE_GAP * backLane;
      points = [
        [from.x, cy(from)],
        [laneX, cy(from)],
        [laneX, cy(to)],
        [to.x, cy(to)],
      ];
    } else if (toRank === fromRank + 1 && !drawn.has(pair)) {
      const midY = rowBottoms[fromRank]! + ROW_GAP / 2;
      points = Math.abs(cx(from) - cx(to)) < 1 ? [[cx(from), bottom(from)], [cx(to), to.y]] : [[cx(from), bottom(from)], [cx(from), midY], [cx(to), midY], [cx(to), to.y]];
    } else if (toRank === fromRank + 1) {
      // A second transition between the same two states (Next and a Catch to one state): a bump on the left.
      const laneX = Math.min(from.x, to.x) - LANE_GAP;
      points = [
        [from.x, cy(from)],
        [laneX, cy(from)],
        [laneX, cy(to)],
        [to.x, cy(to)],
      ];
    } else {
      const between = [...boxes.entries()].filter(([name]) => rank.get(name)! >= fromRank && rank.get(name)! < toRank).map(([, box]) => box.x + box.width);
      let lane = laneOfTarget.get(transition.to);
      if (lane === undefined) {
        lane = laneOfTarget.size + 1;
        laneOfTarget.set(transition.to, lane);
      }
      const laneX = Math.max(...between) + LANE_GAP * lane;
      const aboveTarget = to.y - ROW_GAP / 2;
      points = [
        [from.x + from.width, cy(from)],
        [laneX, cy(from)],
        [laneX, aboveTarget],
        [cx(to), aboveTarget],
        [cx(to), to.y],
      ];
      right = Math.max(right, laneX);
    }
    drawn.add(pair);
    edges.push({
      from: transition.from,
      to: transition.to,
      kind: transition.kind,
      ...(transition.label === undefined ? {} : { label: transition.label }),
      points,
      taken: wasTaken(transition, visits),
    });
  }

  return { width: right + LANE_GAP, height, nodes, groups, edges };
}

function groupLabel(name: string, state: AslState, branches: number): string {
  return state.Type === 'Map' ? `${name} (Map: item processor)` : `${name} (${state.Type}: ${branches} branch${branches === 1 ? '' : 'es'})`;
}

/** Room for a group's label and its outcome after it (`·  succeeded ×24`), at the page's 12 px. */
function labelWidth(label: string): number {
  return Math.ceil((label.length + 18) * 7.2) + 2 * GROUP_PADDING;
}

/** Whether the execution went from one state to the other this way. */
function wasTaken(transition: Transition, visits: ReadonlyMap<string, StateRecord[]>): boolean {
  const from = visits.get(transition.from) ?? [];
  if ((visits.get(transition.to)?.length ?? 0) === 0) return false;
  if (transition.kind === 'catch') return from.some((visit) => visit.status === 'CAUGHT');
  if (transition.kind === 'next') return from.some((visit) => visit.status === 'SUCCEEDED');
  return from.length > 0;
}

/** States in depth-first order from StartAt (unreachable ones last), and the transitions that go back up that tree. */
function depthFirstOrder(startAt: string, names: readonly string[], transitions: readonly Transition[]): { order: string[]; backEdges: Set<string> } {
  const out = new Map<string, Transition[]>();
  for (const transition of transitions) out.set(transition.from, [...(out.get(transition.from) ?? []), transition]);
  const order: string[] = [];
  const backEdges = new Set<string>();
  const onStack = new Set<string>();
  const seen = new Set<string>();
  const visit = (name: string) => {
    seen.add(name);
    onStack.add(name);
    order.push(name);
    for (const transition of out.get(name) ?? []) {
      if (onStack.has(transition.to)) backEdges.add(edgeKey(transition));
      else if (!seen.has(transition.to)) visit(transition.to);
    }
    onStack.delete(name);
  };
  if (names.includes(startAt)) visit(startAt);
  for (const name of names) if (!seen.has(name)) visit(name);
  return { order, backEdges };
}

/** Each state's rank: the longest path to it over forward transitions (a DAG), so every transition goes down. */
function longestPathRanks(order: readonly string[], forward: readonly Transition[]): Map<string, number> {
  const incoming = new Map<string, number>(order.map((name) => [name, 0]));
  for (const transition of forward) incoming.set(transition.to, (incoming.get(transition.to) ?? 0) + 1);
  const rank = new Map<string, number>(order.map((name) => [name, 0]));
  const ready = order.filter((name) => incoming.get(name) === 0);
  while (ready.length > 0) {
    const name = ready.shift()!;
    for (const transition of forward) {
      if (transition.from !== name) continue;
      rank.set(transition.to, Math.max(rank.get(transition.to)!, rank.get(name)! + 1));
      incoming.set(transition.to, incoming.get(transition.to)! - 1);
      if (incoming.get(transition.to) === 0) ready.push(transition.to);
    }
  }
  return rank;
}

function shiftLevel(level: Level, dx: number, dy: number): Pick<Level, 'nodes' | 'groups' | 'edges'> {
  return {
    nodes: level.nodes.map((node) => ({ ...node, x: node.x + dx, y: node.y + dy })),
    groups: level.groups.map((group) => ({ ...group, x: group.x + dx, y: group.y + dy })),
    edges: level.edges.map((edge) => ({ ...edge, points: edge.points.map(([x, y]) => [x + dx, y + dy] as const) })),
  };
}

function edgeKey(transition: Transition): string {
  return `${transition.from}->${transition.to}:${transition.kind}:${transition.label ?? ''}`;
}

function cx(box: GraphBox): number {
  return box.x + box.width / 2;
}

function cy(box: GraphBox): number {
  return box.y + box.height / 2;
}

function bottom(box: GraphBox): number {
  return box.y + box.height;
}
