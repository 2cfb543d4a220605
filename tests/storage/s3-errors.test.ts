/**
 * Errors only AWS itself produces (a policy's AccessDenied, SlowDown, the
 * wrong-region redirect): the local server cannot, so these use
 * aws-sdk-client-mock with the SDK's own exception classes.
 */
import { describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { describeS3Error } from '../../src/storage/s3-errors.js';
import { S3Destination, checkBucket } from '../../src/storage/s3.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { silentLogger } from '../../src/log/logger-types.js';

function awsError(name: string, status: number, message: string, extra: Record<string, unknown> = {}): S3ServiceException {
  return Object.assign(new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, attempts: 1 }, message }), extra);
}

const ctx = { action: 's3:PutObject', bucket: 'backup-prod', key: 'host1/a.tar.gz', region: 'us-east-1' };

describe('describeS3Error', () => {
  it.each([
    [awsError('AccessDenied', 403, 'User: arn:aws:iam::123:user/backup is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::backup-prod/host1/a.tar.gz" because no identity-based policy allows the s3:PutObject action'), 'S3_ACCESS_DENIED', /Access denied for s3:PutObject on s3:\/\/backup-prod\/host1\/a\.tar\.gz: User: .*not authorized.*IAM policy/],
    [awsError('SlowDown', 503, 'Please reduce your request rate.', { $metadata: { httpStatusCode: 503, attempts: 5 } }), 'S3_THROTTLED', /slow down \(SlowDown\) after 5 attempts during s3:PutObject/],
    [awsError('PermanentRedirect', 301, 'The bucket you are attempting to access must be addressed using the specified endpoint.', { Region: 'eu-west-1' }), 'S3_WRONG_REGION', /Bucket "backup-prod" is in region eu-west-1, not us-east-1: use --s3-region eu-west-1/],
    [awsError('AuthorizationHeaderMalformed', 400, "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-south-1'", { Region: 'ap-south-1' }), 'S3_WRONG_REGION', /region ap-south-1/],
    [awsError('NoSuchBucket', 404, 'The specified bucket does not exist'), 'S3_NO_SUCH_BUCKET', /Bucket "backup-prod" does not exist/],
    [awsError('InvalidAccessKeyId', 403, 'The AWS Access Key Id you provided does not exist in our records.'), 'S3_BAD_CREDENTIALS', /access key ID is not known/],
    [awsError('ExpiredToken', 400, 'The provided token has expired.'), 'S3_BAD_CREDENTIALS', /session token has expired/],
    [Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), 'S3_NO_CREDENTIALS', /No AWS credentials found/],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', $metadata: { attempts: 5 } }), 'S3_UNREACHABLE', /after 5 attempts: connection refused/],
    [Object.assign(new Error('getaddrinfo ENOTFOUND s3.example.invalid'), { code: 'ENOTFOUND' }), 'S3_UNREACHABLE', /host name not found/],
    [Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: { attempts: 5 } }), 'S3_TIMEOUT', /failed after 5 attempts: the connection was reset/],
    [awsError('InternalError', 500, 'We encountered an internal error.'), 'S3_FAILED', /InternalError \(HTTP 500\)/],
  ])('%s -> %s', (error, code, message) => {
    const described = describeS3Error(error, ctx);
    expect(described.code).toBe(code);
    expect(described.exitCode).toBe(1);
    expect(described.message).toMatch(message);
    expect(described.cause).toBe(error);
  });
});

