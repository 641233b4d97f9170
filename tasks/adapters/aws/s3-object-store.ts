import { createReadStream, mkdirSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, paginateListObjectsV2, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { InvalidInputError, NotFoundError, TransientStorageError } from '../../ports/errors';
import { checkObjectKey, type ObjectInfo, type ObjectStore } from '../../ports/object-store';
import { httpStatusOf, isTransientSdkError, sdkErrorSummary, type SdkError } from '../../shared/sdk-errors';

export interface S3ObjectStoreProps {
  /** The S3 client, built by the caller (region, credentials, endpoint, retries). */
  readonly client: S3Client;
  /** The lake bucket; its keys are the local lake's relative paths. */
  readonly bucket: string;
  /**
   * Where task files wait before `putFile`.
   * @default `lakehouse-scratch` under `os.tmpdir()` (a directory of its own: vacuum deletes stale entries in it)
   */
  readonly scratchDir?: string;
  /**
   * Bodies larger than this go up as a multipart upload, in parts of this size (at least 5 MiB, S3's minimum part).
   * @default 16 MiB
   */
  readonly multipartThresholdBytes?: number;
  /**
   * Keys per ListObjectsV2 page.
   * @default 1000 (S3's maximum)
   */
  readonly pageSize?: number;
  /**
   * The statements DuckDB runs before it reads `s3://` locations (httpfs, credentials): the caller
   * knows where the function's credentials come from.
   * @default none
   */
  readonly duckdbSetup?: () => readonly string[];
}

const DEFAULT_MULTIPART_THRESHOLD = 16 * 1024 * 1024;
/** S3's smallest part but the last (Upload's own constant is private in its types). */
const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Retries of a conditional put that S3 answers 409: another conditional write of the key is in flight. */
const CONFLICT_RETRIES = 3;
const CONFLICT_BACKOFF_MS = 25;

/**
 * The object store on AWS: one S3 bucket, the same keys as the local lake. S3 makes every PutObject
 * and CompleteMultipartUpload visible whole, so `put` needs no temporary object; `putIfAbsent` is a
 * conditional PutObject (`If-None-Match: *`).
 */
export class S3ObjectStore implements ObjectStore {
  readonly scratchDir: string;
  private readonly bucket: string;
  private readonly threshold: number;

  constructor(private readonly props: S3ObjectStoreProps) {
    if (props.bucket === '') throw new InvalidInputError('S3ObjectStore needs a bucket name, got ""');
    this.bucket = props.bucket;
    this.threshold = props.multipartThresholdBytes ?? DEFAULT_MULTIPART_THRESHOLD;
    this.scratchDir = props.scratchDir ?? path.join(os.tmpdir(), 'lakehouse-scratch');
    // Tasks write into it directly (DuckDB `COPY ... TO`); on the local store it exists once anything was written.
    mkdirSync(this.scratchDir, { recursive: true });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    try {
      const pages = paginateListObjectsV2({ client: this.props.client, pageSize: this.props.pageSize }, { Bucket: this.bucket, Prefix: prefix });
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          yield { key: object.Key!, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) };
        }
      }
    } catch (error) {
      throw translate(error, 'ListObjectsV2', prefix);
    }
  }

  async get(key: string): Promise<Buffer> {
    checkObjectKey(key);
    try {
      const response = await this.props.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = await response.Body!.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      if (isMissing(error)) throw new NotFoundError(`no object "${key}" in s3://${this.bucket}`, { cause: error });
      throw translate(error, 'GetObject', key);
    }
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    checkObjectKey(key);
    try {
      if (Buffer.byteLength(body) <= this.threshold) {
        await this.props.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
      } else {
        await this.upload(key, body);
      }
    } catch (error) {
      throw translate(error, 'PutObject', key);
    }
  }

  async putIfAbsent(key: string, body: Buffer | string): Promise<boolean> {
    checkObjectKey(key);
    // Always a single PutObject: what is created exclusively (commits, records, segments) is small.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.props.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, IfNoneMatch: '*' }));
        return true;
      } catch (error) {
        const status = httpStatusOf(error);
        if (status === 412) return false;
        if (status !== 409) throw translate(error, 'PutObject If-None-Match', key);
        if (attempt === CONFLICT_RETRIES) {
          throw new TransientStorageError(`S3 PutObject If-None-Match "${key}": another conditional write of the key was still in flight after ${CONFLICT_RETRIES + 1} attempts`, { cause: error });
        }
        await sleep(CONFLICT_BACKOFF_MS * 2 ** attempt * (1 + Math.random()));
      }
    }
  }

  async putFile(key: string, localPath: string): Promise<void> {
    checkObjectKey(key);
    try {
      const { size } = await fs.stat(localPath);
      if (size <= this.threshold) {
        // A Buffer rather than a stream: the SDK can resend a Buffer when it retries, not a consumed stream.
        await this.props.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: await fs.readFile(localPath) }));
      } else {
        // Upload buffers each part, so parts are retried whole while the file streams through.
        await this.upload(key, createReadStream(localPath));
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`cannot put "${key}": no local file "${localPath}"`, { cause: error });
      }
      throw translate(error, 'PutObject', key);
    }
    // Only once S3 has the object, as the local store's rename consumes the file.
    await fs.rm(localPath, { force: true });
  }

  async delete(key: string): Promise<void> {
    checkObjectKey(key);
    try {
      await this.props.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      throw translate(error, 'DeleteObject', key);
    }
  }

  async exists(key: string): Promise<boolean> {
    checkObjectKey(key);
    try {
      await this.props.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw translate(error, 'HeadObject', key);
    }
  }

  locate(key: string): string {
    checkObjectKey(key);
    return `s3://${this.bucket}/${key}`;
  }

  duckdbSetup(): readonly string[] {
    return this.props.duckdbSetup?.() ?? [];
  }

  private async upload(key: string, body: Buffer | string | Readable): Promise<void> {
    // Multipart: S3 shows nothing until CompleteMultipartUpload, and Upload aborts the upload when a part fails.
    await new Upload({
      client: this.props.client,
      params: { Bucket: this.bucket, Key: key, Body: body },
      partSize: Math.max(this.threshold, MIN_PART_SIZE),
    }).done();
  }
}

function isMissing(error: unknown): boolean {
  const { name } = error as SdkError;
  // HeadObject has no body, so its 404 arrives as `NotFound`; a missing bucket is a configuration error, not a missing key.
  return name === 'NoSuchKey' || name === 'NotFound' || (httpStatusOf(error) === 404 && name !== 'NoSuchBucket');
}

/** Throttling, 5xx and network failures become TransientStorageError (ASL retries on that name); others keep their cause. */
function translate(error: unknown, operation: string, key: string): Error {
  if (error instanceof InvalidInputError) return error;
  const detail = sdkErrorSummary(error);
  if (isTransientSdkError(error)) return new TransientStorageError(`S3 ${operation} "${key}" failed and may pass on retry: ${detail}`, { cause: error });
  return new Error(`S3 ${operation} "${key}" failed: ${detail}`, { cause: error });
}
