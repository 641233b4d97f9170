import type { ExecutionDetail, ExecutionSummary, JobView, StateVisit } from '../api-types';
import { getJson, postJson } from './api';
import { draw, escapeHtml, OUTCOME_COLOURS } from './charts';
import { byId, h, replace } from './dom';
import { duration, utc } from './format';
import { outcomeLegend, renderGraph } from './graph-view';
import { card, setState, showBanner, type View, type ViewContext } from './shell';

const JSON_PREVIEW_CHARS = 60_000;
type Panel = 'input' | 'output' | 'error' | 'state';

/**
 * Operations: start a backfill, follow the jobs, list the executions and inspect one: its state
 * machine coloured by outcome, its per-state timeline, input, output and error; rerun it.
 */
export class OperationsView implements View {
  private built = false;
  private executions: ExecutionSummary[] = [];
  private selectedId: string | undefined;
  private detail: ExecutionDetail | undefined;
  private selectedState: string | undefined;
  private panel: Panel = 'input';
  private visible = false;
  private detailTimer: number | undefined;
  private lastJobs = '';
  private context: ViewContext | undefined;

  constructor(private readonly section: HTMLElement) {}

  async show(context: ViewContext): Promise<void> {
    this.context = context;
    this.visible = true;
    if (!this.built) {
      this.build(context);
      context.jobs.subscribe((jobs) => this.onJobs(jobs));
      this.built = true;
    }
    setState(this.section, 'loading');
    try {
      await this.refreshExecutions();
      if (this.selectedId === undefined && this.executions.length > 0) this.selectedId = this.executions[0]!.id;
      await this.refreshDetail();
      setState(this.section, 'ready');
    } catch (error) {
      setState(this.section, 'error');
      showBanner(`operations: ${(error as Error).message}`);
    }
  }

  hide(): void {
    this.visible = false;
    window.clearTimeout(this.detailTimer);
  }

  private build(context: ViewContext): void {
    const arrivals = context.overview.arrivalRange;
    replace(
      this.section,
      h(
        'div',
        { class: 'grid' },
        card({
          id: 'backfill',
          title: 'Start a backfill',
          note: 'as "lakehouse backfill": the hourly workflow for every arrival hour in [from, to), as one execution; prices are delivered after it',
          span: 4,
          body: [
            h(
              'form',
              { id: 'backfill-form', class: 'stacked', onsubmit: (event: Event) => void this.startBackfill(event) },
              h('label', {}, 'From arrival hour', h('input', { id: 'backfill-from', name: 'from', required: true, pattern: '\\d{4}-\\d{2}-\\d{2}T\\d{2}', placeholder: 'YYYY-MM-DDTHH', value: arrivals?.from ?? '' })),
              h('label', {}, 'To (exclusive)', h('input', { id: 'backfill-to', name: 'to', required: true, pattern: '\\d{4}-\\d{2}-\\d{2}T\\d{2}', placeholder: 'YYYY-MM-DDTHH', value: arrivals?.to ?? '' })),
              h('label', {}, 'Hours at once', h('input', { id: 'backfill-concurrency', name: 'concurrency', type: 'number', min: 1, max: 40, value: 2, required: true })),
              h('button', { type: 'submit', class: 'primary', id: 'backfill-start' }, 'Start backfill'),
              h('p', { class: 'note' }, arrivals === undefined ? 'no raw data in the lake yet' : `raw data: arrival hours ${arrivals.from} to ${arrivals.to} (exclusive)`),
            ),
          ],
        }),
        card({ id: 'jobs', title: 'Jobs started here', note: 'reruns and backfills run in the console\'s process; progress updates every second', span: 8, body: [h('div', { id: 'jobs-list', class: 'jobs scroll short' })] }),
        card({ id: 'executions', title: 'Executions', note: 'newest first; ↳ marks the hours a backfill started', span: 5, body: [h('div', { id: 'executions-table', class: 'scroll tall' })] }),
        card({ id: 'execution', title: 'Execution', span: 7, body: [h('div', { id: 'execution-head' }), h('div', { class: 'graph-box', id: 'graph-box' }), outcomeLegend()] }),
        card({ id: 'timeline', title: 'State timeline', note: 'when each state ran, from the execution\'s start; colour by how it ended', span: 7, body: [h('div', { class: 'chart', id: 'chart-timeline' })] }),
        card({
          id: 'io',
          title: 'Input, output, error',
          span: 5,
          body: [h('div', { class: 'tabs-inline', id: 'io-tabs', role: 'tablist' }), h('pre', { id: 'io-body', class: 'json' })],
        }),
      ),
    );
  }

