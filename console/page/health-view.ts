import type { LakeHealth } from '../api-types';
import { getJson } from './api';
import { draw, PALETTE } from './charts';
import { h, replace, table } from './dom';
import { bytes, count, percent, utc } from './format';
import { card, hourLabel, setState, showBanner, tiles, type View, type ViewContext } from './shell';

/** Lake health: the catalog's partitions of the event hours in the range (the small-files picture) and the rejects. */
export class HealthView implements View {
  private shown: string | undefined;

  constructor(private readonly section: HTMLElement) {}

  async show(context: ViewContext): Promise<void> {
    const range = context.range;
    const key = range === undefined ? 'none' : `${range.from}/${range.to}`;
    if (this.shown === key) return;
    this.shown = key;
    setState(this.section, 'loading');
    try {
      const health = await getJson<LakeHealth>('/api/health', range === undefined ? {} : { from: range.from, to: range.to });
      this.render(health);
      setState(this.section, 'ready');
    } catch (error) {
      this.shown = undefined;
      setState(this.section, 'error');
      showBanner(`lake health: ${(error as Error).message}`);
    }
  }

  private render(health: LakeHealth): void {
    const totals = health.totals;
    replace(
      this.section,
      h(
        'div',
        { class: 'grid' },
        tiles([
          { label: 'event-hour partitions', value: count(totals.partitions), hint: `catalog version ${health.catalogVersion}` },
          { label: 'rows', value: count(totals.rows) },
          { label: 'late rows', value: totals.rows === 0 ? '-' : percent(totals.lateRows / totals.rows), hint: `${count(totals.lateRows)} rows arrived in a later hour than their event hour` },
          { label: 'files', value: count(totals.files), hint: `${(totals.files / Math.max(1, totals.partitions)).toFixed(1)} per partition` },
          { label: 'bytes', value: bytes(totals.bytes) },
          { label: 'compactions', value: count(totals.compactions) },
          { label: 'rejected records', value: count(health.rejects.total), hint: 'of the arrival hours in the range' },
        ]),
        card({
          id: 'files',
          title: 'Small files: files per event hour',
          note: 'files the partition has now, had before its latest compaction and after it, and every file it was ever given (merge deltas, compaction rewrites)',
          span: 8,
          chartHeight: 280,
        }),
        card({ id: 'rejects', title: 'Rejects by reason', note: 'records of the arrival hours in the range that failed validation', span: 4, chartHeight: 280 }),
        card({ id: 'rows', title: 'Rows and late events per event hour', note: 'rows on time and late (bars), share of late rows (line)', span: 12, chartHeight: 250 }),
        card({
          id: 'partitions',
          title: 'Partitions',
          note: 'one row per event hour, from the catalog snapshot and its commit log',
          span: 12,
          body: [h('div', { class: 'scroll tall', id: 'table-partitions' }, partitionTable(health))],
        }),
        card({
          id: 'reject-examples',
          title: 'Rejected records, by reason',
          note: 'the first records of each reason, as the "rejects" view of "lakehouse query" shows them (cut to 500 characters; the rejects/ file keeps them whole)',
          span: 12,
          body: [h('div', { class: 'scroll tall', id: 'table-rejects' }, rejectTable(health))],
        }),
      ),
    );
    this.drawCharts(health);
  }

