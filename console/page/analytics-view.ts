import type { AnalyticsData, HourRange } from '../api-types';
import { getJson } from './api';
import { draw, escapeHtml, PALETTE, type ChartOption } from './charts';
import { h, replace, table } from './dom';
import { count, countryName, money, signedPercent, utc } from './format';
import { card, hourLabel, setState, showBanner, tiles, type View, type ViewContext } from './shell';
import { mapNameOf, registerWorldMap, WORLD_MAP } from './world-map';

/** Time-axis labels by level (the axis is in UTC): a day boundary shows the date, the hours their time. */
const TIME_LABELS = { year: '{yyyy}', month: '{MMM} {yyyy}', day: '{MMM} {d}', hour: '{HH}:{mm}', minute: '{HH}:{mm}', second: '{HH}:{mm}:{ss}' };
const TIME_AXIS = { type: 'time', axisLabel: { hideOverlap: true, formatter: TIME_LABELS } };

const GEO_CREDIT = 'IP geolocation by DB-IP (db-ip.com, CC BY 4.0)';

/** Analytics: the unloaded aggregates of the event hours in the range, and the price adjustments. */
export class AnalyticsView implements View {
  private shown: string | undefined;

  constructor(private readonly section: HTMLElement) {}

  async show(context: ViewContext): Promise<void> {
    const key = context.range === undefined ? 'none' : `${context.range.from}/${context.range.to}`;
    if (this.shown === key) return;
    this.shown = key;
    if (context.range === undefined) {
      replace(this.section, h('p', { class: 'empty-lake' }, 'The lake has no curated events yet: run "lakehouse backfill" (or start one on the Operations page).'));
      setState(this.section, 'ready');
      return;
    }
    setState(this.section, 'loading');
    try {
      const data = await getJson<AnalyticsData>('/api/analytics', { from: context.range.from, to: context.range.to });
      this.render(data);
      setState(this.section, 'ready');
    } catch (error) {
      this.shown = undefined;
      setState(this.section, 'error');
      showBanner(`analytics: ${(error as Error).message}`);
    }
  }

  private render(data: AnalyticsData): void {
    const events = data.eventMix.reduce((sum, row) => sum + row.events, 0);
    const sessions = data.sessions.reduce((sum, row) => sum + row.sessions, 0);
    const peakUsers = Math.max(0, ...data.perHour.map((row) => row.users));
    replace(
      this.section,
      h(
        'div',
        { class: 'grid' },
        tiles([
          { label: 'events', value: count(events), hint: 'events_by_name, summed over the hours' },
          { label: 'peak active users / hour', value: count(peakUsers), hint: 'active_users_per_hour' },
          { label: 'sessions started', value: count(sessions), hint: 'sessions' },
          { label: 'event hours with data', value: count(data.hoursWithData), hint: rangeText(data.range) },
          { label: 'anomalies flagged', value: count(data.anomalies.flagged.length), hint: `traffic_anomalies: ${count(data.anomalies.checked)} (hour, event) rows checked` },
          { label: 'price changes', value: count(data.prices.changed), hint: `${count(data.prices.held)} signals held the price` },
        ]),
        card({ id: 'per-hour', title: 'Events and active users per hour', note: 'active_users_per_hour: events (bars), distinct users (line)', span: 8, chartHeight: 260 }),
        card({ id: 'event-mix', title: 'Event mix', note: 'events_by_name', span: 4, chartHeight: 260 }),
        card({ id: 'per-minute', title: 'Events and active users per minute', note: 'active_users_per_minute; drag the slider to zoom', span: 8, chartHeight: 260 }),
        card({ id: 'funnel', title: 'Funnel', note: 'users reaching each step in order within a session, summed over the hours', span: 4, chartHeight: 260 }),
        card({ id: 'map', title: 'Events by country', note: 'events_by_country; scroll to zoom, drag to pan', span: 8, chartHeight: 320, footer: mapFooter(data) }),
        card({ id: 'top-regions', title: 'Top 10 regions', note: 'requests, summed from each hour\'s top_regions', span: 4, chartHeight: 320, footer: GEO_CREDIT }),
        card({ id: 'sessions', title: 'Sessions', note: 'sessions started per hour (bars), mean length in seconds (line)', span: 6, chartHeight: 360 }),
        card({
          id: 'anomalies',
          title: 'Traffic anomalies',
          note: 'hours whose count of an event is more than the threshold of standard deviations off its trailing 24 hours (z-score)',
          span: 6,
          chartHeight: 180,
          body: [anomalyTable(data)],
        }),
        card({
          id: 'customers',
          title: 'Actions per customer',
          note: `customer_actions: the ${count(data.customers.rows.length)} most active of ${count(data.customers.users)} users`,
          span: 6,
          body: [
            h(
              'div',
              { class: 'scroll', id: 'table-customers' },
              table(
                ['user', 'searches', 'views', 'add to carts', 'purchases', 'events', 'hours'],
                data.customers.rows.map((row) => [row.userId, count(row.searches), count(row.views), count(row.addToCarts), count(row.purchases), count(row.events), count(row.hours)]),
                { numeric: [1, 2, 3, 4, 5, 6] },
              ),
            ),
          ],
        }),
        card({
          id: 'prices',
          title: 'Latest price adjustments',
          note: data.prices.available
            ? `${count(data.prices.changed)} changes and ${count(data.prices.held)} holds on signals of these hours; ${count(data.prices.offBase)} of ${count(data.prices.products)} products are off their base price`
            : 'no pricing tables in this lake yet ("lakehouse generate" seeds them)',
          span: 6,
          chartHeight: 130,
          body: [h('div', { class: 'scroll short', id: 'table-prices' }, priceTable(data))],
        }),
      ),
    );
    this.drawCharts(data);
  }

