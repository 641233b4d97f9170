import { hoursBetween } from '../../tasks/shared/hours';
import type { HourRange, Overview } from '../api-types';
import { ApiFailure, getJson, takeToken } from './api';
import { AnalyticsView } from './analytics-view';
import { chartSummary, resizeCharts } from './charts';
import { byId, replace } from './dom';
import { HealthView } from './health-view';
import { OperationsView } from './operations-view';
import { hourLabel as label, JobsFeed, showBanner, type View } from './shell';

type ViewName = 'analytics' | 'operations' | 'health';
const VIEW_NAMES: readonly ViewName[] = ['analytics', 'operations', 'health'];

declare global {
  interface Window {
    /** For the tests and the devtools: every chart's series and their data points. */
    __lakehouseConsole?: { charts: typeof chartSummary };
  }
}

async function start(): Promise<void> {
  window.__lakehouseConsole = { charts: chartSummary };
  if (takeToken() === undefined) {
    showBanner('This page needs the console\'s token: open the URL that "lakehouse console" printed (it ends in ?token=...).');
    return;
  }
  let overview: Overview;
  try {
    overview = await getJson<Overview>('/api/overview');
  } catch (error) {
    showBanner(error instanceof ApiFailure && error.status === 403 ? `${error.message}` : `cannot reach the console: ${(error as Error).message}`);
    return;
  }
  const parts = overview.lake.split('/').filter((part) => part !== '');
  replace(byId('lake-path'), parts.length > 2 ? `…/${parts.slice(-2).join('/')}` : overview.lake);
  byId('lake-path').title = `${overview.lake} (catalog version ${overview.catalogVersion})`;
  const jobs = new JobsFeed();
  const views: Record<ViewName, View> = {
    analytics: new AnalyticsView(byId('view-analytics')),
    operations: new OperationsView(byId('view-operations')),
    health: new HealthView(byId('view-health')),
  };
  const picker = new RangePicker(overview.lakeRange);
  let current: ViewName | undefined;

  const showView = async (name: ViewName) => {
    if (current !== undefined && current !== name) views[current].hide?.();
    current = name;
    for (const link of document.querySelectorAll<HTMLAnchorElement>('.tabs a')) link.classList.toggle('active', link.dataset.view === name);
    for (const section of document.querySelectorAll<HTMLElement>('main > .view')) section.hidden = section.dataset.view !== name;
    byId('range-form').classList.toggle('disabled', name === 'operations');
    await views[name].show({ overview, range: picker.range, jobs });
    resizeCharts(byId(`view-${name}`));
  };
  const fromHash = (): ViewName => {
    const name = window.location.hash.slice(1);
    return (VIEW_NAMES as readonly string[]).includes(name) ? (name as ViewName) : 'analytics';
  };
  window.addEventListener('hashchange', () => void showView(fromHash()));
  window.addEventListener('resize', () => resizeCharts());
  picker.onChange(() => void showView(current ?? fromHash()));

  jobs.subscribe((list) => {
    const running = list.filter((job) => job.status === 'running').length;
    const indicator = byId('job-indicator');
    indicator.hidden = running === 0;
    replace(indicator, `${running} job${running === 1 ? '' : 's'} running`);
  });
  void jobs.refresh();
  await showView(fromHash());
}

/** The from/to selects of event hours (to exclusive), over the lake's range. */
class RangePicker {
  range: HourRange | undefined;
  private listener: (() => void) | undefined;
  private readonly from = byId<HTMLSelectElement>('range-from');
  private readonly to = byId<HTMLSelectElement>('range-to');

  constructor(private readonly lake: HourRange | undefined) {
    this.range = lake;
    const form = byId<HTMLFormElement>('range-form');
    if (lake === undefined) {
      form.classList.add('disabled');
      return;
    }
    const hours = hoursBetween(lake.from, lake.to);
    replace(this.from, hours.map((hour) => option(hour, label(hour))));
    replace(this.to, [...hours.slice(1), lake.to].map((hour) => option(hour, label(hour))));
    this.select(lake);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (this.to.value <= this.from.value) {
        showBanner(`"to" (${label(this.to.value)}) must be after "from" (${label(this.from.value)})`);
        return;
      }
      showBanner(undefined);
      this.range = { from: this.from.value, to: this.to.value };
      this.listener?.();
    });
    byId('range-reset').addEventListener('click', () => {
      this.select(lake);
      this.range = lake;
      this.listener?.();
    });
  }

  onChange(listener: () => void): void {
    this.listener = listener;
  }

  private select(range: HourRange): void {
    this.from.value = range.from;
    this.to.value = range.to;
  }
}

function option(value: string, text: string): HTMLOptionElement {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = text;
  return element;
}

void start().catch((error: unknown) => showBanner(`the console page failed: ${(error as Error).message}`));
