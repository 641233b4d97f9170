import { StartCrawlerCommand, type GlueClient } from '@aws-sdk/client-glue';

/**
 * Starts the Glue crawler over raw/ (it crawls new folders only), so that the raw table's partitions
 * in Glue follow the arrival hours. A crawler already running will pick up the new folder anyway, so
 * CrawlerRunningException is success; the crawl step does not wait for the crawler.
 */
export async function startRawCrawler(client: GlueClient, crawlerName: string): Promise<'started' | 'already-running'> {
  try {
    await client.send(new StartCrawlerCommand({ Name: crawlerName }));
    return 'started';
  } catch (error) {
    if ((error as Error).name === 'CrawlerRunningException') return 'already-running';
    throw error;
  }
}
