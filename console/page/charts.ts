import { BarChart, FunnelChart, LineChart, MapChart, PieChart, ScatterChart } from 'echarts/charts';
import { DataZoomComponent, GeoComponent, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import type { StateOutcome } from '../api-types';

echarts.use([
  BarChart,
  FunnelChart,
  LineChart,
  MapChart,
  PieChart,
  ScatterChart,
  DataZoomComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);

export { echarts };

export type ChartOption = echarts.EChartsCoreOption;

export const PALETTE = ['#2f6fde', '#19a186', '#f2a33a', '#d9534f', '#7a5cd6', '#3bb0d9', '#9aa53a', '#c46aa6'];

export const OUTCOME_COLOURS: Readonly<Record<StateOutcome, string>> = {
  succeeded: '#2e9d5b',
  failed: '#d64545',
  caught: '#e8812d',
  retried: '#e0b000',
  running: '#3b82f6',
  'not-run': '#c3c9d2',
};

export const OUTCOME_LABELS: Readonly<Record<StateOutcome, string>> = {
  succeeded: 'succeeded',
  failed: 'failed',
  caught: 'caught',
  retried: 'retried',
  running: 'running',
  'not-run': 'not run',
};

const charts = new Map<string, echarts.ECharts>();

/** The options every chart shares: UTC time axes, the palette, readable text. */
const BASE: ChartOption = {
  useUTC: true,
  color: PALETTE,
  textStyle: { fontFamily: 'inherit', fontSize: 12 },
  animationDuration: 300,
};

/** Draws `option` into the element `id`, creating its chart on first use; charts are registered for the tests. */
export function draw(id: string, option: ChartOption): echarts.ECharts {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`no chart element #${id}`);
  let chart = charts.get(id);
  if (chart === undefined || chart.isDisposed() || chart.getDom() !== element) {
    chart = echarts.init(element, undefined, { renderer: 'canvas' });
    charts.set(id, chart);
  }
  chart.setOption({ ...BASE, ...option }, { notMerge: true });
  return chart;
}

/** Resizes the charts inside `root` (after it became visible, or the window changed). */
export function resizeCharts(root: ParentNode = document): void {
  for (const [id, chart] of charts) {
    const element = document.getElementById(id);
    if (element !== null && root.contains(element) && element.offsetWidth > 0) chart.resize();
  }
}

export interface ChartSummary {
  /** Whether the chart's element is on screen with a size. */
  readonly visible: boolean;
  /** Each series and how many of its data points hold a value (a map lists every region, valued or not). */
  readonly series: { readonly type: string; readonly name?: string; readonly points: number }[];
}

/** For the tests (and a curious user in the devtools): every chart's series and the data points each holds. */
export function chartSummary(): Record<string, ChartSummary> {
  const summary: Record<string, ChartSummary> = {};
  for (const [id, chart] of charts) {
    if (chart.isDisposed()) continue;
    const option = chart.getOption() as { series?: { type: string; name?: string; data?: unknown[] }[] };
    const element = chart.getDom();
    summary[id] = {
      visible: element.isConnected && element.offsetWidth > 0 && element.offsetHeight > 0,
      series: (option.series ?? []).map((series) => ({
        type: series.type,
        ...(series.name === undefined ? {} : { name: series.name }),
        points: (series.data ?? []).filter(hasValue).length,
      })),
    };
  }
  return summary;
}

function hasValue(point: unknown): boolean {
  const value = typeof point === 'object' && point !== null && !Array.isArray(point) ? (point as { value?: unknown }).value : point;
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && value !== undefined && value !== '-' && !(typeof value === 'number' && Number.isNaN(value));
}

export function escapeHtml(text: string): string {
  return echarts.format.encodeHTML(text);
}