  private drawCharts(data: AnalyticsData): void {
    draw('chart-per-hour', overTime(['events', 'users'], [
      { name: 'events', type: 'bar', barMaxWidth: 16, data: data.perHour.map((row) => [row.time, row.events]) },
      { name: 'active users', type: 'line', yAxisIndex: 1, showSymbol: false, smooth: false, data: data.perHour.map((row) => [row.time, row.users]) },
    ]));
    draw('chart-per-minute', overTime(['events', 'users'], [
      { name: 'events', type: 'line', showSymbol: false, sampling: 'lttb', lineStyle: { width: 1.5 }, data: data.perMinute.map((row) => [row.time, row.events]) },
      { name: 'active users', type: 'line', yAxisIndex: 1, showSymbol: false, sampling: 'lttb', lineStyle: { width: 1.5 }, data: data.perMinute.map((row) => [row.time, row.users]) },
    ]));
    draw('chart-event-mix', {
      tooltip: { trigger: 'item', valueFormatter: (value: number) => count(value) },
      legend: { bottom: 0, type: 'scroll' },
      series: [
        {
          name: 'events',
          type: 'pie',
          radius: ['38%', '60%'],
          center: ['50%', '46%'],
          avoidLabelOverlap: true,
          itemStyle: { borderColor: '#fff', borderWidth: 2 },
          label: { formatter: '{b} {d} %', fontSize: 12 },
          labelLine: { length: 8, length2: 8 },
          data: data.eventMix.map((row) => ({ name: row.name, value: row.events })),
        },
      ],
    });
    draw('chart-funnel', {
      tooltip: { trigger: 'item', valueFormatter: (value: number) => count(value) },
      series: [
        {
          name: 'users',
          type: 'funnel',
          sort: 'none',
          left: '8%',
          right: '8%',
          top: 10,
          bottom: 10,
          minSize: '42%',
          gap: 3,
          label: { position: 'inside', formatter: (params: { name: string; value: number }) => `${params.name}: ${count(params.value)}`, color: '#fff', fontSize: 12 },
          data: data.funnel.map((row) => ({ name: row.step, value: row.users })),
        },
      ],
    });
    draw('chart-sessions', overTime(['sessions', 'seconds'], [
      { name: 'sessions', type: 'bar', barMaxWidth: 16, data: data.sessions.map((row) => [row.hour, row.sessions]) },
      { name: 'mean length (s)', type: 'line', yAxisIndex: 1, showSymbol: false, data: data.sessions.map((row) => [row.hour, row.meanLengthSeconds]) },
    ]));
    registerWorldMap();
    const mapped = data.countries.flatMap((row) => {
      const name = mapNameOf(row.country);
      return name === undefined ? [] : [{ name, value: row.events, code: row.country }];
    });
    draw('chart-map', {
      tooltip: {
        trigger: 'item',
        formatter: (params: { name: string; value: number }) => `${escapeHtml(params.name)}: ${Number.isFinite(params.value) ? count(params.value) : 0} events`,
      },
      visualMap: {
        type: 'continuous',
        min: 0,
        max: Math.max(1, ...mapped.map((row) => row.value)),
        left: 12,
        bottom: 12,
        itemHeight: 90,
        calculable: true,
        text: ['more', 'fewer'],
        inRange: { color: ['#dbe9fb', '#6aa5ef', '#1f5fbf'] },
      },
      series: [
        {
          name: 'events',
          type: 'map',
          map: WORLD_MAP,
          roam: true,
          zoom: 1.1,
          emphasis: { label: { show: false }, itemStyle: { areaColor: '#f2a33a' } },
          select: { disabled: true },
          itemStyle: { areaColor: '#f1f3f6', borderColor: '#b9c2cf', borderWidth: 0.5 },
          data: mapped.map(({ name, value }) => ({ name, value })),
        },
      ],
    });
    const regions = [...data.topRegions].reverse();
    draw('chart-top-regions', {
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (value: number) => count(value) },
      grid: { left: 8, right: 40, top: 8, bottom: 24, containLabel: true },
      xAxis: { type: 'value', splitLine: { lineStyle: { color: '#eef1f5' } } },
      yAxis: { type: 'category', data: regions.map((row) => `${row.region ?? 'unknown'}, ${row.country ?? '?'}`), axisLabel: { width: 150, overflow: 'truncate' } },
      series: [{ name: 'requests', type: 'bar', barMaxWidth: 18, label: { show: true, position: 'right', fontSize: 11 }, data: regions.map((row) => row.requests) }],
    });
    const names = [...new Set(data.anomalies.flagged.map((row) => row.eventName))].sort();
    draw('chart-anomalies', {
      tooltip: {
        trigger: 'item',
        formatter: (params: { seriesName: string; value: [string, number, number] }) =>
          `${escapeHtml(params.seriesName)}<br>${utc(params.value[0])}<br>z = ${params.value[1]}, ${count(params.value[2])} events`,
      },
      legend: { top: 0 },
      grid: { left: 48, right: 20, top: 34, bottom: 28 },
      xAxis: { ...TIME_AXIS, min: `${data.range.from}:00:00Z`, max: `${data.range.to}:00:00Z` },
      yAxis: { type: 'value', name: 'z', splitLine: { lineStyle: { color: '#eef1f5' } } },
      series: names.map((name) => ({
        name,
        type: 'scatter',
        symbolSize: (value: [string, number, number]) => Math.min(22, 6 + Math.sqrt(value[2]) * 2),
        data: data.anomalies.flagged.filter((row) => row.eventName === name).map((row) => [row.hour, row.zScore, row.events]),
      })),
    });
    draw('chart-prices', {
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      grid: { left: 40, right: 16, top: 30, bottom: 22 },
      xAxis: { type: 'category', data: data.prices.byHour.map((row) => hourLabel(row.hour)), axisLabel: { fontSize: 10 } },
      yAxis: { type: 'value', minInterval: 1, splitLine: { lineStyle: { color: '#eef1f5' } } },
      series: [
        { name: 'raised', type: 'bar', stack: 'changes', color: PALETTE[1], data: data.prices.byHour.map((row) => row.raised) },
        { name: 'lowered', type: 'bar', stack: 'changes', color: PALETTE[3], data: data.prices.byHour.map((row) => row.lowered) },
      ],
    });
  }
}

