/**
 * How the code that calls AWS APIs (the AWS adapters, and the table calls, on AWS or against the local
 * DynamoDB-API server) reads an AWS SDK error: whether it may pass on retry (it then becomes a
 * TransientStorageError, which the workflows retry with backoff) and how it reads in one line.
 */

/** The fields of an AWS SDK v3 service or network error that the adapters look at. */
export interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

// The SDK decides its own retries with @smithy/service-error-classification, which is not a direct
// dependency; these are the names and codes from its lists that S3, DynamoDB, Glue and Node's HTTP
// stack produce.
const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'InternalError',
  'InternalServerError',
  'ServiceUnavailable',
  // Glue's: a concurrent update of the same table, or a service still settling.
  'ConcurrentModificationException',
  'InternalServiceException',
  'OperationTimeoutException',
  'ResourceNotReadyException',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** The error's name (`ThrottlingException`, `AccessDeniedException`, ...), or '' when it has none. */
export function sdkErrorName(error: unknown): string {
  return (error as SdkError | undefined)?.name ?? '';
}

export function httpStatusOf(error: unknown): number | undefined {
  return (error as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** Throttling, 5xx, timeouts and network failures: what may pass on retry. Access, validation and other 4xx errors never do. */
export function isTransientSdkError(error: unknown): boolean {
  const e = (error ?? {}) as SdkError;
  const status = httpStatusOf(error) ?? 0;
  return Boolean(e.$retryable) || e.$fault === 'server' || status >= 500 || status === 429 || TRANSIENT_NAMES.has(e.name ?? '') || NETWORK_CODES.has(e.code ?? '');
}

/** `Name (HTTP status): first line of the message`. */
export function sdkErrorSummary(error: unknown): string {
  const e = (error ?? {}) as SdkError;
  const status = httpStatusOf(error);
  return `${e.name ?? 'Error'}${status === undefined ? '' : ` (HTTP ${status})`}: ${(e.message ?? String(error)).split('\n')[0]}`;
}
