import { InvalidInputError } from './errors';

/** What a listing says of one stored object. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/**
 * A flat key space of immutable-by-convention objects: S3 on AWS, a directory locally, same keys.
 * Errors: NotFoundError for a missing key, TransientStorageError for what may pass on retry.
 */
export interface ObjectStore {
  /** Every object whose key starts with `prefix`, in ascending key order (S3's order), across all pages. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** The whole body of `key`. */
  get(key: string): Promise<Buffer>;
  /** Writes `key` so that readers see either the previous body or the whole new one, never a part. */
  put(key: string, body: Buffer | string): Promise<void>;
  /** Creates `key` only if it does not exist yet (S3 `If-None-Match: *`); returns false when it existed. */
  putIfAbsent(key: string, body: Buffer | string): Promise<boolean>;
  /** Moves a finished local file (for example Parquet written by DuckDB into `scratchDir`) to `key`, atomically as `put`. */
  putFile(key: string, localPath: string): Promise<void>;
  /** A local directory for files on their way into the store; on the same filesystem as the store where it has one. */
  readonly scratchDir: string;
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Where a query engine reads `key` from: a local path, or an `s3://` URL. */
  locate(key: string): string;
  /**
   * The statements a DuckDB database runs before it reads what `locate` gives: for S3, the httpfs
   * extension and credentials. Absent where DuckDB reads the locations as they are (local paths).
   */
  duckdbSetup?(): readonly string[];
}

/** The keys every store takes: relative, with no empty, `.` or `..` path segment tricks, so a key that works on one machine also works on AWS. */
export function checkObjectKey(key: string): void {
  if (key === '' || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.')) {
    throw new InvalidInputError(`invalid object key "${key}": expected a relative key such as raw/2021/07/12/05/x.gz`);
  }
}