  private onJobs(jobs: readonly JobView[]): void {
    const list = document.getElementById('jobs-list');
    if (list === null) return;
    replace(list, jobs.length === 0 ? h('p', { class: 'empty' }, 'no jobs yet: rerun an execution or start a backfill') : jobs.map((job) => this.jobEntry(job)));
    const signature = JSON.stringify(jobs.map((job) => [job.id, job.status, job.progress.done, job.executionId]));
    if (signature !== this.lastJobs && this.visible) {
      this.lastJobs = signature;
      void this.refreshExecutions().then(() => this.refreshDetail());
    }
  }

  private jobEntry(job: JobView): HTMLElement {
    const unit = job.progress.unit === 'hours' ? 'hours' : 'states';
    return h(
      'div',
      { class: 'job', 'data-job': job.id, 'data-status': job.status, 'data-kind': job.kind },
      h('div', { class: 'job-head' }, pill(job.status), h('strong', {}, job.description), h('span', { class: 'muted' }, `started ${utc(job.startedAt).slice(11)}`)),
      h(
        'div',
        { class: 'job-progress' },
        h('progress', { max: Math.max(1, job.progress.total), value: job.progress.done }),
        h('span', { class: 'progress-text' }, `${job.progress.done}/${job.progress.total} ${unit}${job.progress.current === undefined ? '' : ` · ${job.progress.current}`}`),
      ),
      h(
        'div',
        { class: 'job-foot' },
        job.executionId === undefined ? null : h('a', { href: '#operations', onclick: (event: Event) => this.select(event, job.executionId!) }, job.executionId),
        job.pricing === undefined ? null : h('span', { class: 'muted' }, job.pricing),
        job.error === undefined ? null : h('span', { class: 'error-text' }, job.error),
      ),
    );
  }

  private async refreshExecutions(): Promise<void> {
    this.executions = await getJson<ExecutionSummary[]>('/api/executions');
    const target = document.getElementById('executions-table');
    if (target === null) return;
    if (this.executions.length === 0) {
      replace(target, h('p', { class: 'empty' }, 'no executions yet'));
      return;
    }
    replace(
      target,
      h(
        'table',
        { class: 'data selectable' },
        h('thead', {}, h('tr', {}, h('th', {}, 'execution'), h('th', {}, 'status'), h('th', {}, 'started (UTC)'), h('th', { class: 'num' }, 'duration'))),
        h(
          'tbody',
          {},
          this.executions.map((execution) =>
            h(
              'tr',
              {
                'data-id': execution.id,
                class: execution.id === this.selectedId ? 'selected' : undefined,
                onclick: (event: Event) => this.select(event, execution.id),
                title: `${execution.workflow} ${execution.subject}${execution.rerunOf ? `, rerun of ${execution.rerunOf}` : ''}`,
              },
              h(
                'td',
                {},
                h(
                  'div',
                  { class: execution.parentId === undefined ? 'execution-name' : 'execution-name child-run' },
                  execution.parentId === undefined ? '' : '↳ ',
                  h('strong', {}, execution.workflow),
                  ` ${execution.subject}`,
                  execution.rerunOf === undefined ? null : h('span', { class: 'tag' }, 'rerun'),
                ),
                h('div', { class: 'mono muted execution-id' }, execution.id),
              ),
              h('td', {}, pill(execution.status)),
              h('td', { class: 'nowrap' }, utc(execution.startedAt).slice(5)),
              h('td', { class: 'num' }, duration(execution.durationMs)),
            ),
          ),
        ),
      ),
    );
  }

  private select(event: Event, id: string): void {
    event.preventDefault();
    if (this.selectedId !== id) {
      this.selectedId = id;
      this.selectedState = undefined;
      if (this.panel === 'state') this.panel = 'input';
    }
    for (const row of document.querySelectorAll<HTMLElement>('#executions-table tr[data-id]')) row.classList.toggle('selected', row.dataset.id === id);
    void this.refreshDetail().catch((error: unknown) => showBanner(`execution ${id}: ${(error as Error).message}`));
  }