  private drawCharts(health: LakeHealth): void {
    const hours = health.partitions.map((partition) => hourLabel(partition.hour));
    const zoom = [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }];
    draw('chart-files', {
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 64 },
      dataZoom: zoom,
      xAxis: { type: 'category', data: hours, axisLabel: { fontSize: 11 } },
      yAxis: { type: 'value', name: 'files', minInterval: 1, splitLine: { lineStyle: { color: '#eef1f5' } } },
      series: [
        { name: 'now', type: 'bar', barMaxWidth: 14, data: health.partitions.map((partition) => partition.files) },
        { name: 'before latest compaction', type: 'bar', barMaxWidth: 14, data: health.partitions.map((partition) => partition.filesBeforeCompaction ?? 0) },
        { name: 'after latest compaction', type: 'bar', barMaxWidth: 14, data: health.partitions.map((partition) => partition.filesAfterCompaction ?? 0) },
        { name: 'ever written', type: 'line', symbolSize: 5, lineStyle: { width: 1.5, type: 'dashed' }, data: health.partitions.map((partition) => partition.filesWritten) },
      ],
    });
    const reasons = [...health.rejects.byReason].reverse();
    draw('chart-rejects', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      grid: { left: 8, right: 36, top: 8, bottom: 24, containLabel: true },
      xAxis: { type: 'value', minInterval: 1, splitLine: { lineStyle: { color: '#eef1f5' } } },
      yAxis: { type: 'category', data: reasons.map((row) => row.reason), axisLabel: { fontSize: 11 } },
      series: [{ name: 'records', type: 'bar', barMaxWidth: 18, color: PALETTE[3], label: { show: true, position: 'right', fontSize: 11 }, data: reasons.map((row) => row.count) }],
    });
    draw('chart-rows', {
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      grid: { left: 56, right: 56, top: 40, bottom: 64 },
      dataZoom: zoom,
      xAxis: { type: 'category', data: hours, axisLabel: { fontSize: 11 } },
      yAxis: [
        { type: 'value', name: 'rows', splitLine: { lineStyle: { color: '#eef1f5' } } },
        { type: 'value', name: 'late', max: 100, axisLabel: { formatter: '{value} %' }, splitLine: { show: false } },
      ],
      series: [
        { name: 'on time', type: 'bar', stack: 'rows', barMaxWidth: 16, data: health.partitions.map((partition) => partition.rows - partition.lateRows) },
        { name: 'late', type: 'bar', stack: 'rows', barMaxWidth: 16, color: PALETTE[2], data: health.partitions.map((partition) => partition.lateRows) },
        {
          name: 'late share',
          type: 'line',
          yAxisIndex: 1,
          showSymbol: false,
          color: PALETTE[3],
          data: health.partitions.map((partition) => Math.round(partition.lateShare * 1000) / 10),
        },
      ],
    });
  }
}

function partitionTable(health: LakeHealth): HTMLElement {
  return table(
    ['event hour', 'rows', 'late share', 'files', 'bytes', 'ever written', 'compactions', 'before → after', 'last commit (UTC)', 'by'],
    health.partitions.map((partition) => [
      hourLabel(partition.hour),
      count(partition.rows),
      percent(partition.lateShare),
      count(partition.files),
      bytes(partition.bytes),
      count(partition.filesWritten),
      count(partition.compactions),
      partition.filesBeforeCompaction === undefined ? '-' : `${partition.filesBeforeCompaction} → ${partition.filesAfterCompaction ?? '?'}`,
      partition.lastCommit === undefined ? '-' : `${utc(partition.lastCommit.at)} (v${partition.lastCommit.version})`,
      partition.lastCommit === undefined ? '' : h('span', { class: 'mono' }, `${partition.lastCommit.step}: ${partition.lastCommit.execution}`),
    ]),
    { numeric: [1, 2, 3, 4, 5, 6, 7], empty: 'no event-hour partitions in this range' },
  );
}

function rejectTable(health: LakeHealth): HTMLElement {
  return table(
    ['reason', 'arrival hour', 'source object', 'record #', 'record'],
    health.rejects.examples.map((example) => [
      h('span', { class: 'tag reason' }, example.reason),
      hourLabel(example.arrivalHour),
      h('span', { class: 'mono', title: example.sourceKey }, example.sourceKey.split('/').pop() ?? example.sourceKey),
      count(example.recordNumber),
      h('code', { class: 'record', title: example.record ?? '' }, example.record ?? 'NULL'),
    ]),
    { numeric: [3], empty: 'no rejected records in these arrival hours' },
  );
}