describe('an AbortError is a cancellation only when the command\'s own signal aborted', () => {
  const abortError = (): Error => Object.assign(new Error('Request aborted'), { name: 'AbortError' });

  it('the command\'s signal aborted: cancelled (exit 130)', () => {
    const controller = new AbortController();
    controller.abort();
    const described = describeS3Error(abortError(), { ...ctx, signal: controller.signal });
    expect(described.code).toBe('CANCELLED');
    expect(described.exitCode).toBe(130);
  });

  it.each([
    ['a signal that was not aborted', new AbortController().signal],
    ['no signal of the command at all', undefined],
  ])('%s: an S3 failure (exit 1) that says nobody cancelled', (_name, signal) => {
    const error = abortError();
    const described = describeS3Error(error, { ...ctx, signal });
    expect(described.code).toBe('S3_FAILED');
    expect(described.exitCode).toBe(1);
    expect(described.message).toBe('s3:PutObject on s3://backup-prod/host1/a.tar.gz failed: the request was aborted before S3 answered (not by Ctrl-C or a signal).');
    expect(described.cause).toBe(error);
  });

  it('through the store list / verify read: the signal given to the call decides', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const mock = mockClient(client);
    mock.on(ListObjectsV2Command).rejects(abortError());
    mock.on(HeadObjectCommand).rejects(abortError());
    const store = new S3Store(client, { bucket: 'backup-prod', prefix: 'host1/', region: 'us-east-1' });
    const running = new AbortController().signal;
    await expect(store.list(running)).rejects.toMatchObject({ code: 'S3_FAILED', exitCode: 1 });
    await expect(store.stat('a.zip', running)).rejects.toMatchObject({ code: 'S3_FAILED', message: expect.stringMatching(/s3:\/\/backup-prod\/host1\/a\.zip failed: the request was aborted/) });
    const cancelled = new AbortController();
    cancelled.abort();
    await expect(store.list(cancelled.signal)).rejects.toMatchObject({ code: 'CANCELLED', exitCode: 130 });
    mock.on(HeadBucketCommand).rejects(abortError());
    await expect(checkBucket(client, { bucket: 'backup-prod', prefix: '', region: 'us-east-1' }, running)).rejects.toMatchObject({ code: 'S3_FAILED' });
    await expect(checkBucket(client, { bucket: 'backup-prod', prefix: '', region: 'us-east-1' }, cancelled.signal)).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});

describe('with a mocked client', () => {
  const target = { bucket: 'backup-prod', prefix: 'host1/', region: 'us-east-1' };

  it('checkBucket names the region the bucket is really in', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const mock = mockClient(client);
    mock.on(HeadBucketCommand).rejects(awsError('PermanentRedirect', 301, '', { Region: 'eu-central-1' }));
    await expect(checkBucket(client, target)).rejects.toMatchObject({ code: 'S3_WRONG_REGION', message: expect.stringMatching(/eu-central-1/) });
  });

  it('checkBucket tells a policy denial apart from a bad secret through a GET', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const mock = mockClient(client);
    mock.on(HeadBucketCommand).rejects(awsError('Forbidden', 403, ''));
    mock.on(ListObjectsV2Command).rejects(awsError('AccessDenied', 403, 'Access Denied'));
    await expect(checkBucket(client, target)).rejects.toMatchObject({
      code: 'S3_ACCESS_DENIED',
      message: expect.stringMatching(/Access denied for s3:ListBucket on bucket "backup-prod"/),
    });
  });

  it('a 404 from something that is not S3 is not reported as a missing bucket', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const mock = mockClient(client);
    mock.on(HeadBucketCommand).rejects(awsError('NotFound', 404, ''));
    mock.on(ListObjectsV2Command).rejects(awsError('UnknownError', 404, 'Not Found'));
    await expect(checkBucket(client, { ...target, endpoint: 'http://web.example' })).rejects.toMatchObject({
      code: 'S3_NOT_S3',
      message: expect.stringMatching(/http:\/\/web\.example answered 404 without an S3 error/),
    });
    mock.on(ListObjectsV2Command).rejects(awsError('NoSuchBucket', 404, 'The specified bucket does not exist'));
    await expect(checkBucket(client, target)).rejects.toMatchObject({ code: 'S3_NO_SUCH_BUCKET' });
  });

  it('a denied PutObject when claiming the name says which action on which key', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const mock = mockClient(client);
    mock.on(HeadObjectCommand).rejects(awsError('NotFound', 404, ''));
    mock.on(PutObjectCommand).rejects(awsError('AccessDenied', 403, 'not authorized to perform: s3:PutObject'));
    const d = new S3Destination({ client, target, logger: silentLogger, partSize: 8 * 1024 * 1024 });
    await expect(d.reserve('a.tar.gz')).rejects.toMatchObject({
      code: 'S3_ACCESS_DENIED',
      message: expect.stringMatching(/s3:PutObject on s3:\/\/backup-prod\/host1\/a\.tar\.gz\.partial: not authorized/),
    });
  });
});
