import * as http from 'node:http';
import { InvokeEndpointCommand, ModelError, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import fc from 'fast-check';
import { CSV_INSTANCE_FIELDS, invocationResponseSchema, type PriceInstance } from '../../models/contract';
import { predictPrice } from '../../models/demand/predict';
import { DEFAULT_MAX_BODY_BYTES, startModelServer, type RunningModelServer } from '../../models/server';
import { instance, MODEL } from './model-fixture';

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A plain HTTP request with exactly the given headers; a body given as chunks is sent chunked, without Content-Length. */
function send(url: string, method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: Buffer | string | (Buffer | string)[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}${path}`, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    for (const chunk of Array.isArray(body) ? body : body === undefined ? [] : [body]) request.write(chunk);
    request.end();
  });
}

function post(url: string, contentType: string | undefined, body: Buffer | string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  const typed = contentType === undefined ? headers : { 'Content-Type': contentType, ...headers };
  return send(url, 'POST', '/invocations', { 'Content-Length': Buffer.byteLength(body), ...typed }, body);
}

function csvLine(values: PriceInstance): string {
  return CSV_INSTANCE_FIELDS.map((field) => String(values[field])).join(',');
}

const INSTANCES = [instance(), instance({ product_id: 102, category: 'basketball', base_price: 120, current_price: 110, cost: 70 }), instance({ product_id: 103, category: 'socks', views_24h: 0 })];
const EXPECTED = INSTANCES.map((each) => predictPrice(MODEL, each));

describe('model server', () => {
  let server: RunningModelServer;

  beforeAll(async () => {
    server = await startModelServer({ model: MODEL, maxBodyBytes: 64 * 1024 });
  });

  afterAll(() => server.close());

  async function expectAlive(): Promise<void> {
    const ping = await send(server.url, 'GET', '/ping');
    expect(ping.status).toBe(200);
  }

  it('listens on loopback at an ephemeral port', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers GET /ping with 200 and the model version', async () => {
    const ping = await send(server.url, 'GET', '/ping');
    expect(ping.status).toBe(200);
    expect(JSON.parse(ping.body)).toEqual({ status: 'ok', model_version: MODEL.version });
  });

  it('answers a JSON request with one prediction per instance, in order, as the contract says', async () => {
    const reply = await post(server.url, 'application/json', JSON.stringify({ instances: INSTANCES }));
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(invocationResponseSchema.parse(JSON.parse(reply.body))).toEqual({ predictions: EXPECTED });
  });

  it('answers a CSV request with one CSV line per prediction', async () => {
    const body = `${INSTANCES.map(csvLine).join('\r\n')}\r\n`;
    const reply = await post(server.url, 'text/csv', body);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = EXPECTED.map((p) => `${p.product_id},${p.recommended_price},${p.expected_units_per_day},${p.model_version}\n`);
    expect(reply.body).toBe(lines.join(''));
    // quoted fields, and no final line break
    const quoted = await post(server.url, 'text/csv', csvLine(instance({ category: 'apparel' })).replace('apparel', '"apparel"'));
    expect(quoted.body).toBe(lines[0]);
  });

  it('answers in the type Accept asks for, and refuses one it cannot give', async () => {
    const asCsv = await post(server.url, 'application/json; charset=utf-8', JSON.stringify({ instances: INSTANCES.slice(0, 1) }), { Accept: 'text/csv' });
    expect(asCsv.status).toBe(200);
    expect(asCsv.body).toBe(`${EXPECTED[0]?.product_id},${EXPECTED[0]?.recommended_price},${EXPECTED[0]?.expected_units_per_day},${MODEL.version}\n`);
    const asXml = await post(server.url, 'application/json', JSON.stringify({ instances: INSTANCES }), { Accept: 'application/xml' });
    expect(asXml.status).toBe(406);
    expect(asXml.body).toMatch(/^cannot answer in "application\/xml"; expected application\/json or text\/csv\n$/);
  });

  describe('refuses a bad request with a 4xx and a one-line message, and keeps serving', () => {
    const cases: [string, () => Promise<Reply>, number, RegExp][] = [
      ['malformed JSON', () => post(server.url, 'application/json', '{"instances": [{'), 400, /^malformed JSON: /],
      ['a JSON value of the wrong type', () => post(server.url, 'application/json', JSON.stringify({ instances: [{ ...instance(), current_price: '50' }] })), 400, /^invalid request: instances\.0\.current_price: /],
      ['a missing field', () => post(server.url, 'application/json', JSON.stringify({ instances: [{ ...instance(), cost: undefined }] })), 400, /^invalid request: instances\.0\.cost: /],
      ['no instances', () => post(server.url, 'application/json', '{"instances": []}'), 400, /^invalid request: instances: /],
      ['JSON that is not an object', () => post(server.url, 'application/json', '[1, 2]'), 400, /^invalid request: /],
      ['an empty body', () => post(server.url, 'application/json', ''), 400, /^malformed JSON: /],
      ['a body that is not UTF-8', () => post(server.url, 'application/json', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 400, /^body is not valid UTF-8$/],
      ['a content type it does not take', () => post(server.url, 'application/x-protobuf', 'x'), 415, /^unsupported Content-Type "application\/x-protobuf"; expected application\/json or text\/csv$/],
      ['no content type', () => post(server.url, undefined, '{}'), 415, /^no Content-Type; /],
      ['a charset other than UTF-8', () => post(server.url, 'text/csv; charset=latin1', 'x'), 415, /^unsupported charset "latin1"/],
      ['a CSV line with too few fields', () => post(server.url, 'text/csv', '1,apparel,50'), 400, /^invalid CSV: line 1 has 3 fields; expected 10: product_id,category,/],
      ['a CSV field that is not a number', () => post(server.url, 'text/csv', csvLine(instance()).replace(',400,', ',lots,')), 400, /^invalid CSV: line 1, views_24h: expected a number, got "lots"$/],
      ['a CSV value the contract refuses', () => post(server.url, 'text/csv', `${csvLine(instance())}\n${csvLine(instance({ base_price: -1 }))}`), 400, /^invalid CSV: line 2: base_price: /],
      ['a CSV quote left open', () => post(server.url, 'text/csv', '1,"apparel,50'), 400, /^invalid CSV: line 1: a quoted field is not closed$/],
      ['an empty CSV line', () => post(server.url, 'text/csv', `${csvLine(instance())}\n\n${csvLine(instance())}\n`), 400, /^invalid CSV: line 2 is empty$/],
      ['an empty CSV body', () => post(server.url, 'text/csv', ''), 400, /^invalid CSV: no instances/],
      ['a body over the limit', () => post(server.url, 'application/json', Buffer.alloc(64 * 1024 + 1, 0x20)), 413, /^body larger than 65536 bytes$/],
      ['a chunked body that grows over the limit', () => send(server.url, 'POST', '/invocations', { 'Content-Type': 'text/csv' }, Array.from({ length: 20 }, () => Buffer.alloc(8 * 1024, 0x31))), 413, /^body larger than 65536 bytes$/],
      ['GET /invocations', () => send(server.url, 'GET', '/invocations'), 405, /^GET is not allowed here; expected POST$/],
      ['POST /ping', () => send(server.url, 'POST', '/ping', { 'Content-Length': 2 }, '{}'), 405, /^POST is not allowed here; expected GET$/],
      ['an unknown path', () => send(server.url, 'GET', '/models'), 404, /^no route for \/models; expected GET \/ping or POST \/invocations$/],
    ];
    it.each(cases)('%s', async (_name, request, status, message) => {
      const reply = await request();
      expect(reply.status).toBe(status);
      expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(reply.body).toMatch(/^[^\n]+\n$/);
      expect(reply.body.trimEnd()).toMatch(message);
      await expectAlive();
    });
  });

  describe('with the default body limit', () => {
    let defaults: RunningModelServer;

    beforeAll(async () => {
      defaults = await startModelServer({ model: MODEL });
    });

    afterAll(() => defaults.close());

    it("takes bodies up to SageMaker's 6 MB payload limit, and not a byte more", async () => {
      expect(DEFAULT_MAX_BODY_BYTES).toBe(6 * 1024 * 1024);
      // JSON may end in whitespace: a valid request of exactly the limit.
      const atLimit = JSON.stringify({ instances: INSTANCES }).padEnd(DEFAULT_MAX_BODY_BYTES, ' ');
      const reply = await post(defaults.url, 'application/json', atLimit);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toEqual({ predictions: EXPECTED });
      expect((await post(defaults.url, 'application/json', `${atLimit} `)).status).toBe(413);
    });

    it('refuses a body of a million bad instances at the first, without holding a million errors', async () => {
      const many = `{"instances":[${Array(1_000_000).fill('{}').join(',')}]}`;
      const reply = await post(defaults.url, 'application/json', many);
      expect(reply.status).toBe(400);
      expect(reply.body).toMatch(/^invalid request: instances\.0\.product_id: .* \(and 7 more\); expected /);
      const lines = await post(defaults.url, 'text/csv', '1\n'.repeat(1_000_000));
      expect(lines.status).toBe(400);
      expect(lines.body).toMatch(/^invalid CSV: line 1 has 1 fields/);
      expect((await send(defaults.url, 'GET', '/ping')).status).toBe(200);
    });
  });

  it('never fails on any bytes posted as any content type: 200 or a 4xx with a message, and it keeps answering', async () => {
    const contentType = fc.oneof(fc.constantFrom('application/json', 'text/csv', 'text/csv; charset=utf-8'), fc.string({ maxLength: 40 }));
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 2_000 }).map((bytes) => Buffer.from(bytes)),
      fc.json().map((text) => Buffer.from(text)),
      fc.array(fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.double().map(String)), { maxLength: 12 }), { maxLength: 4 }).map((rows) => Buffer.from(rows.map((row) => row.join(',')).join('\n'))),
    );
    await fc.assert(
      fc.asyncProperty(contentType, body, async (type, bytes) => {
        // Header values must be valid HTTP; the property is about bodies and media types, not the HTTP parser.
        const header = type.replace(/[^\x20-\x7e]/g, '');
        const reply = await post(server.url, header, bytes);
        expect(reply.status === 200 || (reply.status >= 400 && reply.status < 500)).toBe(true);
        if (reply.status !== 200) expect(reply.body).toMatch(/^[^\n]+\n$/);
      }),
      { numRuns: 300 },
    );
    await expectAlive();
  });
});

describe('model server through the SageMaker runtime client', () => {
  let server: RunningModelServer;
  let client: SageMakerRuntimeClient;

  beforeAll(async () => {
    server = await startModelServer({ model: MODEL });
    client = new SageMakerRuntimeClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  });

  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  const invoke = (ContentType: string, body: string, Accept?: string) =>
    client.send(new InvokeEndpointCommand({ EndpointName: 'price-model', ContentType, Accept, Body: Buffer.from(body) }));

  it('answers InvokeEndpoint with JSON', async () => {
    const output = await invoke('application/json', JSON.stringify({ instances: INSTANCES }));
    expect(output.ContentType).toBe('application/json; charset=utf-8');
    expect(output.InvokedProductionVariant).toBe('AllTraffic');
    expect(invocationResponseSchema.parse(JSON.parse(Buffer.from(output.Body).toString('utf8')))).toEqual({ predictions: EXPECTED });
  });

  it('answers InvokeEndpoint with CSV', async () => {
    const output = await invoke('text/csv', INSTANCES.map(csvLine).join('\n'), 'text/csv');
    const lines = Buffer.from(output.Body).toString('utf8').trimEnd().split('\n');
    expect(lines.map((line) => Number(line.split(',')[1]))).toEqual(EXPECTED.map((p) => p.recommended_price));
  });

  it('turns a refused request into the ModelError SageMaker raises, with the container\'s status and message', async () => {
    const error = await invoke('application/json', '{"instances": [').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ name: 'ModelError', OriginalStatusCode: 400, $metadata: { httpStatusCode: 424 } });
    expect((error as ModelError).OriginalMessage).toMatch(/^malformed JSON: /);
    expect((error as ModelError).message).toMatch(/^Received client error \(400\) from primary with message "malformed JSON: /);
    const unsupported = await invoke('application/x-npy', 'x').catch((caught: unknown) => caught);
    expect(unsupported).toMatchObject({ name: 'ModelError', OriginalStatusCode: 415 });
  });
});
