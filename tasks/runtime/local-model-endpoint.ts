import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { readCurrentModel } from '../../models/demand/artifact';
import { startModelServer } from '../../models/server';
import type { PriceModelEndpoint } from '../pricing/price-model';
import { NotFoundError } from '../ports/errors';
import type { ObjectStore } from '../ports/object-store';

/** A model endpoint the local runtime started, to be closed when delivery is done. */
export interface LocalModelEndpoint extends PriceModelEndpoint {
  close(): Promise<void>;
}

/** How the local runtime gets the price model's endpoint: undefined when there is no model to serve. */
export type StartModelEndpoint = () => Promise<LocalModelEndpoint | undefined>;

export const LOCAL_ENDPOINT_NAME = 'lakehouse-price-model';

/**
 * A SageMaker runtime client for a model container served at `url` (loopback): the consumer's
 * InvokeEndpoint code unchanged, another endpoint. One attempt per call: the stream retries.
 */
export function localModelClient(url: string): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
}

/** Serves the model `lakehouse train-model` published in the lake, on loopback; undefined when none was trained. */
export async function startTrainedModelEndpoint(store: ObjectStore): Promise<LocalModelEndpoint | undefined> {
  let model;
  try {
    model = await readCurrentModel(store);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const server = await startModelServer({ model });
  const client = localModelClient(server.url);
  return {
    client,
    endpointName: LOCAL_ENDPOINT_NAME,
    close: async () => {
      client.destroy();
      await server.close();
    },
  };
}