function rangeText(range: HourRange): string {
  return `event hours ${hourLabel(range.from)} to ${hourLabel(range.to)} (exclusive), UTC`;
}

function mapFooter(data: AnalyticsData): HTMLElement {
  const missing = data.countries.filter((row) => mapNameOf(row.country) === undefined);
  return h(
    'span',
    {},
    missing.length === 0 ? '' : `Not drawn at this scale: ${missing.map((row) => `${countryName(row.country)} ${count(row.events)}`).join(', ')}. `,
    GEO_CREDIT,
  );
}

function anomalyTable(data: AnalyticsData): HTMLElement {
  return h(
    'div',
    { class: 'scroll short', id: 'table-anomalies' },
    table(
      ['hour', 'event', 'events', 'trailing mean', 'std dev', 'z'],
      data.anomalies.flagged.map((row) => [utc(row.hour).slice(0, 16), row.eventName, count(row.events), row.trailingMean.toFixed(2), row.trailingStddev.toFixed(2), row.zScore.toFixed(2)]),
      { numeric: [2, 3, 4, 5], empty: 'no anomalies flagged in this range' },
    ),
  );
}

function priceTable(data: AnalyticsData): HTMLElement {
  return table(
    ['product', 'old', 'new', 'change', 'signal hour', 'reason'],
    data.prices.latest.map((row) => [
      h('span', { class: 'nowrap', title: `${row.category}, product ${row.productId}; decided ${utc(row.decidedAt)} UTC` }, row.product || String(row.productId)),
      money(row.oldPrice),
      money(row.newPrice),
      h('span', { class: row.newPrice > row.oldPrice ? 'up' : 'down' }, signedPercent(row.newPrice / row.oldPrice - 1)),
      h('span', { class: 'nowrap' }, hourLabel(row.eventHour)),
      h('span', { class: 'reason', title: row.reason }, row.reason),
    ]),
    { numeric: [1, 2, 3], empty: 'no price changes on signals of these hours' },
  );
}

/** A chart over time with two value axes (the second series on the right one), zoomable. */
function overTime(axes: readonly [string, string], series: readonly object[]): ChartOption {
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 56, right: 56, top: 40, bottom: 60 },
    dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 8 }],
    xAxis: TIME_AXIS,
    yAxis: [
      { type: 'value', name: axes[0], splitLine: { lineStyle: { color: '#eef1f5' } } },
      { type: 'value', name: axes[1], splitLine: { show: false } },
    ],
    series,
  };
}
