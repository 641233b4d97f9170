import { run } from './run';

/** The backfill's planning step on AWS: pure, so it needs no configuration. */
export const handler = async (event: unknown): Promise<unknown> => run(event);