  private async refreshDetail(): Promise<void> {
    window.clearTimeout(this.detailTimer);
    if (this.selectedId === undefined) {
      replace(byId('execution-head'), h('p', { class: 'empty' }, 'select an execution'));
      return;
    }
    const id = this.selectedId;
    const detail = await getJson<ExecutionDetail>(`/api/executions/${encodeURIComponent(id)}`);
    if (id !== this.selectedId) return;
    this.detail = detail;
    this.renderDetail(detail);
    if (detail.summary.status === 'RUNNING' && this.visible) this.detailTimer = window.setTimeout(() => void this.refreshDetail().catch(() => undefined), 1000);
  }

  private renderDetail(detail: ExecutionDetail): void {
    const summary = detail.summary;
    replace(
      byId('execution-head'),
      h(
        'div',
        { class: 'execution-head', 'data-id': summary.id, 'data-status': summary.status },
        h(
          'div',
          { class: 'execution-title' },
          h('span', { class: 'mono strong' }, summary.id),
          pill(summary.status),
          h('button', { type: 'button', id: 'rerun-button', class: 'primary', onclick: () => void this.rerun(summary.id), title: 'a new execution of the same workflow with the same input, as "lakehouse rerun"' }, 'Rerun'),
        ),
        h(
          'dl',
          { class: 'facts' },
          fact('workflow', summary.workflow),
          fact('hours', summary.subject),
          fact('started', `${utc(summary.startedAt)} UTC`),
          fact('duration', duration(summary.durationMs)),
          summary.parentId === undefined ? null : fact('started by', this.link(summary.parentId)),
          summary.rerunOf === undefined ? null : fact('rerun of', this.link(summary.rerunOf)),
          detail.reruns.length === 0 ? null : fact('reruns', detail.reruns.map((rerun) => this.link(rerun.id))),
          detail.children.length === 0
            ? null
            : fact(
                'hourly runs',
                detail.children.map((child) => h('span', { class: `child status-${child.status.toLowerCase()}` }, this.link(child.id, child.subject))),
              ),
        ),
      ),
    );
    replace(byId('graph-box'), renderGraph(detail.graph, (state) => this.selectState(state), this.selectedState));
    this.drawTimeline(detail);
    this.renderPanel();
  }

  private link(id: string, text: string = id): HTMLElement {
    return h('a', { href: '#operations', class: 'mono', onclick: (event: Event) => this.select(event, id) }, text);
  }

  private selectState(state: string): void {
    this.selectedState = state;
    this.panel = 'state';
    if (this.detail !== undefined) this.renderDetail(this.detail);
  }

  private drawTimeline(detail: ExecutionDetail): void {
    const start = Date.parse(detail.summary.startedAt);
    const now = Date.now();
    const visits = detail.states;
    const element = byId('chart-timeline');
    element.style.height = `${Math.max(220, 70 + visits.length * 24)}px`;
    const labels = visits.map((visit) => (visit.mapIndex === undefined ? visit.name : `${visit.name} [${visit.mapIndex}]`));
    const offsets = visits.map((visit) => (Date.parse(visit.enteredAt) - start) / 1000);
    const lengths = visits.map((visit) => Math.max(0.001, (visit.durationMs ?? (visit.status === 'RUNNING' ? now - Date.parse(visit.enteredAt) : 0)) / 1000));
    draw('chart-timeline', {
      tooltip: {
        trigger: 'item',
        formatter: (params: { dataIndex: number }) => {
          const visit = visits[params.dataIndex]!;
          return [
            `<strong>${escapeHtml(labels[params.dataIndex]!)}</strong> (${escapeHtml(visit.type)})`,
            `${escapeHtml(visit.status.toLowerCase())}${visit.retries > 0 ? `, ${visit.retries} retries` : ''}`,
            `entered ${escapeHtml(utc(visit.enteredAt).slice(11))} (+${offsets[params.dataIndex]!.toFixed(2)} s)`,
            `took ${escapeHtml(duration(visit.durationMs))}`,
            visit.error === undefined ? '' : escapeHtml(`${visit.error.error}: ${visit.error.cause}`.slice(0, 200)),
          ]
            .filter((line) => line !== '')
            .join('<br>');
        },
      },
      grid: { left: 8, right: 24, top: 10, bottom: 30, containLabel: true },
      xAxis: { type: 'value', name: 's', nameGap: 6, splitLine: { lineStyle: { color: '#eef1f5' } } },
      yAxis: { type: 'category', inverse: true, data: labels, axisLabel: { fontSize: 11, width: 180, overflow: 'truncate' } },
      series: [
        { name: 'offset', type: 'bar', stack: 'time', silent: true, itemStyle: { color: 'transparent' }, tooltip: { show: false }, data: offsets },
        {
          name: 'duration',
          type: 'bar',
          stack: 'time',
          barMaxWidth: 14,
          data: visits.map((visit, index) => ({ value: lengths[index], itemStyle: { color: OUTCOME_COLOURS[outcomeOfVisit(visit)] } })),
        },
      ],
    });
  }

