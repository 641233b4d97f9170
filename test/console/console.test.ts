import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { startConsole, type RunningConsole } from '../../console/server';
import { ExecutionStore } from '../../tasks/runtime/execution-store';
import { listing } from '../cli/run-cli';
import { buildSmallLake, GENERATED, type SmallLake } from './small-lake';

const SCREENSHOTS = path.join(__dirname, 'screenshots');
const VIEWPORT = { width: 1366, height: 768 };
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface ChartSummary {
  readonly visible: boolean;
  readonly series: { readonly type: string; readonly name?: string; readonly points: number }[];
}

let small: SmallLake;
let running: RunningConsole;
let browser: Browser;

beforeAll(async () => {
  small = await buildSmallLake();
  running = await startConsole({ lake: small.lake });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await running?.jobs.settled();
  await running?.close();
  if (small !== undefined) await rm(small.lake, { recursive: true, force: true });
});

/** A page at the laptop size, collecting every console error and uncaught exception. */
async function openPage(view: 'analytics' | 'operations' | 'health'): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: VIEWPORT });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  await page.goto(`${running.url}#${view}`);
  await page.waitForSelector(`#view-${view}[data-state="ready"]`, { timeout: 60_000 });
  return { page, errors };
}

function api(pathname: string): Promise<Response> {
  return fetch(`${running.origin}${pathname}`, { headers: { 'X-Console-Token': running.token } });
}

async function chartsOf(page: Page): Promise<Record<string, ChartSummary>> {
  // A string: the function runs in the page, whose globals this file's types do not know.
  return (await page.evaluate('window.__lakehouseConsole.charts()')) as Record<string, ChartSummary>;
}

/** Every listed chart is on screen and each of its series holds data. */
function expectDrawn(charts: Record<string, ChartSummary>, ids: readonly string[], options: { optionalSeries?: readonly string[] } = {}): void {
  for (const id of ids) {
    const chart = charts[id];
    expect({ id, drawn: chart !== undefined && chart.visible }).toEqual({ id, drawn: true });
    expect(chart!.series.length).toBeGreaterThan(0);
    for (const series of chart!.series) {
      if (options.optionalSeries?.includes(`${id}/${series.name}`)) continue;
      expect({ id, series: series.name, hasData: series.points > 0 }).toEqual({ id, series: series.name, hasData: true });
    }
  }
}

