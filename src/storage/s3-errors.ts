/**
 * Turns what the AWS SDK throws into one clear sentence: what went wrong,
 * with which action and bucket, and what to do. Pure: looks only at the
 * error's name, code, HTTP status and the headers the SDK attaches; imports
 * nothing from the SDK.
 */
import { BackupError, CancelledError, ExitCode, type ErrorCode } from '../errors.js';

export interface S3ErrorContext {
  /** The S3 action, as IAM names it: s3:PutObject, s3:ListBucket, ... */
  action: string;
  bucket: string;
  key?: string;
  region?: string;
  endpoint?: string;
  /**
   * The command's own signal (Ctrl-C / SIGTERM). An SDK AbortError is a
   * cancellation only when this signal was aborted; any other abort (a
   * timeout, a socket torn down under the request) is an S3 failure.
   */
  signal?: AbortSignal;
}

interface SdkLikeError {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  Region?: string;
  BucketRegion?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $response?: { headers?: Record<string, string | undefined> };
  cause?: unknown;
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the server running and the port right?)',
  ENOTFOUND: 'host name not found (check the endpoint URL or DNS)',
  EAI_AGAIN: 'host name lookup failed temporarily (DNS or network down?)',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed by the server',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'host unreachable (no network route)',
  ENETUNREACH: 'network unreachable (no network?)',
  CERT_HAS_EXPIRED: 'the server TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server uses a self-signed TLS certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server TLS certificate cannot be verified',
};

function networkCode(error: SdkLikeError): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as SdkLikeError).cause, depth++) {
    const code = (e as SdkLikeError).code;
    if (code && NETWORK_CODES[code]) return code;
  }
  return undefined;
}

function where(ctx: S3ErrorContext): string {
  return ctx.key ? `s3://${ctx.bucket}/${ctx.key}` : `bucket "${ctx.bucket}"`;
}

function regionOf(error: SdkLikeError): string | undefined {
  return error.Region ?? error.BucketRegion ?? error.$response?.headers?.['x-amz-bucket-region'];
}

/** A one-line BackupError for an error from the SDK: exit 1, or 2 for a missing setting (the region). */
export function describeS3Error(error: unknown, ctx: S3ErrorContext): BackupError {
  if (error instanceof BackupError) return error;
  const e = (error ?? {}) as SdkLikeError;
  const name = e.name ?? e.Code ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const attempts = e.$metadata?.attempts;
  const afterAttempts = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
  const detail = e.message && e.message !== name && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  const make = (code: ErrorCode, message: string): BackupError => new BackupError(message, { code, cause: error });

  if (name === 'AbortError') {
    if (ctx.signal?.aborted) return new CancelledError(undefined, { cause: error });
    // Not the user: nothing of ours was cancelled, the request just did not finish.
    return make('S3_FAILED', `${ctx.action} on ${where(ctx)} failed${afterAttempts}: the request was aborted before S3 answered (not by Ctrl-C or a signal).`);
  }

  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return make(
      'S3_NO_CREDENTIALS',
      'No AWS credentials found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (in the environment or .env), or AWS_PROFILE, or run `aws configure` / `aws sso login`.',
    );
  }
  if (/Region is missing/i.test(e.message ?? '')) {
    // A configuration error (exit 2), like any other missing setting: no retry or wait can fix it.
    return new BackupError(
      'No AWS region configured for the bucket: set s3.region in settings.json, or pass --s3-region, or set AWS_REGION (or a region in the AWS profile).',
      { code: 'S3_NO_REGION', cause: error },
    );
  }
  if (name === 'InvalidAccessKeyId') {
    return make('S3_BAD_CREDENTIALS', `The access key ID is not known to ${ctx.endpoint ?? 'AWS'}; check AWS_ACCESS_KEY_ID or the profile.`);
  }
  if (name === 'SignatureDoesNotMatch') {
    return make(
      'S3_BAD_CREDENTIALS',
      `The request signature does not match: the secret access key is wrong for this access key ID (check AWS_SECRET_ACCESS_KEY or the profile).`,
    );
  }
  if (name === 'ExpiredToken' || name === 'ExpiredTokenException' || name === 'TokenRefreshRequired') {
    return make('S3_BAD_CREDENTIALS', 'The AWS session token has expired; refresh your credentials (e.g. `aws sso login`).');
  }
  if (
    name === 'PermanentRedirect' ||
    name === 'AuthorizationHeaderMalformed' ||
    name === 'IllegalLocationConstraintException' ||
    status === 301
  ) {
    const actual = regionOf(e);
    return make(
      'S3_WRONG_REGION',
      actual
        ? `Bucket "${ctx.bucket}" is in region ${actual}, not ${ctx.region ?? 'the configured one'}: use --s3-region ${actual} (or "s3.region": "${actual}").`
        : `Bucket "${ctx.bucket}" is in another region than ${ctx.region ?? 'the configured one'}; set --s3-region to the bucket's region.`,
    );
  }
  if (name === 'NoSuchBucket' || (name === 'NotFound' && !ctx.key && status === 404)) {
    return make('S3_NO_SUCH_BUCKET', `Bucket "${ctx.bucket}" does not exist${ctx.endpoint ? ` at ${ctx.endpoint}` : ''}; create it or check the name.`);
  }
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
    return make(
      'S3_ACCESS_DENIED',
      `Access denied for ${ctx.action} on ${where(ctx)}${detail}. Check the IAM policy (README: "Least-privilege IAM policy") and the bucket policy.`,
    );
  }
  if (name === 'InvalidStorageClass') {
    return make('S3_BAD_STORAGE_CLASS', `The storage class is not supported by this store${detail}; use STANDARD or one it supports.`);
  }
  if (name === 'SlowDown' || name === 'ThrottlingException' || name === 'TooManyRequestsException' || status === 503) {
    return make('S3_THROTTLED', `S3 kept asking to slow down (${name})${afterAttempts} during ${ctx.action} on ${where(ctx)}; try again later.`);
  }
  if (name === 'TimeoutError' || name === 'RequestTimeout' || name === 'RequestTimeoutException') {
    const net = networkCode(e);
    return make(
      'S3_TIMEOUT',
      `${ctx.action} on ${where(ctx)} failed${afterAttempts}: ${net ? NETWORK_CODES[net] : 'no answer within the timeout'}${
        ctx.endpoint ? ` (endpoint ${ctx.endpoint})` : ''
      }.`,
    );
  }
  const net = networkCode(e);
  if (net) {
    return make(
      'S3_UNREACHABLE',
      `Cannot reach S3${ctx.endpoint ? ` at ${ctx.endpoint}` : ''} for ${ctx.action} on ${where(ctx)}${afterAttempts}: ${NETWORK_CODES[net]}.`,
    );
  }
  return make('S3_FAILED', `${ctx.action} on ${where(ctx)} failed${afterAttempts}: ${name}${status ? ` (HTTP ${status})` : ''}${detail}.`);
}