  private renderPanel(): void {
    const detail = this.detail;
    if (detail === undefined) return;
    const tabs: [Panel, string][] = [
      ['input', 'Input'],
      ['output', 'Output'],
      ['error', detail.error === undefined ? 'Error (none)' : 'Error'],
      ['state', this.selectedState === undefined ? 'State (click one)' : `State ${this.selectedState}`],
    ];
    replace(
      byId('io-tabs'),
      tabs.map(([panel, label]) =>
        h(
          'button',
          {
            type: 'button',
            role: 'tab',
            'aria-selected': panel === this.panel ? 'true' : 'false',
            class: panel === this.panel ? 'active' : undefined,
            onclick: () => {
              this.panel = panel;
              this.renderPanel();
            },
          },
          label,
        ),
      ),
    );
    replace(byId('io-body'), preview(this.panelContent(detail)));
  }

  private panelContent(detail: ExecutionDetail): unknown {
    switch (this.panel) {
      case 'input':
        return detail.input;
      case 'output':
        return detail.output ?? (detail.summary.status === 'RUNNING' ? '(still running)' : '(none)');
      case 'error':
        return detail.error ?? '(none)';
      case 'state': {
        if (this.selectedState === undefined) return 'click a state in the graph to see its input, output and error';
        const visits = detail.states.filter((visit) => visit.name === this.selectedState);
        if (visits.length === 0) return `${this.selectedState} did not run in this execution`;
        return visits.map(({ name, mapIndex, status, enteredAt, durationMs, retries, input, output, error, retriedErrors }) => ({
          state: name,
          ...(mapIndex === undefined ? {} : { mapIndex }),
          status,
          enteredAt,
          durationMs,
          retries,
          ...(retriedErrors === undefined ? {} : { retriedErrors }),
          ...(error === undefined ? {} : { error }),
          input,
          ...(output === undefined ? {} : { output }),
        }));
      }
    }
  }

  private async rerun(id: string): Promise<void> {
    try {
      await postJson<JobView>(`/api/executions/${encodeURIComponent(id)}/rerun`);
      showBanner(undefined);
      await this.context?.jobs.refresh();
    } catch (error) {
      showBanner(`rerun of ${id}: ${(error as Error).message}`);
    }
  }

  private async startBackfill(event: Event): Promise<void> {
    event.preventDefault();
    const value = (id: string) => byId<HTMLInputElement>(id).value.trim();
    try {
      await postJson<JobView>('/api/backfill', { from: value('backfill-from'), to: value('backfill-to'), concurrency: Number(value('backfill-concurrency')) });
      showBanner(undefined);
      await this.context?.jobs.refresh();
    } catch (error) {
      showBanner(`backfill: ${(error as Error).message}`);
    }
  }
}

function outcomeOfVisit(visit: StateVisit): keyof typeof OUTCOME_COLOURS {
  if (visit.status === 'FAILED') return 'failed';
  if (visit.status === 'CAUGHT') return 'caught';
  if (visit.status === 'RUNNING') return 'running';
  return visit.retries > 0 ? 'retried' : 'succeeded';
}

function pill(status: string): HTMLElement {
  return h('span', { class: `pill status-${status.toLowerCase()}` }, status.toLowerCase());
}

function fact(label: string, value: string | Node | Node[]): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, value)];
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return text.length > JSON_PREVIEW_CHARS ? `${text.slice(0, JSON_PREVIEW_CHARS)}\n… (${text.length - JSON_PREVIEW_CHARS} more characters)` : text;
}
