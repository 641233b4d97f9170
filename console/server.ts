import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { EVENTS_TABLE, hourOfPartitionKey } from '../tasks/curated/layout';
import type { CatalogSnapshot } from '../tasks/ports/catalog';
import { InvalidInputError, NotFoundError } from '../tasks/ports/errors';
import { openLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../tasks/runtime/local-runtime';
import { addHours, arrivalHourOfKey, formatHour } from '../tasks/shared/hours';
import { readAnalytics } from './analytics';
import type { HourRange, Overview } from './api-types';
import { LakeHealthReader } from './lake-health';
import { checkHourRange, describeExecution, JobRunner, summarize } from './operations';
import { pageAssets, type PageAssets } from './page-bundle';
import { newToken, refusalOf } from './request-guard';

export interface ConsoleOptions {
  /** The lake directory. */
  readonly lake: string;
  /** @default 0: a free port */
  readonly port?: number;
  /** Passed to the runtime of each rerun and backfill (tests: a model endpoint). */
  readonly runtime?: Omit<LocalRuntimeOptions, 'onEvent'>;
}

export interface RunningConsole {
  /** The page's URL with the per-start token, e.g. `http://127.0.0.1:PORT/?token=...`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly port: number;
  readonly token: string;
  /** The reruns and backfills started from the page. */
  readonly jobs: JobRunner;
  /** Stops listening and closes every connection; jobs still running go on until the process ends. */
  close(): Promise<void>;
}

/** The console binds to loopback only: it can start workflows, and its only guard is a token. */
const BIND_ADDRESS = '127.0.0.1';
const MAX_BODY_BYTES = 16 * 1024;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // The page's URL holds the token: never send it anywhere in a Referer.
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

type Handler = (request: IncomingMessage, url: URL, params: readonly string[]) => Promise<{ status?: number; body: unknown }>;

interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly handle: Handler;
}

