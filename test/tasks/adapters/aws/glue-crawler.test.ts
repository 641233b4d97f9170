import { GlueClient, StartCrawlerCommand } from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';
import { startRawCrawler } from '../../../../tasks/adapters/aws/glue-crawler';

describe('starting the raw crawler', () => {
  const glue = mockClient(GlueClient);
  beforeEach(() => glue.reset());

  it('starts the named crawler', async () => {
    glue.on(StartCrawlerCommand).resolves({});
    await expect(startRawCrawler(new GlueClient({ region: 'eu-west-1' }), 'lake-raw')).resolves.toBe('started');
    expect(glue.commandCalls(StartCrawlerCommand).map((call) => call.args[0].input)).toEqual([{ Name: 'lake-raw' }]);
  });

  it('takes a crawler already running as started, since it will see the new folder', async () => {
    glue.on(StartCrawlerCommand).rejects(Object.assign(new Error('Crawler with name lake-raw has already started'), { name: 'CrawlerRunningException' }));
    await expect(startRawCrawler(new GlueClient({ region: 'eu-west-1' }), 'lake-raw')).resolves.toBe('already-running');
  });

  it('passes any other failure on', async () => {
    glue.on(StartCrawlerCommand).rejects(Object.assign(new Error('Crawler entry with name lake-raw does not exist'), { name: 'EntityNotFoundException' }));
    await expect(startRawCrawler(new GlueClient({ region: 'eu-west-1' }), 'lake-raw')).rejects.toThrow('does not exist');
  });
});
