import { settleAll } from './settle-all';

/**
 * `work` over `items`, at most `inFlight` at a time, a new one starting as soon as one ends; results
 * in the order of `items`. After a failure it starts nothing more, and fails once the work in flight
 * has ended, so that what the work shares (a connection, a session) can then be closed.
 */
export async function mapInFlight<T, R>(items: readonly T[], inFlight: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await settleAll(Array.from({ length: Math.min(inFlight, items.length) }, lane));
  return results;
}
