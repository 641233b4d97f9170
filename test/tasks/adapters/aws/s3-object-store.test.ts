import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { S3ObjectStore } from '../../../../tasks/adapters/aws/s3-object-store';
import { InvalidInputError, NotFoundError, TransientStorageError } from '../../../../tasks/ports/errors';

const s3 = mockClient(S3Client);
const BUCKET = 'lake-bucket';
const MiB = 1024 * 1024;
const scratchRoot = mkdtempSync(path.join(os.tmpdir(), 's3-store-'));
afterAll(() => rmSync(scratchRoot, { recursive: true, force: true }));

function newStore(props: { multipartThresholdBytes?: number; pageSize?: number } = {}): S3ObjectStore {
  const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  return new S3ObjectStore({ client, bucket: BUCKET, scratchDir: mkdtempSync(path.join(scratchRoot, 'scratch-')), ...props });
}

function serviceError(name: string, status: number, extra: Partial<S3ServiceException> = {}): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} happened`, ...extra });
}

/** GetObject's Body as the adapter uses it; the SDK's stream mixin is not a direct dependency. */
function bodyOf(text: string): GetObjectCommandOutput['Body'] {
  return { transformToByteArray: async () => new Uint8Array(Buffer.from(text)) } as unknown as GetObjectCommandOutput['Body'];
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('S3ObjectStore', () => {
  beforeEach(() => s3.reset());

  it('lists every page in order, passing each continuation token on', async () => {
    const at = new Date('2021-07-12T05:10:00Z');
    const pages = [
      { Contents: [{ Key: 'raw/a', Size: 1, LastModified: at }, { Key: 'raw/b', Size: 2, LastModified: at }], IsTruncated: true, NextContinuationToken: 't1' },
      { Contents: [{ Key: 'raw/c', Size: 3, LastModified: at }, { Key: 'raw/d', Size: 4, LastModified: at }], IsTruncated: true, NextContinuationToken: 't2' },
      { Contents: [{ Key: 'raw/e', Size: 5, LastModified: at }], IsTruncated: false },
    ];
    // The SDK's paginator reuses one input object across pages, so each call's input is copied as sent.
    const sent: object[] = [];
    s3.on(ListObjectsV2Command).callsFake((input: object) => {
      sent.push({ ...input });
      return pages[sent.length - 1];
    });

    const objects = await collect(newStore({ pageSize: 2 }).list('raw/'));

    expect(objects).toEqual(['a', 'b', 'c', 'd', 'e'].map((name, i) => ({ key: `raw/${name}`, size: i + 1, lastModified: at })));
    expect(sent).toEqual([
      { Bucket: BUCKET, Prefix: 'raw/', MaxKeys: 2 },
      { Bucket: BUCKET, Prefix: 'raw/', MaxKeys: 2, ContinuationToken: 't1' },
      { Bucket: BUCKET, Prefix: 'raw/', MaxKeys: 2, ContinuationToken: 't2' },
    ]);
  });

  it('lists nothing for an empty prefix page', async () => {
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0, IsTruncated: false });
    expect(await collect(newStore().list('nothing/'))).toEqual([]);
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(1);
  });

  it('gets the whole body of a key', async () => {
    s3.on(GetObjectCommand).resolves({ Body: bodyOf('{"v":1}') });

    const body = await newStore().get('_catalog/commits/1.json');

    expect(body.toString()).toBe('{"v":1}');
    expect(s3.commandCalls(GetObjectCommand).map((call) => call.args[0].input)).toEqual([{ Bucket: BUCKET, Key: '_catalog/commits/1.json' }]);
  });

  it('turns NoSuchKey into NotFoundError naming the key', async () => {
    const cause = new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    s3.on(GetObjectCommand).rejects(cause);

    const got = newStore().get('raw/none');

    await expect(got).rejects.toBeInstanceOf(NotFoundError);
    await expect(got).rejects.toMatchObject({ message: expect.stringContaining('"raw/none"'), cause });
  });

  it('puts a small body with one PutObject', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });

    await newStore().put('dims/users.jsonl', 'a line\n');

    expect(s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input)).toEqual([{ Bucket: BUCKET, Key: 'dims/users.jsonl', Body: 'a line\n' }]);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('puts a body above the threshold as a multipart upload of threshold-sized parts', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-1' });
    s3.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({ ETag: `"etag-${input.PartNumber}"` }));
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"whole"' });
    const body = Buffer.alloc(5 * MiB + 1000);
    body.fill('a', 0, 5 * MiB).fill('b', 5 * MiB);

    await newStore({ multipartThresholdBytes: 5 * MiB }).put('curated/events/big.parquet', body);

    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(CreateMultipartUploadCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: 'curated/events/big.parquet', ChecksumAlgorithm: 'CRC32' },
    ]);
    const parts = s3.commandCalls(UploadPartCommand).map((call) => call.args[0].input);
    expect(parts.map(({ Bucket, Key, UploadId, PartNumber }) => ({ Bucket, Key, UploadId, PartNumber }))).toEqual([
      { Bucket: BUCKET, Key: 'curated/events/big.parquet', UploadId: 'up-1', PartNumber: 1 },
      { Bucket: BUCKET, Key: 'curated/events/big.parquet', UploadId: 'up-1', PartNumber: 2 },
    ]);
    expect(Buffer.concat(parts.map((part) => part.Body as Buffer)).equals(body)).toBe(true);
    expect((parts[0]!.Body as Buffer).length).toBe(5 * MiB);
    expect(s3.commandCalls(CompleteMultipartUploadCommand).map((call) => call.args[0].input)).toEqual([
      {
        Bucket: BUCKET,
        Key: 'curated/events/big.parquet',
        UploadId: 'up-1',
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"etag-1"' }, { PartNumber: 2, ETag: '"etag-2"' }] },
      },
    ]);
  });

  it('aborts a multipart upload whose part fails, and reports the failure as transient', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-2' });
    s3.on(UploadPartCommand).rejects(serviceError('SlowDown', 503));
    s3.on(AbortMultipartUploadCommand).resolves({});

    const put = newStore({ multipartThresholdBytes: 5 * MiB }).put('curated/events/big.parquet', Buffer.alloc(6 * MiB));

    await expect(put).rejects.toBeInstanceOf(TransientStorageError);
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: 'curated/events/big.parquet', UploadId: 'up-2' },
    ]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
  });

  it('creates with putIfAbsent through If-None-Match: *', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });

    expect(await newStore().putIfAbsent('_catalog/commits/7.json', '{}')).toBe(true);
    expect(s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input)).toEqual([{ Bucket: BUCKET, Key: '_catalog/commits/7.json', Body: '{}', IfNoneMatch: '*' }]);
  });

  it('answers false from putIfAbsent when S3 says 412: the key exists', async () => {
    s3.on(PutObjectCommand).rejects(serviceError('PreconditionFailed', 412));

    expect(await newStore().putIfAbsent('_catalog/commits/7.json', '{}')).toBe(false);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
  });

  it('retries putIfAbsent on 409 while another conditional write is in flight, then sees its outcome', async () => {
    s3.on(PutObjectCommand)
      .rejectsOnce(serviceError('ConditionalRequestConflict', 409))
      .rejectsOnce(serviceError('ConditionalRequestConflict', 409))
      .rejectsOnce(serviceError('PreconditionFailed', 412));

    expect(await newStore().putIfAbsent('_catalog/commits/7.json', '{}')).toBe(false);
    const inputs = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(inputs).toHaveLength(3);
    for (const input of inputs) expect(input).toEqual({ Bucket: BUCKET, Key: '_catalog/commits/7.json', Body: '{}', IfNoneMatch: '*' });
  });

  it('gives up on putIfAbsent after a few 409s with TransientStorageError', async () => {
    const conflict = serviceError('ConditionalRequestConflict', 409);
    s3.on(PutObjectCommand).rejects(conflict);

    const created = newStore().putIfAbsent('_catalog/commits/7.json', '{}');

    await expect(created).rejects.toBeInstanceOf(TransientStorageError);
    await expect(created).rejects.toMatchObject({ message: expect.stringContaining('_catalog/commits/7.json'), cause: conflict });
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(4);
  });

  it('puts a small local file with one PutObject of its bytes and removes the file', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
    const store = newStore();
    const local = path.join(store.scratchDir, 'part.parquet');
    writeFileSync(local, 'parquet bytes');

    await store.putFile('curated/events/dt=2021-07-12/hr=05/part.parquet', local);

    expect(s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: 'curated/events/dt=2021-07-12/hr=05/part.parquet', Body: Buffer.from('parquet bytes') },
    ]);
    expect(existsSync(local)).toBe(false);
  });

  it('streams a local file above the threshold as a multipart upload and removes the file', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-3' });
    s3.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({ ETag: `"etag-${input.PartNumber}"` }));
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const store = newStore({ multipartThresholdBytes: 5 * MiB });
    const local = path.join(store.scratchDir, 'big.parquet');
    writeFileSync(local, Buffer.alloc(11 * MiB, 'x'));

    await store.putFile('curated/events/big.parquet', local);

    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(UploadPartCommand).map((call) => (call.args[0].input.Body as Buffer).length)).toEqual([5 * MiB, 5 * MiB, 1 * MiB]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input.MultipartUpload!.Parts!.map((part) => part.PartNumber)).toEqual([1, 2, 3]);
    expect(existsSync(local)).toBe(false);
  });

  it('keeps the local file when the put fails, and names the key when the file is missing', async () => {
    s3.on(PutObjectCommand).rejects(serviceError('InternalError', 500));
    const store = newStore();
    const local = path.join(store.scratchDir, 'part.parquet');
    writeFileSync(local, 'parquet bytes');

    await expect(store.putFile('x/y', local)).rejects.toBeInstanceOf(TransientStorageError);
    expect(existsSync(local)).toBe(true);
    s3.reset();
    await expect(store.putFile('x/y', path.join(store.scratchDir, 'missing'))).rejects.toThrow(/x\/y/);
    expect(s3.calls()).toHaveLength(0);
  });

  it('says whether a key exists with HeadObject, a 404 meaning no', async () => {
    s3.on(HeadObjectCommand, { Key: 'a/here' }).resolves({ ContentLength: 1 });
    s3.on(HeadObjectCommand, { Key: 'a/gone' }).rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
    const store = newStore();

    expect(await store.exists('a/here')).toBe(true);
    expect(await store.exists('a/gone')).toBe(false);
    expect(s3.commandCalls(HeadObjectCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: 'a/here' },
      { Bucket: BUCKET, Key: 'a/gone' },
    ]);
  });

  it('does not read a refused HeadObject as absence', async () => {
    s3.on(HeadObjectCommand).rejects(serviceError('Forbidden', 403));

    const exists = newStore().exists('a/secret');

    await expect(exists).rejects.toThrow('S3 HeadObject "a/secret" failed: Forbidden (HTTP 403)');
    await expect(exists).rejects.not.toBeInstanceOf(TransientStorageError);
  });

  it('runs the DuckDB setup its caller gives, and none without one', () => {
    const client = new S3Client({ region: 'us-east-1' });
    const setup = ['LOAD httpfs', "CREATE SECRET lake (TYPE s3, PROVIDER credential_chain)"];
    expect(new S3ObjectStore({ client, bucket: BUCKET, scratchDir: scratchRoot, duckdbSetup: () => setup }).duckdbSetup()).toEqual(setup);
    expect(new S3ObjectStore({ client, bucket: BUCKET, scratchDir: scratchRoot }).duckdbSetup()).toEqual([]);
  });

  it('deletes with DeleteObject', async () => {
    s3.on(DeleteObjectCommand).resolves({});

    await newStore().delete('a/b');

    expect(s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input)).toEqual([{ Bucket: BUCKET, Key: 'a/b' }]);
  });

  it('locates a key as an s3:// URL and refuses keys the local lake refuses, without calling S3', async () => {
    const store = newStore();
    expect(store.locate('curated/events/dt=2021-07-12/hr=05/v=3/a.parquet')).toBe(`s3://${BUCKET}/curated/events/dt=2021-07-12/hr=05/v=3/a.parquet`);
    expect(() => store.locate('/etc/passwd')).toThrow(InvalidInputError);
    await expect(store.put('../outside', 'x')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(store.get('')).rejects.toBeInstanceOf(InvalidInputError);
    expect(s3.calls()).toHaveLength(0);
  });

  it.each([
    ['SlowDown (503)', serviceError('SlowDown', 503)],
    ['ThrottlingException', serviceError('ThrottlingException', 400, { $retryable: { throttling: true } })],
    ['RequestTimeout (400)', serviceError('RequestTimeout', 400)],
    ['InternalError (500)', serviceError('InternalError', 500)],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ])('maps %s to TransientStorageError naming the operation and key', async (_, cause) => {
    s3.on(GetObjectCommand).rejects(cause);

    const got = newStore().get('raw/2021/07/12/05/a.gz');

    await expect(got).rejects.toBeInstanceOf(TransientStorageError);
    await expect(got).rejects.toMatchObject({ message: expect.stringMatching(/^S3 GetObject "raw\/2021\/07\/12\/05\/a\.gz" failed and may pass on retry: [^\n]+$/), cause });
  });

  it('leaves other errors non-transient, with the key in the message and the cause kept', async () => {
    const cause = serviceError('AccessDenied', 403);
    s3.on(ListObjectsV2Command).rejects(cause);

    const listed = collect(newStore().list('raw/'));

    await expect(listed).rejects.toMatchObject({ name: 'Error', message: 'S3 ListObjectsV2 "raw/" failed: AccessDenied (HTTP 403): AccessDenied happened', cause });
  });
});
