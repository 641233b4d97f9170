import type { ExecutionRecord } from '../tasks/runtime/execution-store';
import type { LocalPricing, PricingDelivery } from '../tasks/runtime/local-pricing';
import { formatCount, formatDuration } from './render';

/** What the hourly executions of a run reported, added up. */
export interface RunSummary {
  readonly hours: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly objects: number;
  readonly recordsRead: number;
  readonly accepted: number;
  readonly rejectedByReason: Readonly<Record<string, number>>;
  readonly duplicates: number;
  readonly lateEvents: number;
  readonly partitionsTouched: number;
  readonly compaction: { readonly partitions: number; readonly filesBefore: number; readonly filesAfter: number };
  readonly driftEvents: string[];
  readonly notes: string[];
  readonly durationMs: number;
}

interface HourlyOutput {
  crawl?: { drift?: { field: string; change: string; from?: string; to: string; partition: string }[] };
  merge?: {
    objects: number;
    recordsRead: number;
    accepted: number;
    rejectedByReason: Record<string, number>;
    duplicates: number;
    lateEvents: number;
    supersededRows: number;
    partitionsTouched: string[];
    notes: string[];
  };
  compact?: { partitionsCompacted: number; filesBefore: number; filesAfter: number };
}

export function summarizeHourlyRuns(hourly: readonly ExecutionRecord[], durationMs: number): RunSummary {
  const rejectedByReason: Record<string, number> = {};
  const partitions = new Set<string>();
  const driftEvents: string[] = [];
  const notes = new Set<string>();
  const totals = { objects: 0, recordsRead: 0, accepted: 0, duplicates: 0, lateEvents: 0 };
  const compaction = { partitions: 0, filesBefore: 0, filesAfter: 0 };
  for (const record of hourly) {
    const output = (record.output ?? {}) as HourlyOutput;
    for (const drift of output.crawl?.drift ?? []) {
      driftEvents.push(
        drift.change === 'added'
          ? `${drift.field} appeared (${drift.to}) in arrival hour ${drift.partition}`
          : `${drift.field} changed type ${drift.from} -> ${drift.to} in arrival hour ${drift.partition}`,
      );
    }
    const merge = output.merge;
    if (merge) {
      for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += merge[key];
      // A row one run accepted and a later run replaced by an earlier-arriving copy is, in the end, a duplicate.
      totals.accepted -= merge.supersededRows;
      totals.duplicates += merge.supersededRows;
      for (const [reason, count] of Object.entries(merge.rejectedByReason)) rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + count;
      for (const partition of merge.partitionsTouched) partitions.add(partition);
      for (const note of merge.notes) notes.add(note);
    }
    if (output.compact) {
      compaction.partitions += output.compact.partitionsCompacted;
      compaction.filesBefore += output.compact.filesBefore;
      compaction.filesAfter += output.compact.filesAfter;
    }
  }
  const succeeded = hourly.filter((record) => record.status === 'SUCCEEDED').length;
  return {
    hours: hourly.length,
    succeeded,
    failed: hourly.length - succeeded,
    ...totals,
    rejectedByReason,
    partitionsTouched: partitions.size,
    compaction,
    driftEvents,
    notes: [...notes],
    durationMs,
  };
}

export function renderRunSummary(summary: RunSummary): string {
  const rejected = Object.entries(summary.rejectedByReason).sort(([, a], [, b]) => b - a);
  const rejectedTotal = rejected.reduce((sum, [, count]) => sum + count, 0);
  return [
    `hourly executions: ${summary.succeeded} succeeded, ${summary.failed} failed, in ${formatDuration(summary.durationMs)}`,
    `raw objects merged: ${formatCount(summary.objects)}`,
    `events read: ${formatCount(summary.recordsRead)}`,
    `  accepted:   ${formatCount(summary.accepted)}`,
    `  rejected:   ${formatCount(rejectedTotal)}${rejected.length === 0 ? '' : ` (${rejected.map(([reason, count]) => `${reason} ${formatCount(count)}`).join(', ')})`}`,
    `  duplicates: ${formatCount(summary.duplicates)}`,
    `late events (event hour before arrival hour): ${formatCount(summary.lateEvents)}`,
    `event-time partitions touched: ${formatCount(summary.partitionsTouched)}`,
    `compaction: ${formatCount(summary.compaction.partitions)} partition rewrites, ${formatCount(summary.compaction.filesBefore)} files before, ${formatCount(summary.compaction.filesAfter)} after`,
    summary.driftEvents.length === 0 ? 'schema drift: none' : 'schema drift:',
    ...summary.driftEvents.map((event) => `  - ${event}`),
    ...summary.notes.map((note) => `note: ${note}`),
  ].join('\n');
}

/** What the pricing branch did after a command's workflows: the stream's delivery, or why it failed. */
type PricingSummary = PricingDelivery | { readonly failure: string };

/**
 * Delivers the waiting price signals to the consumer and says in one line what it did. A failed
 * delivery is reported, not thrown: the workflows it follows succeeded, and the records wait in the
 * stream for the next delivery.
 */
export async function deliverPriceSignals(pricing: LocalPricing): Promise<string> {
  let summary: PricingSummary;
  try {
    summary = await pricing.deliver();
  } catch (error) {
    summary = { failure: (error as Error).message.split('\n')[0] ?? '' };
  }
  return renderPricingSummary(summary);
}

function renderPricingSummary(summary: PricingSummary): string {
  if ('failure' in summary) return `price adjustments: none: delivering the price signals failed (they wait for the next delivery): ${summary.failure}`;
  const delivery = summary;
  switch (delivery.status) {
    case 'idle':
      return 'price adjustments: none (no new price signals)';
    case 'no-model':
      return `price adjustments: none: no price model is trained, so ${formatCount(delivery.pending)} price signal(s) wait in the stream (run "lakehouse train-model"; the next run delivers them)`;
    case 'delivered':
      return (
        `price adjustments: ${formatCount(delivery.changed)} price(s) changed, ${formatCount(delivery.held)} signal(s) held the price, from ${formatCount(delivery.delivered + delivery.deadLettered)} stream record(s)` +
        (delivery.deadLettered === 0 ? '' : `, ${formatCount(delivery.deadLettered)} sent to the dead letters`) +
        (delivery.pending === 0 ? '' : `, ${formatCount(delivery.pending)} still waiting`) +
        '; "lakehouse prices" shows why'
      );
  }
}