/**
 * Starts the console's web server on 127.0.0.1 (node:http, no framework): the page (bundled at start),
 * and a JSON API under `/api/` that reads the lake (GET: analytics from the unloaded aggregates and the
 * pricing tables, executions, lake health from the catalog and the rejects) and starts reruns and
 * backfills in this process (POST). Every request is checked by `refusalOf` (Host, Origin, and for
 * the API the per-start token); a refused one gets 403 and a one-line JSON error.
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const lake = path.resolve(options.lake);
  const assets = await pageAssets();
  const runtime = openLocalRuntime(lake);
  const health = new LakeHealthReader(runtime.catalog, runtime.store);
  const jobs = new JobRunner({ lake, ...(options.runtime === undefined ? {} : { runtime: options.runtime }) });
  const token = newToken();
  const routes = apiRoutes(lake, runtime, health, jobs);

  let port = 0;
  const server = createServer((request, response) => {
    void serve(request, response, { port, token, assets, routes });
  });
  port = await listen(server, options.port ?? 0);
  const origin = `http://${BIND_ADDRESS}:${port}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    port,
    token,
    jobs,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function apiRoutes(lake: string, runtime: LocalRuntime, health: LakeHealthReader, jobs: JobRunner): Route[] {
  // The lake's range is the default of a missing `from` or `to`: the catalog is read only then.
  const rangeOf = async (url: URL) =>
    requestedRange(url, url.searchParams.get('from') && url.searchParams.get('to') ? undefined : lakeRange(await runtime.catalog.snapshot()));
  return [
    {
      method: 'GET',
      pattern: /^\/api\/overview$/,
      handle: async () => {
        const [snapshot, arrivals] = await Promise.all([runtime.catalog.snapshot(), arrivalRange(runtime)]);
        const range = lakeRange(snapshot);
        const overview: Overview = {
          lake,
          ...(range === undefined ? {} : { lakeRange: range }),
          ...(arrivals === undefined ? {} : { arrivalRange: arrivals }),
          catalogVersion: snapshot.version,
        };
        return { body: overview };
      },
    },
    { method: 'GET', pattern: /^\/api\/analytics$/, handle: async (_request, url) => ({ body: await readAnalytics(runtime.store, runtime.pricing, await rangeOf(url)) }) },
    {
      method: 'GET',
      pattern: /^\/api\/health$/,
      handle: async (_request, url) => {
        const snapshot = await runtime.catalog.snapshot();
        return { body: await health.read(requestedRange(url, lakeRange(snapshot)), snapshot) };
      },
    },
    { method: 'GET', pattern: /^\/api\/executions$/, handle: async () => ({ body: (await runtime.executions.list()).map(summarize) }) },
    { method: 'GET', pattern: /^\/api\/executions\/([^/]+)$/, handle: async (_request, _url, [id]) => ({ body: await describeExecution(runtime.executions, id!) }) },
    { method: 'GET', pattern: /^\/api\/jobs$/, handle: async () => ({ body: jobs.list() }) },
    {
      method: 'POST',
      pattern: /^\/api\/executions\/([^/]+)\/rerun$/,
      handle: async (_request, _url, [id]) => ({ status: 202, body: await jobs.rerun(runtime.executions, id!) }),
    },
    {
      method: 'POST',
      pattern: /^\/api\/backfill$/,
      handle: async (request) => {
        const body = (await readJsonBody(request)) as { from?: unknown; to?: unknown; concurrency?: unknown };
        return { status: 202, body: jobs.backfill({ from: body.from, to: body.to, concurrency: body.concurrency }) };
      },
    },
  ];
}

interface ServeContext {
  readonly port: number;
  readonly token: string;
  readonly assets: PageAssets;
  readonly routes: readonly Route[];
}

async function serve(request: IncomingMessage, response: ServerResponse, context: ServeContext): Promise<void> {
  try {
    const url = new URL(request.url ?? '/', 'http://console.invalid');
    const api = url.pathname.startsWith('/api/');
    const refusal = refusalOf(request.headers, context, { api });
    if (refusal !== undefined) return sendJson(response, 403, { error: `forbidden: ${refusal}` });
    if (!api) return serveAsset(request, response, url, context.assets);
    const matching = context.routes.filter((route) => route.pattern.test(url.pathname));
    if (matching.length === 0) return sendJson(response, 404, { error: `no such API path: ${url.pathname}` });
    const route = matching.find((candidate) => candidate.method === request.method);
    if (route === undefined) {
      response.setHeader('Allow', matching.map((candidate) => candidate.method).join(', '));
      return sendJson(response, 405, { error: `${request.method} is not allowed on ${url.pathname}` });
    }
    const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map((param) => decodeURIComponent(param));
    const { status = 200, body } = await route.handle(request, url, params);
    sendJson(response, status, body);
  } catch (error) {
    const status = error instanceof NotFoundError ? 404 : error instanceof InvalidInputError || error instanceof URIError ? 400 : 500;
    sendJson(response, status, { error: oneLine((error as Error).message) });
  }
}

function serveAsset(request: IncomingMessage, response: ServerResponse, url: URL, assets: PageAssets): void {
  const asset = {
    '/': [assets.html, 'text/html; charset=utf-8'],
    '/index.html': [assets.html, 'text/html; charset=utf-8'],
    '/app.js': [assets.script, 'text/javascript; charset=utf-8'],
    '/app.css': [assets.styles, 'text/css; charset=utf-8'],
    '/icon.svg': [assets.icon, 'image/svg+xml'],
  }[url.pathname] as [Buffer, string] | undefined;
  if (asset === undefined) return sendJson(response, 404, { error: `not found: ${url.pathname}` });
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    return sendJson(response, 405, { error: `${request.method} is not allowed on ${url.pathname}` });
  }
  response.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset[1], 'Content-Length': asset[0].length });
  response.end(request.method === 'HEAD' ? undefined : asset[0]);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

/** The event hours a snapshot holds, first to one after the last; undefined for a lake without events. */
function lakeRange(snapshot: CatalogSnapshot): HourRange | undefined {
  const partitions = Object.keys(snapshot.tables[EVENTS_TABLE]?.partitions ?? {}).sort();
  if (partitions.length === 0) return undefined;
  return { from: hourOfPartitionKey(partitions[0]!), to: addHours(hourOfPartitionKey(partitions[partitions.length - 1]!), 1) };
}

/** The arrival hours with raw objects, first to one after the last. */
async function arrivalRange(runtime: LocalRuntime): Promise<HourRange | undefined> {
  let first: string | undefined;
  let last: string | undefined;
  for await (const { key } of runtime.store.list('raw/')) {
    const hour = arrivalHourOfKey(key);
    if (hour === undefined) continue;
    if (first === undefined || hour < first) first = hour;
    if (last === undefined || hour > last) last = hour;
  }
  return first === undefined || last === undefined ? undefined : { from: first, to: addHours(last, 1) };
}

/** `?from=&to=` (event hours, `to` exclusive), each defaulting to the lake's range. */
function requestedRange(url: URL, lake: HourRange | undefined): HourRange {
  const fallback = lake ?? { from: formatHour(Date.now()), to: formatHour(Date.now() + 3_600_000) };
  const from = url.searchParams.get('from') || fallback.from;
  const to = url.searchParams.get('to') || fallback.to;
  return checkHourRange(from, to);
}

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new InvalidInputError(`expected a JSON body (Content-Type: application/json), got ${JSON.stringify(type)}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new InvalidInputError(`the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInputError('expected a JSON object');
    return body;
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw new InvalidInputError(`the request body is not JSON: ${(error as Error).message}`);
  }
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new InvalidInputError(`port ${port} on ${BIND_ADDRESS} is in use (--port 0 picks a free one)`, { cause: error }) : error);
    });
    server.listen(port, BIND_ADDRESS, () => resolve((server.address() as AddressInfo).port));
  });
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
