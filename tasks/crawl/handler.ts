import type { TaskHandler } from '../runtime/task-registry';
import { runCrawl, type CrawlPorts } from './run';
import { parseCrawlInput } from './schema';

/**
 * The crawl task's entry, given its ports once: the local runtime registers it, and a Lambda entry
 * will wrap it with ports built from its configuration when the AWS adapters exist.
 */
export function createCrawlHandler(ports: CrawlPorts): TaskHandler {
  return async (event) => runCrawl(parseCrawlInput(event), ports);
}
