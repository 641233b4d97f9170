/**
 * A stand-in for the price model's endpoint in tests: an HTTP server on loopback that follows the
 * SageMaker container contract (`POST /invocations`, and the runtime API's
 * `POST /endpoints/<name>/invocations`, as models/server.ts serves both) with models/contract.ts
 * bodies, and answers as the test tells it: predictions, an error status, or no answer at all.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { invocationRequestSchema, type InvocationRequest, type PricePrediction } from '../../models/contract';
import { LOCAL_ENDPOINT_NAME, localModelClient, type LocalModelEndpoint } from '../../tasks/runtime/local-model-endpoint';

export type FixtureReply = { readonly predictions: PricePrediction[] } | { readonly status: number; readonly body: string } | 'hang';
export type FixtureAnswer = (request: InvocationRequest) => FixtureReply | Promise<FixtureReply>;

export interface ModelEndpointFixture {
  readonly url: string;
  /** A SageMaker runtime client pointed at the fixture, as the local runtime builds one. */
  readonly endpoint: LocalModelEndpoint;
  /** Every request body received, in order. */
  readonly requests: InvocationRequest[];
  /** How the next requests are answered; may be replaced at any time. */
  answer: FixtureAnswer;
  close(): Promise<void>;
}

export const MODEL_VERSION = 'fixture-1';

/** Recommends `factor` times each instance's current price. */
export function recommend(factor: number): FixtureAnswer {
  return ({ instances }) => ({
    predictions: instances.map((instance) => ({
      product_id: instance.product_id,
      recommended_price: Math.round(instance.current_price * factor * 100) / 100,
      expected_units_per_day: 3,
      model_version: MODEL_VERSION,
    })),
  });
}

export async function startModelEndpointFixture(answer: FixtureAnswer = recommend(1.05)): Promise<ModelEndpointFixture> {
  const sockets = new Set<Socket>();
  const requests: InvocationRequest[] = [];
  const fixture = { answer } as { answer: FixtureAnswer };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = (request.url ?? '').split('?')[0] ?? '';
      if (request.method !== 'POST' || !(path === '/invocations' || /^\/endpoints\/[^/]+\/invocations$/.test(path))) {
        response.writeHead(404).end('not found');
        return;
      }
      const parsed = invocationRequestSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'));
      if (!parsed.success) {
        response.writeHead(400, { 'content-type': 'text/plain' }).end(parsed.error.message);
        return;
      }
      requests.push(parsed.data);
      Promise.resolve(fixture.answer(parsed.data)).then(
        (reply) => {
          if (reply === 'hang') return;
          if ('predictions' in reply) response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ predictions: reply.predictions }));
          else response.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.body);
        },
        (error: Error) => response.writeHead(500).end(error.message),
      );
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = localModelClient(url);
  const close = async () => {
    client.destroy();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return Object.assign(fixture, {
    url,
    requests,
    endpoint: { client, endpointName: LOCAL_ENDPOINT_NAME, close: async () => undefined },
    close,
  });
}
