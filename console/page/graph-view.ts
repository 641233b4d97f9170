import type { GraphEdge, GraphGroup, GraphNode, StateOutcome, WorkflowGraph } from '../api-types';
import { OUTCOME_COLOURS, OUTCOME_LABELS } from './charts';
import { h } from './dom';

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number> = {}, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

/** Text colour readable on each outcome's fill. */
const INK: Readonly<Record<StateOutcome, string>> = {
  succeeded: '#ffffff',
  failed: '#ffffff',
  caught: '#ffffff',
  retried: '#2b2100',
  running: '#ffffff',
  'not-run': '#3d4653',
};

/**
 * Draws a workflow graph as SVG: groups (a Map's item processor, a Parallel's branches) behind, then
 * transitions, then states; each state filled by its outcome, with its details in a tooltip. A click
 * on a state or group calls `onSelect` with its name.
 */
export function renderGraph(graph: WorkflowGraph, onSelect: (state: string) => void, selected?: string): SVGSVGElement {
  const root = svg('svg', {
    class: 'graph',
    id: 'execution-graph',
    viewBox: `0 0 ${graph.width} ${graph.height}`,
    width: graph.width,
    height: graph.height,
    role: 'img',
    'aria-label': `state machine ${graph.workflow}`,
    'data-workflow': graph.workflow,
  });
  const defs = svg('defs');
  for (const [id, colour] of [
    ['arrow-taken', '#3d4653'],
    ['arrow-idle', '#b7bfca'],
    ['arrow-catch', '#e8812d'],
  ] as const) {
    defs.append(svg('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: colour })));
  }
  root.append(defs);
  for (const group of graph.groups) root.append(groupShape(group, onSelect, selected));
  for (const edge of graph.edges) root.append(edgeShape(edge));
  for (const node of graph.nodes) root.append(nodeShape(node, onSelect, selected));
  return root;
}

/** The legend of the outcome colours. */
export function outcomeLegend(): HTMLElement {
  const shown: StateOutcome[] = ['succeeded', 'failed', 'caught', 'retried', 'running', 'not-run'];
  return h(
    'div',
    { class: 'legend' },
    shown.map((outcome) => h('span', { class: 'legend-item' }, h('span', { class: `swatch outcome-${outcome}` }), OUTCOME_LABELS[outcome])),
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch line-catch' }), 'Catch'),
  );
}

function nodeShape(node: GraphNode, onSelect: (state: string) => void, selected: string | undefined): SVGGElement {
  const colour = OUTCOME_COLOURS[node.outcome];
  const group = svg('g', { class: `state${node.id === selected ? ' selected' : ''}`, 'data-state': node.id, 'data-outcome': node.outcome, tabindex: 0 });
  group.append(svg('title', {}, describe(node)));
  group.append(
    svg('rect', {
      x: node.x,
      y: node.y,
      width: node.width,
      height: node.height,
      rx: 8,
      fill: colour,
      stroke: node.outcome === 'not-run' ? '#8b95a3' : shade(colour),
      'stroke-width': node.id === selected ? 3 : 1.2,
      'stroke-dasharray': node.outcome === 'not-run' ? '4 3' : 'none',
    }),
  );
  group.append(svg('text', { x: node.x + 12, y: node.y + 19, class: 'state-name', fill: INK[node.outcome] }, node.id));
  group.append(svg('text', { x: node.x + 12, y: node.y + 36, class: 'state-meta', fill: INK[node.outcome] }, metaOf(node)));
  group.addEventListener('click', () => onSelect(node.id));
  group.addEventListener('keydown', (event) => {
    if ((event as KeyboardEvent).key === 'Enter') onSelect(node.id);
  });
  return group;
}

function groupShape(group: GraphGroup, onSelect: (state: string) => void, selected: string | undefined): SVGGElement {
  const colour = OUTCOME_COLOURS[group.outcome];
  const shape = svg('g', { class: `state-group${group.id === selected ? ' selected' : ''}`, 'data-state': group.id, 'data-outcome': group.outcome });
  shape.append(svg('title', {}, describe(group)));
  shape.append(
    svg('rect', {
      x: group.x,
      y: group.y,
      width: group.width,
      height: group.height,
      rx: 10,
      fill: tint(colour),
      stroke: colour,
      'stroke-width': group.id === selected ? 3 : 1.5,
      'stroke-dasharray': '6 4',
    }),
  );
  shape.append(svg('text', { x: group.x + 12, y: group.y + 19, class: 'group-label' }, `${group.label}  ·  ${OUTCOME_LABELS[group.outcome]}${group.visits > 1 ? ` ×${group.visits}` : ''}`));
  shape.addEventListener('click', (event) => {
    if (event.target === shape.querySelector('rect') || (event.target as Element).classList.contains('group-label')) onSelect(group.id);
  });
  return shape;
}

function edgeShape(edge: GraphEdge): SVGGElement {
  const catchEdge = edge.kind === 'catch';
  const colour = catchEdge ? (edge.taken ? '#e8812d' : '#f0c9a4') : edge.taken ? '#3d4653' : '#b7bfca';
  const marker = catchEdge ? 'arrow-catch' : edge.taken ? 'arrow-taken' : 'arrow-idle';
  const group = svg('g', { class: `edge edge-${edge.kind}${edge.taken ? ' taken' : ''}`, 'data-from': edge.from, 'data-to': edge.to });
  if (edge.label !== undefined) group.append(svg('title', {}, `${edge.from} → ${edge.to}: ${edge.label}`));
  const d = edge.points.map(([x, y], index) => `${index === 0 ? 'M' : 'L'}${x},${y}`).join(' ');
  group.append(
    svg('path', {
      d,
      fill: 'none',
      stroke: colour,
      'stroke-width': edge.taken ? 1.8 : 1.2,
      'stroke-dasharray': catchEdge ? '5 4' : 'none',
      'marker-end': `url(#${marker})`,
    }),
  );
  if (edge.kind === 'start') {
    const [x, y] = edge.points[0]!;
    group.append(svg('circle', { cx: x, cy: y, r: 4, fill: edge.taken ? '#3d4653' : '#b7bfca' }));
  }
  if ((edge.kind === 'choice' || edge.kind === 'default') && edge.label !== undefined && edge.points.length > 1) {
    const [x, y] = edge.points[1]!;
    group.append(svg('text', { x: x + 4, y: y - 4, class: 'edge-label' }, edge.label));
  }
  return group;
}

function metaOf(node: GraphNode): string {
  const parts = [node.type, OUTCOME_LABELS[node.outcome]];
  if (node.visits > 1) parts.push(`×${node.visits}`);
  if (node.retries > 0) parts.push(`${node.retries} retr${node.retries === 1 ? 'y' : 'ies'}`);
  return parts.join(' · ');
}

function describe(state: GraphNode | GraphGroup): string {
  return [
    `${state.id} (${state.type}): ${OUTCOME_LABELS[state.outcome]}`,
    `visits: ${state.visits}, retries: ${state.retries}`,
    ...(state.comment === undefined ? [] : [state.comment]),
  ].join('\n');
}

/** A darker shade of a `#rrggbb` colour, for borders. */
function shade(colour: string): string {
  return mix(colour, '#000000', 0.25);
}

/** A pale tint of a `#rrggbb` colour, for group backgrounds. */
function tint(colour: string): string {
  return mix(colour, '#ffffff', 0.9);
}

function mix(a: string, b: string, weight: number): string {
  const channel = (colour: string, index: number) => parseInt(colour.slice(1 + index * 2, 3 + index * 2), 16);
  const mixed = [0, 1, 2].map((index) => Math.round(channel(a, index) * (1 - weight) + channel(b, index) * weight));
  return `#${mixed.map((value) => value.toString(16).padStart(2, '0')).join('')}`;
}
