import type { ExecutionRecord } from '../tasks/runtime/execution-store';
import { formatCount, formatDuration } from './render';

/** What the hourly executions of a run reported, added up. */
export interface RunSummary {
  readonly hours: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly objects: number;
  readonly recordsRead: number;
  readonly malformedRecords: number;
  readonly driftEvents: string[];
  readonly durationMs: number;
}

interface CrawlOutput {
  objects?: number;
  records?: number;
  malformedRecords?: number;
  drift?: { field: string; change: string; from?: string; to: string; partition: string }[];
}

export function summarizeHourlyRuns(hourly: readonly ExecutionRecord[], durationMs: number): RunSummary {
  let objects = 0;
  let recordsRead = 0;
  let malformedRecords = 0;
  const driftEvents: string[] = [];
  for (const record of hourly) {
    const crawl = (record.output as { crawl?: CrawlOutput } | undefined)?.crawl;
    if (!crawl) continue;
    objects += crawl.objects ?? 0;
    recordsRead += crawl.records ?? 0;
    malformedRecords += crawl.malformedRecords ?? 0;
    for (const drift of crawl.drift ?? []) {
      driftEvents.push(
        drift.change === 'added'
          ? `${drift.field} appeared (${drift.to}) in arrival hour ${drift.partition}`
          : `${drift.field} changed type ${drift.from} -> ${drift.to} in arrival hour ${drift.partition}`,
      );
    }
  }
  const succeeded = hourly.filter((record) => record.status === 'SUCCEEDED').length;
  return { hours: hourly.length, succeeded, failed: hourly.length - succeeded, objects, recordsRead, malformedRecords, driftEvents, durationMs };
}

export function renderRunSummary(summary: RunSummary): string {
  const lines = [
    `hourly executions: ${summary.succeeded} succeeded, ${summary.failed} failed, in ${formatDuration(summary.durationMs)}`,
    `raw objects crawled: ${formatCount(summary.objects)}`,
    `events read: ${formatCount(summary.recordsRead)} (${formatCount(summary.malformedRecords)} not parseable as JSON objects)`,
    summary.driftEvents.length === 0 ? "schema drift: none" : "schema drift:",
    ...summary.driftEvents.map((event) => `  - ${event}`),
  ];
  return lines.join('\n');
}
