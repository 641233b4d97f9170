import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { invocationResponseSchema, type PriceInstance, type PricePrediction } from '../../models/contract';
import { describeIssues } from '../shared/describe-issues';

/** The price model's endpoint: a SageMaker endpoint on AWS, the same container contract served on loopback locally. */
export interface PriceModelEndpoint {
  /** Built by the caller: for the local server, with `endpoint` set to its URL. */
  readonly client: SageMakerRuntimeClient;
  readonly endpointName: string;
}

/** The endpoint did not answer, answered with an error, or answered something other than the contract's predictions; retrying may help. */
export class ModelEndpointError extends Error {
  override readonly name = 'ModelEndpointError';
}

/**
 * One InvokeEndpoint call (`application/json`, models/contract.ts) for `instances`: the predictions,
 * one per instance in the same order, or ModelEndpointError, also when `timeoutMs` passes first.
 */
export async function predictPrices(endpoint: PriceModelEndpoint, instances: readonly PriceInstance[], timeoutMs: number): Promise<PricePrediction[]> {
  const what = `endpoint ${endpoint.endpointName}`;
  let body: string;
  try {
    const response = await endpoint.client.send(
      new InvokeEndpointCommand({
        EndpointName: endpoint.endpointName,
        ContentType: 'application/json',
        Accept: 'application/json',
        Body: JSON.stringify({ instances }),
      }),
      { abortSignal: AbortSignal.timeout(timeoutMs) },
    );
    body = new TextDecoder().decode(response.Body);
  } catch (error) {
    throw new ModelEndpointError(`${what} failed for ${instances.length} instance(s): ${failureOf(error, timeoutMs)}`, { cause: error });
  }
  let parsed: ReturnType<typeof invocationResponseSchema.safeParse>;
  try {
    parsed = invocationResponseSchema.safeParse(JSON.parse(body));
  } catch (error) {
    throw new ModelEndpointError(`${what} answered with something other than JSON: ${body.slice(0, 200)}`, { cause: error });
  }
  if (!parsed.success) throw new ModelEndpointError(`${what} answered outside the contract: ${describeIssues(parsed.error)}`);
  const predictions = parsed.data.predictions;
  const mismatch = instances.findIndex((instance, index) => predictions[index]?.product_id !== instance.product_id);
  if (predictions.length !== instances.length || mismatch !== -1) {
    throw new ModelEndpointError(`${what} answered ${predictions.length} prediction(s) for ${instances.length} instance(s), not one per instance in order (first mismatch at ${mismatch})`);
  }
  return predictions;
}

/** What went wrong, in one line, with the HTTP status where the endpoint answered one. */
function failureOf(error: unknown, timeoutMs: number): string {
  const failure = error as Error & { $metadata?: { httpStatusCode?: number } };
  if (failure.name === 'TimeoutError' || failure.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const message = failure.message.split('\n')[0] ?? '';
  const status = failure.$metadata?.httpStatusCode;
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}
