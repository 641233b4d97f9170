import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startConsole, type RunningConsole } from '../../console/server';

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

let lake: string;
let running: RunningConsole;

beforeAll(async () => {
  // An empty lake: the checks come before anything is read.
  lake = await mkdtemp(path.join(os.tmpdir(), 'lakehouse-console-security-'));
  running = await startConsole({ lake });
}, 60_000);

afterAll(async () => {
  await running?.close();
  await rm(lake, { recursive: true, force: true });
});

/** A raw HTTP request, so that Host and Origin can be anything a browser or another program might send. */
function send(method: string, pathname: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port: running.port, method, path: pathname, headers: { host: `127.0.0.1:${running.port}`, ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: response.headers }));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function withToken(headers: Record<string, string> = {}): Record<string, string> {
  return { 'x-console-token': running.token, ...headers };
}

/** A refusal: 403 with one line of JSON saying why. */
function expectRefused(reply: Reply, why: RegExp): void {
  expect(reply.status).toBe(403);
  expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(reply.body).toMatch(/^[^\n]+\n$/);
  expect(JSON.parse(reply.body)).toEqual({ error: expect.stringMatching(why) });
}

describe('lakehouse console security', () => {
  it('prints a loopback URL with a 32-byte hex token that changes at every start', async () => {
    expect(running.url).toBe(`http://127.0.0.1:${running.port}/?token=${running.token}`);
    expect(running.token).toMatch(/^[0-9a-f]{64}$/);
    const other = await startConsole({ lake });
    try {
      expect(other.token).not.toBe(running.token);
    } finally {
      await other.close();
    }
  });

  it('serves the page and the API to its own origin with the token', async () => {
    const page = await send('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect((await send('GET', '/app.js')).status).toBe(200);
    expect((await send('GET', '/api/jobs', withToken({ origin: running.origin }))).status).toBe(200);
    expect((await send('GET', '/api/executions', withToken({ host: `localhost:${running.port}`, origin: `http://localhost:${running.port}` }))).status).toBe(200);
  });

  it('refuses a foreign Host header (DNS rebinding), on the page and the API alike', async () => {
    expectRefused(await send('GET', '/', { host: 'attacker.example' }), /^forbidden: Host "attacker\.example" is not 127\.0\.0\.1:\d+ or localhost:\d+$/);
    expectRefused(await send('GET', '/api/jobs', withToken({ host: `attacker.example:${running.port}` })), /Host/);
    expectRefused(await send('POST', '/api/backfill', withToken({ host: '127.0.0.1:1', 'content-type': 'application/json' }), '{}'), /Host/);
  });

  it('refuses a foreign Origin, also with the right token', async () => {
    const backfill = JSON.stringify({ from: '2021-07-12T00', to: '2021-07-12T01' });
    expectRefused(await send('POST', '/api/backfill', withToken({ origin: 'https://attacker.example', 'content-type': 'application/json' }), backfill), /^forbidden: Origin "https:\/\/attacker\.example" is not this console's/);
    expectRefused(await send('POST', '/api/executions/hourly-x/rerun', withToken({ origin: 'null' })), /Origin "null"/);
    expectRefused(await send('GET', '/api/executions', withToken({ origin: `http://localhost:${running.port}` })), /Origin/);
    expectRefused(await send('GET', '/', { origin: 'http://127.0.0.1:1' }), /Origin/);
    expectRefused(await send('GET', '/api/jobs', withToken({ 'sec-fetch-site': 'cross-site' })), /cross-site request/);
    expect(JSON.parse((await send('GET', '/api/jobs', withToken())).body)).toEqual([]);
  });

  it('refuses an action, or an API read, without the token or with another one', async () => {
    const backfill = JSON.stringify({ from: '2021-07-12T00', to: '2021-07-12T01' });
    expectRefused(await send('POST', '/api/backfill', { 'content-type': 'application/json', origin: running.origin }, backfill), /X-Console-Token|x-console-token/);
    expectRefused(await send('POST', '/api/backfill', { 'content-type': 'application/json', 'x-console-token': 'ab'.repeat(32) }, backfill), /does not hold this console's token/);
    expectRefused(await send('POST', '/api/executions/hourly-x/rerun', {}), /token/);
    expectRefused(await send('GET', '/api/executions'), /token/);
    // Nothing was started.
    expect(JSON.parse((await send('GET', '/api/jobs', withToken())).body)).toEqual([]);
  });

  it('answers bad requests with one line of JSON and the right status', async () => {
    const notFound = await send('GET', '/api/executions/hourly-2021-07-12T05-00000000', withToken());
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body).error).toMatch(/^no execution "hourly-2021-07-12T05-00000000"/);
    expect((await send('POST', '/api/executions/nope/rerun', withToken())).status).toBe(404);
    expect((await send('DELETE', '/api/jobs', withToken())).status).toBe(405);
    expect((await send('GET', '/api/nothing', withToken())).status).toBe(404);
    expect((await send('GET', '/secret.txt')).status).toBe(404);
    const badRange = await send('POST', '/api/backfill', withToken({ 'content-type': 'application/json' }), JSON.stringify({ from: '2021-07-12T05', to: '2021-07-12T05' }));
    expect(badRange.status).toBe(400);
    expect(badRange.body).toBe(`${JSON.stringify({ error: '"to" (2021-07-12T05, exclusive) must be after "from" (2021-07-12T05)' })}\n`);
    expect((await send('POST', '/api/backfill', withToken({ 'content-type': 'text/plain' }), '{}')).status).toBe(400);
    expect((await send('GET', '/api/analytics?from=2021-13-01T00', withToken())).status).toBe(400);
  });
});