/** Polls a locator's text until it matches (the page's own CSP refuses the string predicates of waitForFunction). */
async function waitForText(locator: Locator, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = (await locator.textContent()) ?? '';
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${pattern}, last text: ${JSON.stringify(text)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(600); // the charts' entry animation
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

describe('lakehouse console', () => {
  it('draws every analytics chart from the aggregates and the latest price adjustments, without console errors', async () => {
    const { page, errors } = await openPage('analytics');

    const charts = await chartsOf(page);
    expectDrawn(charts, [
      'chart-event-mix',
      'chart-per-hour',
      'chart-per-minute',
      'chart-funnel',
      'chart-sessions',
      'chart-map',
      'chart-top-regions',
      'chart-anomalies',
      'chart-prices',
    ]);
    // The generator's clicks come from a handful of countries: the map colours some, not all.
    const mapped = charts['chart-map']!.series[0]!.points;
    expect(mapped).toBeGreaterThan(3);
    expect(mapped).toBeLessThan(60);
    expect(charts['chart-top-regions']!.series[0]!.points).toBe(10);
    expect(await page.locator('#table-customers tbody tr').count()).toBe(50);
    expect(await page.locator('#table-prices tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#table-anomalies tbody tr').count()).toBeGreaterThan(0);
    await expect(page.locator('#range-from').inputValue()).resolves.toMatch(/^2021-07-\d\dT\d\d$/);

    await screenshot(page, 'analytics');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('filters every chart by the event hours picked', async () => {
    const { page, errors } = await openPage('analytics');
    const before = await chartsOf(page);

    await page.selectOption('#range-from', '2021-07-12T10');
    await page.selectOption('#range-to', '2021-07-12T11');
    const request = page.waitForRequest((candidate) => candidate.url().includes('/api/analytics?'));
    await page.click('#range-form button[type="submit"]');
    expect(new URL((await request).url()).searchParams.toString()).toBe('from=2021-07-12T10&to=2021-07-12T11');
    await page.waitForSelector('#view-analytics[data-state="ready"]');

    const after = await chartsOf(page);
    expect(after['chart-per-hour']!.series[0]!.points).toBe(1);
    expect(after['chart-per-minute']!.series[0]!.points).toBeLessThanOrEqual(60);
    expect(after['chart-per-minute']!.series[0]!.points).toBeLessThan(before['chart-per-minute']!.series[0]!.points);
    expect(after['chart-sessions']!.series[0]!.points).toBe(1);
    expectDrawn(after, ['chart-event-mix', 'chart-funnel', 'chart-map', 'chart-top-regions']);

    // The lake health page follows the same range.
    await page.click('.tabs a[data-view="health"]');
    await page.waitForSelector('#view-health[data-state="ready"]');
    expect(await page.locator('#table-partitions tbody tr').count()).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows the lake health: partitions with rows, files, late share and last commit, the small-files picture, and rejects with examples', async () => {
    const { page, errors } = await openPage('health');

    expectDrawn(await chartsOf(page), ['chart-files', 'chart-rejects', 'chart-rows']);
    const rows = page.locator('#table-partitions tbody tr');
    // Three arrival hours, whose late events went to up to six hours before them.
    expect(await rows.count()).toBeGreaterThan(3);
    await expect(rows.first().locator('td').nth(8).textContent()).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(v\d+\)$/);
    // Late events spread over earlier hours, and some partitions were compacted.
    await expect(page.locator('#table-partitions').textContent()).resolves.toMatch(/\d+ → \d+/);
    const rejects = page.locator('#table-rejects tbody tr');
    expect(await rejects.count()).toBeGreaterThan(3);
    await expect(rejects.first().locator('td').first().textContent()).resolves.toMatch(/^(malformed_json|missing_field:|invalid_field:|too_large|invalid_encoding|future_timestamp|too_late)/);

    await screenshot(page, 'health');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('reads the lake without changing it: every GET leaves its files as they were, but the tables\' LevelDB bookkeeping', async () => {
    const unchanged = () => listing(small.lake).filter((entry) => !entry.startsWith('_dynamodb/'));
    const before = unchanged();
    const executions = (await (await api('/api/executions')).json()) as { id: string }[];
    const paths = ['/api/overview', '/api/analytics', '/api/health', '/api/executions', '/api/jobs', ...executions.map(({ id }) => `/api/executions/${id}`)];
    for (const pathname of paths) expect({ pathname, status: (await api(pathname)).status }).toEqual({ pathname, status: 200 });
    expect(unchanged()).toEqual(before);
  });

  it('draws an execution as its state machine coloured by outcome, with its timeline, input and output', async () => {
    const { page, errors } = await openPage('operations');
    const store = new ExecutionStore(small.lake);
    const hourly = (await store.list()).find((record) => record.stateMachine === 'hourly')!;

    await page.click(`#executions-table tr[data-id="${hourly.id}"]`);
    await page.waitForSelector(`#execution-head [data-id="${hourly.id}"]`);
    const states = await page.$$eval('#execution-graph g.state', (groups) => groups.map((group) => [group.getAttribute('data-state'), group.getAttribute('data-outcome')]));
    expect(Object.fromEntries(states)).toEqual({
      CrawlRawHour: 'succeeded',
      MergeLateEvents: 'succeeded',
      CompactPartitions: 'succeeded',
      AggregateTouchedHours: 'succeeded',
      WritePriceSignals: 'succeeded',
      VacuumExpiredFiles: 'succeeded',
      FinishHour: 'succeeded',
      FailExecution: 'not-run',
    });
    expect(await page.locator('#execution-graph g.edge-catch').count()).toBe(6);
    expect(await page.locator('#execution-graph g.edge-next.taken').count()).toBe(6);
    expectDrawn(await chartsOf(page), ['chart-timeline']);
    expect(JSON.parse((await page.locator('#io-body').textContent())!)).toMatchObject({ hour: (hourly.input as { hour: string }).hour });
    await page.click('#io-tabs button:has-text("Output")');
    await expect(page.locator('#io-body').textContent()).resolves.toContain('"merge"');
    await page.click('#execution-graph g.state[data-state="MergeLateEvents"]');
    await expect(page.locator('#io-body').textContent()).resolves.toContain('"state": "MergeLateEvents"');
    await screenshot(page, 'operations');

    // The backfill: its Map's item processor is a group, run once per hour.
    await page.click(`#executions-table tr[data-id="${small.backfillId}"]`);
    await page.waitForSelector(`#execution-head [data-id="${small.backfillId}"]`);
    await expect(page.locator('#execution-graph g.state-group[data-state="RunHours"]').getAttribute('data-outcome')).resolves.toBe('succeeded');
    await expect(page.locator('#execution-graph g.state[data-state="RunHourlyWorkflow"] .state-meta').textContent()).resolves.toBe('Task · succeeded · ×3');
    await expect(page.locator('#execution-graph g.state[data-state="RecordFailedHour"]').getAttribute('data-outcome')).resolves.toBe('not-run');
    expect(await page.locator('#execution-head .child').count()).toBe(3);
    await screenshot(page, 'operations-backfill');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('reruns an execution from the page: a new execution that succeeds', async () => {
    const { page, errors } = await openPage('operations');
    const store = new ExecutionStore(small.lake);
    const original = (await store.list()).find((record) => record.stateMachine === 'hourly' && (record.input as { hour: string }).hour === '2021-07-12T10')!;

    await page.click(`#executions-table tr[data-id="${original.id}"]`);
    await page.waitForSelector(`#execution-head [data-id="${original.id}"]`);
    await page.click('#rerun-button');
    const job = page.locator('.job[data-kind="rerun"]');
    await job.waitFor();
    await page.waitForSelector('.job[data-kind="rerun"][data-status="succeeded"]', { timeout: 90_000 });
    await expect(job.locator('.progress-text').textContent()).resolves.toMatch(/^(\d+)\/\1 states$/);
    await expect(job.locator('.job-foot').textContent()).resolves.toContain('price adjustments:');

    const reruns = (await store.list()).filter((record) => record.rerunOf === original.id);
    expect(reruns.map((record) => record.status)).toEqual(['SUCCEEDED']);
    const rerun = reruns[0]!;
    expect(rerun.input).toEqual(original.input);
    // The page lists it, and shows it as a rerun that succeeded.
    const row = page.locator(`#executions-table tr[data-id="${rerun.id}"]`);
    await row.waitFor();
    await expect(row.locator('.pill').textContent()).resolves.toBe('succeeded');
    await row.click();
    await page.waitForSelector(`#execution-head [data-id="${rerun.id}"][data-status="SUCCEEDED"]`);
    await expect(page.locator('#execution-head dl.facts').textContent()).resolves.toContain(`rerun of${original.id}`);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('starts a backfill from the page and shows its progress until it finishes', async () => {
    const { page, errors } = await openPage('operations');
    await expect(page.inputValue('#backfill-from')).resolves.toBe(GENERATED.from);
    await expect(page.inputValue('#backfill-to')).resolves.toBe(GENERATED.to);

    // One hour already run (fast) and one not yet (slow), one at a time: the page shows 1/2 in between.
    await page.fill('#backfill-from', '2021-07-12T11');
    await page.fill('#backfill-to', GENERATED.to);
    await page.fill('#backfill-concurrency', '1');
    await page.click('#backfill-start');
    const job = page.locator('.job[data-kind="backfill"]');
    await job.waitFor();
    await expect(job.locator('strong').textContent()).resolves.toBe('backfill 2021-07-12T11 .. 2021-07-12T13 (2 hours, concurrency 1)');
    await waitForText(job.locator('.progress-text'), /^1\/2 hours · hour 2021-07-12T12: \w+$/, 60_000);
    await expect(job.locator('progress').getAttribute('value')).resolves.toBe('1');
    await page.waitForSelector('.job[data-kind="backfill"][data-status="succeeded"]', { timeout: 120_000 });
    await expect(job.locator('.progress-text').textContent()).resolves.toBe('2/2 hours');

    const backfills = (await new ExecutionStore(small.lake).list()).filter((record) => record.stateMachine === 'backfill' && record.id !== small.backfillId);
    expect(backfills.map((record) => [record.input, record.status])).toEqual([[{ from: '2021-07-12T11', to: GENERATED.to, concurrency: 1 }, 'SUCCEEDED']]);
    await page.locator(`#executions-table tr[data-id="${backfills[0]!.id}"]`).waitFor();
    await screenshot(page, 'operations-jobs');
    expect(errors).toEqual([]);
    await page.close();
  });
});
