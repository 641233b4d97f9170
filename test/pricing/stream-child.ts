/**
 * The child process of the local stream's crash test: drains the lake's price_signals stream into
 * the consumer, the model at the URL given, and reports on stdout what it delivers and acknowledges:
 * `deliver <first>-<last>` before each invocation, `handled <last>` when the consumer returned (then
 * it waits a moment before the acknowledgement, a window for a kill), `ack <sequence>`, `done`.
 * Usage: run-ts stream-child.ts <lake> <model url> <batch size>
 */
import * as path from 'node:path';
import { FsDeadLetterQueue } from '../../tasks/adapters/local/fs-dead-letter-queue';
import { sequenceOf } from '../../tasks/adapters/local/stream-log';
import { createPriceSignalsHandler } from '../../tasks/pricing/handler';
import { LocalEventSourceMapping } from '../../tasks/runtime/local-event-source-mapping';
import { LOCAL_ENDPOINT_NAME, localModelClient } from '../../tasks/runtime/local-model-endpoint';
import { DEAD_LETTERS_PREFIX } from '../../tasks/runtime/local-pricing';
import { createLocalPorts } from '../../tasks/runtime/local-ports';

const ACK_DELAY_MS = 400;

async function main(lake: string, modelUrl: string, batchSize: number): Promise<void> {
  const ports = createLocalPorts(lake);
  const deadLetters = new FsDeadLetterQueue(ports.store, DEAD_LETTERS_PREFIX);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const mapping = new LocalEventSourceMapping(ports.priceSignalsStream, deadLetters, { batchSize, retryDelayMs: 10, onAcknowledged: (sequence) => say(`ack ${sequence}`) });
  const model = { client: localModelClient(modelUrl), endpointName: LOCAL_ENDPOINT_NAME };
  await ports.tables.use(async (tables) => {
    const consumer = createPriceSignalsHandler({ tables, model, deadLetters, onRecordFailed: mapping.noteFailure });
    await mapping.drain(async (event) => {
      const sequences = event.Records.map(sequenceOf);
      say(`deliver ${sequences[0]}-${sequences.at(-1)}`);
      const response = await consumer(event);
      say(`handled ${sequences.at(-1)}`);
      await new Promise((resolve) => setTimeout(resolve, ACK_DELAY_MS));
      return response;
    });
  });
  model.client.destroy();
  say('done');
}

const [lake, modelUrl, batchSize] = process.argv.slice(2);
if (lake === undefined || modelUrl === undefined || batchSize === undefined) {
  process.stderr.write(`usage: run-ts ${path.basename(__filename)} <lake> <model url> <batch size>\n`);
  process.exit(2);
}
main(lake, modelUrl, Number(batchSize)).catch((error: unknown) => {
  process.stderr.write(`stream-child: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
