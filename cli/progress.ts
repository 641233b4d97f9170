import type { ExecutionRecord } from '../tasks/runtime/execution-store';
import { formatDuration } from './render';

/** The execution events a progress line is printed for. */
interface ProgressEvent {
  readonly type: string;
}

/**
 * Prints one line to stderr as each hourly execution ends, numbered against the expected total,
 * so that a long backfill shows where it is without flooding the terminal.
 */
export function hourlyProgress(expectedHours: number): (execution: ExecutionRecord, event: ProgressEvent) => void {
  let finished = 0;
  return (execution, event) => {
    if (execution.stateMachine !== 'hourly') return;
    if (event.type !== 'ExecutionSucceeded' && event.type !== 'ExecutionFailed') return;
    finished += 1;
    const hour = (execution.input as { hour?: string } | undefined)?.hour ?? '?';
    const status = event.type === 'ExecutionSucceeded' ? 'succeeded' : 'FAILED';
    const elapsed = formatDuration(Date.now() - Date.parse(execution.startedAt));
    const counter = Number.isFinite(expectedHours) ? `${finished}/${expectedHours}` : String(finished);
    process.stderr.write(`  [${counter}] hour ${hour} ${status} in ${elapsed}\n`);
  };
}
