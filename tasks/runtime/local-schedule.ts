import type { ObjectStore } from '../ports/object-store';
import { arrivalHourOfKey, formatHour, HOUR_IN_MS, hourStartMs, type Hour } from '../shared/hours';
import type { ExecutionRecord, ExecutionStore } from './execution-store';

/**
 * The embedded stand-in for the EventBridge Scheduler schedule: shortly after each hour begins,
 * start the hourly workflow for the hour that just ended; on start, catch up every arrival hour
 * that has raw data but no successful hourly execution.
 */
export interface ScheduleOptions {
  readonly store: ObjectStore;
  readonly executions: ExecutionStore;
  readonly start: (hour: Hour) => Promise<ExecutionRecord>;
  /** How long after an hour ends before it is run, so that Firehose's last buffers have landed. @default 5 minutes */
  readonly delayMs?: number;
  readonly now?: () => number;
}

/** The hours to run now, oldest first: due raw hours never run successfully, and the previous hour. */
export async function hoursDue(options: ScheduleOptions): Promise<Hour[]> {
  const now = (options.now ?? Date.now)();
  const delay = options.delayMs ?? DEFAULT_DELAY_MS;
  const isDue = (hour: Hour) => hourStartMs(hour) + HOUR_IN_MS + delay <= now;

  const candidates = new Set<Hour>();
  for await (const object of options.store.list('raw/')) {
    const hour = arrivalHourOfKey(object.key);
    if (hour && isDue(hour)) candidates.add(hour);
  }
  const previousHour = formatHour(now - delay - HOUR_IN_MS);
  candidates.add(previousHour);

  const succeeded = new Set(
    (await options.executions.list())
      .filter((record) => record.stateMachine === 'hourly' && record.status === 'SUCCEEDED')
      .map((record) => (record.input as { hour?: string }).hour),
  );
  return [...candidates].filter((hour) => !succeeded.has(hour)).sort();
}

/** Runs every due hour once, in order, and returns their executions. */
export async function runDueHours(options: ScheduleOptions): Promise<ExecutionRecord[]> {
  const records: ExecutionRecord[] = [];
  for (const hour of await hoursDue(options)) records.push(await options.start(hour));
  return records;
}

/** Runs due hours now and then after each hour begins (plus the delay), until `signal` aborts. */
export async function runSchedule(options: ScheduleOptions & { readonly signal: AbortSignal; readonly onIdle?: (nextRunAt: Date) => void }): Promise<void> {
  const now = options.now ?? Date.now;
  const delay = options.delayMs ?? DEFAULT_DELAY_MS;
  while (!options.signal.aborted) {
    await runDueHours(options);
    const current = now();
    const nextRunAt = Math.floor((current - delay) / HOUR_IN_MS) * HOUR_IN_MS + HOUR_IN_MS + delay;
    options.onIdle?.(new Date(nextRunAt));
    await sleep(nextRunAt - current, options.signal);
  }
}

const DEFAULT_DELAY_MS = 5 * 60_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
