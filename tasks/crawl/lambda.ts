import { GlueClient } from '@aws-sdk/client-glue';
import { startRawCrawler } from '../adapters/aws/glue-crawler';
import { lambdaEntry } from '../runtime/lambda-entry';
import { createCrawlHandler } from './handler';

/** The crawl step on AWS: the same crawl as locally, then the Glue crawler over raw/ is started for the new folder. */
export const handler = lambdaEntry(({ store, catalog, environment }) => {
  const crawl = createCrawlHandler({ store, catalog: catalog() });
  const crawlerName = environment.RAW_CRAWLER_NAME;
  const glue = crawlerName === undefined ? undefined : new GlueClient({});
  return async (event: unknown) => {
    const result = await crawl(event);
    if (glue !== undefined && crawlerName !== undefined) console.log(`Glue crawler ${crawlerName}: ${await startRawCrawler(glue, crawlerName)}`);
    return result;
  };
});
