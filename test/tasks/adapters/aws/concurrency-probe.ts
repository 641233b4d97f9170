/**
 * A stand-in for a query service's progress in the concurrency tests of the AWS aggregate engines:
 * no statement finishes before `concurrency` of them have started, or a few seconds have passed (so
 * that an engine running fewer at once fails its test instead of hanging). It records the most
 * statements running at once. The engine's polls must wait on the event loop (`yieldingSleep`), so
 * that the other jobs go on meanwhile.
 */
export function concurrencyProbe(concurrency: number) {
  const deadline = Date.now() + 5_000;
  const running = new Set<string>();
  let started = 0;
  let most = 0;
  return {
    started(id: string): void {
      started += 1;
      running.add(id);
      most = Math.max(most, running.size);
    },
    /** Whether the statement is done when polled now. */
    finished(id: string): boolean {
      if (started < concurrency && Date.now() < deadline) return false;
      running.delete(id);
      return true;
    },
    get most(): number {
      return most;
    },
  };
}

/** A poll's wait that lets other work run: one turn of the event loop. */
export const yieldingSleep = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
