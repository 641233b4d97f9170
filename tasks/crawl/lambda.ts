import { GlueClient } from '@aws-sdk/client-glue';
import { startRawCrawler } from '../adapters/aws/glue-crawler';
import { lambdaEntry } from '../runtime/lambda-entry';
import { createCrawlHandler } from './handler';

/** The crawl step on AWS: the same crawl as locally, then the Glue crawler over raw/ is started for the new folder. */
export const handler = lambdaEntry(({ store, catalog, environment }) => {
  const crawl = createCrawlHandler({ store, catalog: catalog() });
  const name = environment.RAW_CRAWLER_NAME;
  const crawler = name === undefined ? undefined : { glue: new GlueClient({}), name };
  return async (event: unknown) => {
    const result = await crawl(event);
    if (crawler !== undefined) console.log(`Glue crawler ${crawler.name}: ${await startRawCrawler(crawler.glue, crawler.name)}`);
    return result;
  };
});
