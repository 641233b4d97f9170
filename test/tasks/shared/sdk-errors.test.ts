import { isTransientSdkError, sdkErrorSummary } from '../../../tasks/shared/sdk-errors';

const sdkError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened\nsecond line`), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }), ...extra });

describe('isTransientSdkError', () => {
  it.each([
    ['throttling the SDK marked retryable', sdkError('ThrottlingException', 400, { $retryable: { throttling: true } })],
    ['DynamoDB throughput exceeded', sdkError('ProvisionedThroughputExceededException', 400)],
    ['S3 slow down', sdkError('SlowDown', 503)],
    ['a server fault', sdkError('InternalServerError', 500, { $fault: 'server' })],
    ['too many requests', sdkError('TooManyRequestsException', 429)],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a timeout', sdkError('TimeoutError')],
    ['a concurrent update of a Glue table', sdkError('ConcurrentModificationException', 400)],
  ])('retries %s', (_, error) => {
    expect(isTransientSdkError(error)).toBe(true);
  });

  it.each([
    ['access denied', sdkError('AccessDeniedException', 400)],
    ['a validation error', sdkError('ValidationException', 400)],
    ['a missing resource', sdkError('ResourceNotFoundException', 400)],
    ['an error with no response (a bug, or missing credentials)', new TypeError('cannot read properties of undefined')],
    ['nothing at all', undefined],
  ])('does not retry %s', (_, error) => {
    expect(isTransientSdkError(error)).toBe(false);
  });
});

describe('sdkErrorSummary', () => {
  it('names the error, its HTTP status and the first line of its message', () => {
    expect(sdkErrorSummary(sdkError('AccessDenied', 403))).toBe('AccessDenied (HTTP 403): AccessDenied happened');
    expect(sdkErrorSummary(new Error('plain'))).toBe('Error: plain');
  });
});
