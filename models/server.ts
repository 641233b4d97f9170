import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DemandModel } from './demand/artifact';
import { predictPrice } from './demand/predict';
import { decodeInstances, encodePredictions, InvocationError, requestMediaType, responseMediaType } from './invocations';

/**
 * The price model's HTTP server, the SageMaker bring-your-own-container contract: `GET /ping` and
 * `POST /invocations`. It also answers `POST /endpoints/<name>/invocations` as the SageMaker runtime
 * API does, so that `@aws-sdk/client-sagemaker-runtime` pointed at it (`endpoint: url`) runs the same
 * consumer code as on AWS. Any request gets an answer; no input makes it throw.
 */

/** SageMaker's limit on an InvokeEndpoint payload. */
export const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;

export interface ModelServerOptions {
  readonly model: DemandModel;
  /** Larger request bodies get 413. @default DEFAULT_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
}

export interface StartModelServerOptions extends ModelServerOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0, an ephemeral port */
  readonly port?: number;
}

export interface RunningModelServer {
  /** For example `http://127.0.0.1:40123`: the SageMaker runtime client's `endpoint`. */
  readonly url: string;
  /** Stops accepting connections, ends idle ones, and resolves when the server has closed. */
  close(): Promise<void>;
}

/** The runtime API path of InvokeEndpoint. */
const RUNTIME_INVOCATIONS = /^\/endpoints\/[^/]+\/invocations$/;

export function createModelServer({ model, maxBodyBytes = DEFAULT_MAX_BODY_BYTES }: ModelServerOptions): http.Server {
  return http.createServer((request, response) => {
    route(request, response, model, maxBodyBytes).catch((error: unknown) => {
      // Unreachable by design (every input error is an InvocationError); answer rather than crash.
      if (!response.headersSent) sendText(response, 500, `internal error: ${(error as Error)?.message ?? String(error)}`);
      else response.destroy();
    });
  });
}

/** Starts a server for `model`, by default on loopback at an ephemeral port, as the local runtime needs it. */
export async function startModelServer({ host = '127.0.0.1', port = 0, ...options }: StartModelServerOptions): Promise<RunningModelServer> {
  const server = createModelServer(options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostPart}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

async function route(request: http.IncomingMessage, response: http.ServerResponse, model: DemandModel, maxBodyBytes: number): Promise<void> {
  const path = (request.url ?? '').split('?')[0];
  if (path === '/ping') {
    if (!allowMethod(request, response, 'GET')) return;
    request.resume();
    send(response, 200, 'application/json', JSON.stringify({ status: 'ok', model_version: model.version }));
    return;
  }
  const runtimeApi = RUNTIME_INVOCATIONS.test(path ?? '');
  if (path !== '/invocations' && !runtimeApi) {
    request.resume();
    sendText(response, 404, `no route for ${path}; expected GET /ping or POST /invocations`);
    return;
  }
  if (!allowMethod(request, response, 'POST')) return;
  const answer = await invoke(request, model, maxBodyBytes);
  // The rest of an oversized body is not worth reading: the connection closes after the answer.
  const headers = answer.status === 413 ? { Connection: 'close' } : {};
  if (runtimeApi) answerAsRuntimeApi(response, answer, headers);
  else if (answer.status === 200) send(response, 200, answer.contentType, answer.body);
  else sendText(response, answer.status, answer.body, headers);
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

async function invoke(request: http.IncomingMessage, model: DemandModel, maxBodyBytes: number): Promise<Answer> {
  try {
    const requestType = requestMediaType(request.headers['content-type']);
    const responseType = responseMediaType(request.headers.accept, requestType);
    const instances = decodeInstances(await readBody(request, maxBodyBytes), requestType);
    const predictions = instances.map((instance) => predictPrice(model, instance));
    return { status: 200, contentType: responseType, body: encodePredictions(predictions, responseType) };
  } catch (error) {
    if (!(error instanceof InvocationError)) throw error;
    // The rest of a refused body is read and dropped, so that the client, still sending, gets the answer.
    request.resume();
    return { status: error.status, contentType: 'text/plain', body: error.message };
  }
}

/** The whole body, or 413 as soon as it is known to exceed the limit (by Content-Length, or while reading). */
function readBody(request: http.IncomingMessage, maxBodyBytes: number): Promise<Buffer> {
  const tooLarge = () => new InvocationError(413, `body larger than ${maxBodyBytes} bytes`);
  const declared = Number(request.headers['content-length']);
  if (declared > maxBodyBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBodyBytes) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      chunks.length = 0;
      reject(tooLarge());
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
    // A client that goes away mid-body leaves nothing to answer, but nothing must wait for it either.
    request.once('close', () => {
      if (!request.complete) reject(new InvocationError(400, 'the request ended before its body did'));
    });
  });
}

/**
 * What SageMaker's runtime makes of the container's answer: a success passes through (with the
 * variant header); any other status becomes a 424 ModelError carrying the container's status and
 * message, which the SDK throws as `ModelError` with `OriginalStatusCode` and `OriginalMessage`.
 */
function answerAsRuntimeApi(response: http.ServerResponse, answer: Answer, headers: http.OutgoingHttpHeaders): void {
  if (answer.status === 200) {
    send(response, 200, answer.contentType, answer.body, { 'x-Amzn-Invoked-Production-Variant': 'AllTraffic' });
    return;
  }
  const kind = answer.status < 500 ? 'client' : 'server';
  const error = {
    Message: `Received ${kind} error (${answer.status}) from primary with message "${answer.body}".`,
    OriginalStatusCode: answer.status,
    OriginalMessage: answer.body,
  };
  send(response, 424, 'application/json', JSON.stringify(error), { 'x-amzn-ErrorType': 'ModelError', ...headers });
}

function allowMethod(request: http.IncomingMessage, response: http.ServerResponse, method: string): boolean {
  if (request.method === method) return true;
  request.resume();
  sendText(response, 405, `${request.method ?? 'this method'} is not allowed here; expected ${method}`, { Allow: method });
  return false;
}

function sendText(response: http.ServerResponse, status: number, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  send(response, status, 'text/plain', `${message}\n`, headers);
}

function send(response: http.ServerResponse, status: number, contentType: string, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { 'Content-Type': `${contentType}; charset=utf-8`, 'Content-Length': Buffer.byteLength(body), ...headers });
  response.end(body);
}
