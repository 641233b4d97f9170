import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../../../../tasks/adapters/aws/s3-object-store';
import { keysUnder, objectStoreContract } from '../object-store-contract';

/**
 * Runs s3rver in a child Node with the OpenSSL legacy provider: s3rver 3.7 makes ListObjectsV2
 * continuation tokens with DES, which OpenSSL 3 (Node >= 17) refuses otherwise, so every listing
 * longer than a page fails with InternalError in this process.
 */
async function startS3rver(directory: string): Promise<{ port: number; close: () => Promise<void> }> {
  const script = `
    const S3rver = require(${JSON.stringify(require.resolve('s3rver'))});
    const server = new S3rver({ address: '127.0.0.1', port: 0, directory: process.argv[1], silent: true });
    server.run().then(({ port }) => process.send({ port }), (error) => { console.error(error); process.exit(1); });
    process.on('disconnect', () => server.close().then(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script, directory], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it listened`)));
  });
  return {
    port,
    close: async () => {
      child.disconnect();
      await exited;
    },
  };
}

const MiB = 1024 * 1024;

describe('S3ObjectStore against s3rver', () => {
  let server: { port: number; close: () => Promise<void> } | undefined;
  let directory: string;
  let scratchRoot: string;
  let client: S3Client;
  /** The commands the client sent, by name, since the last reset: shows which path a put took. */
  let sent: string[] = [];
  let buckets = 0;

  beforeAll(async () => {
    directory = mkdtempSync(path.join(os.tmpdir(), 's3rver-'));
    scratchRoot = mkdtempSync(path.join(os.tmpdir(), 's3-scratch-'));
    server = await startS3rver(directory);
    const { port } = server;
    client = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommandNames' },
    );
  });

  afterAll(async () => {
    client?.destroy();
    await server?.close();
    rmSync(directory, { recursive: true, force: true });
    rmSync(scratchRoot, { recursive: true, force: true });
  });

  /** A store over a fresh bucket, listing two keys a page so that listings span pages. */
  async function openStore(props: { multipartThresholdBytes?: number } = {}): Promise<S3ObjectStore> {
    const bucket = `lake-${++buckets}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    sent = [];
    return new S3ObjectStore({ client, bucket, scratchDir: mkdtempSync(path.join(scratchRoot, 'scratch-')), pageSize: 2, ...props });
  }

  // s3rver 3.7 ignores If-None-Match on PUT (a second putIfAbsent replaces the body), so only creation
  // is checked here; refusing an existing key is covered against the SDK mock in s3-object-store.test.ts.
  objectStoreContract(() => openStore(), { refusesExistingKeys: false });

  it('lists every page, with sizes, in ascending key order', async () => {
    const store = await openStore();
    const keys = ['raw/2021/07/12/05/c', 'raw/2021/07/12/05/a', 'raw/2021/07/12/06/b', 'raw/2021/07/12/05/b', 'raw/2021/07/12/07/a', 'raw/2021/07/12/04/z', 'raw/2021/07/13/00/a'];
    for (const key of keys) await store.put(key, key.slice(-1).repeat(key.length));
    sent = [];

    const objects: { key: string; size: number }[] = [];
    for await (const { key, size, lastModified } of store.list('raw/2021/07/12/')) {
      expect(lastModified).toBeInstanceOf(Date);
      objects.push({ key, size });
    }

    const expected = keys.filter((key) => key.startsWith('raw/2021/07/12/')).sort();
    expect(objects).toEqual(expected.map((key) => ({ key, size: key.length })));
    expect(sent).toEqual(['ListObjectsV2Command', 'ListObjectsV2Command', 'ListObjectsV2Command']);
  });

  it('puts a body above the threshold in parts and reads it back whole', async () => {
    const store = await openStore({ multipartThresholdBytes: 5 * MiB });
    const body = Buffer.alloc(11 * MiB);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);

    await store.put('curated/events/dt=2021-07-12/hr=05/v=1/big.parquet', body);

    expect(sent).toEqual(['CreateMultipartUploadCommand', 'UploadPartCommand', 'UploadPartCommand', 'UploadPartCommand', 'CompleteMultipartUploadCommand']);
    expect((await store.get('curated/events/dt=2021-07-12/hr=05/v=1/big.parquet')).equals(body)).toBe(true);
  });

  it('moves a local file above the threshold in parts and removes it', async () => {
    const store = await openStore({ multipartThresholdBytes: 5 * MiB });
    const local = path.join(store.scratchDir, 'big.parquet');
    const body = Buffer.alloc(11 * MiB, 'parquet ');
    writeFileSync(local, body);

    await store.putFile('curated/events/dt=2021-07-12/hr=05/v=1/moved.parquet', local);

    expect(sent.filter((name) => name === 'UploadPartCommand')).toHaveLength(3);
    expect(existsSync(local)).toBe(false);
    expect((await store.get('curated/events/dt=2021-07-12/hr=05/v=1/moved.parquet')).equals(body)).toBe(true);
  });

  it('sends putIfAbsent as a conditional PutObject, which s3rver accepts', async () => {
    const store = await openStore();
    const conditional: unknown[] = [];
    const unspy = spyOnPuts(client, conditional);
    try {
      expect(await store.putIfAbsent('_executions/e-1.json', '{"id":"e-1"}')).toBe(true);
    } finally {
      unspy();
    }
    expect(conditional).toEqual(['*']);
    expect(await keysUnder(store, '_executions/')).toEqual(['_executions/e-1.json']);
  });
});

/** Records the IfNoneMatch of every PutObject the client sends. */
function spyOnPuts(client: S3Client, into: unknown[]): () => void {
  const name = 'recordIfNoneMatch';
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === PutObjectCommand.name) into.push((args.input as { IfNoneMatch?: string }).IfNoneMatch);
      return next(args);
    },
    { step: 'initialize', name },
  );
  return () => client.middlewareStack.remove(name);
}
