import type { HourRange, JobView, Overview } from '../api-types';
import { getJson } from './api';
import { byId, h, replace } from './dom';

/** A page of the console: renders into its section when shown. */
export interface View {
  show(context: ViewContext): Promise<void>;
  hide?(): void;
}

export interface ViewContext {
  readonly overview: Overview;
  /** The event hours the picker selects; undefined for a lake without events. */
  readonly range: HourRange | undefined;
  readonly jobs: JobsFeed;
}

/** Polls the jobs while any runs (and now and then otherwise) and tells its listeners. */
export class JobsFeed {
  private listeners: ((jobs: readonly JobView[]) => void)[] = [];
  private timer: number | undefined;
  jobs: readonly JobView[] = [];

  subscribe(listener: (jobs: readonly JobView[]) => void): void {
    this.listeners.push(listener);
    listener(this.jobs);
  }

  /** Polls now (after a job was started) and from then on. */
  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      this.jobs = await getJson<JobView[]>('/api/jobs');
      for (const listener of this.listeners) listener(this.jobs);
    } catch (error) {
      showBanner((error as Error).message);
    }
    const running = this.jobs.some((job) => job.status === 'running');
    this.timer = window.setTimeout(() => void this.refresh(), running ? 1000 : 5000);
  }
}

export function showBanner(message: string | undefined): void {
  const banner = byId('banner');
  banner.hidden = message === undefined;
  replace(banner, message ?? '');
}

/** `2021-07-12T05` as `2021-07-12 05:00`. */
export function hourLabel(hour: string): string {
  return `${hour.replace('T', ' ')}:00`;
}

export interface CardOptions {
  readonly id: string;
  readonly title: string;
  readonly note?: string;
  /** Columns of the 12-column grid. */
  readonly span: 3 | 4 | 5 | 6 | 7 | 8 | 12;
  /** A chart element of this height (px) goes in the card's body. */
  readonly chartHeight?: number;
  readonly body?: Node[];
  readonly footer?: Node | string;
}

/** A card of the grid: a title, an optional note, a chart element or other content. */
export function card(options: CardOptions): HTMLElement {
  return h(
    'article',
    { class: `card span-${options.span}`, id: `card-${options.id}` },
    h('header', {}, h('h2', {}, options.title), options.note === undefined ? null : h('p', { class: 'note' }, options.note)),
    options.chartHeight === undefined ? null : h('div', { class: 'chart', id: `chart-${options.id}`, style: `height:${options.chartHeight}px` }),
    ...(options.body ?? []),
    options.footer === undefined ? null : h('footer', {}, options.footer),
  );
}

/** A row of headline numbers. */
export function tiles(items: readonly { readonly label: string; readonly value: string; readonly hint?: string }[]): HTMLElement {
  return h(
    'div',
    { class: 'tiles span-12' },
    items.map((item) => h('div', { class: 'tile', title: item.hint }, h('span', { class: 'tile-value' }, item.value), h('span', { class: 'tile-label' }, item.label))),
  );
}

/** Marks a view's section as loading, ready or failed (the tests wait for `data-state="ready"`). */
export function setState(section: HTMLElement, state: 'loading' | 'ready' | 'error'): void {
  section.dataset.state = state;
}
