/**
 * Turns what @azure/storage-blob (a RestError), @azure/identity or our own
 * timeout throws into one clear BackupError: what went wrong, on which
 * container/blob, with which credentials (the NAMES of the environment
 * variables, never their values), and what to do. Pure: looks only at the
 * error's name, code and HTTP status; imports nothing from the SDK.
 *
 * Mapped by HTTP status, not by code: Azurite and Azure disagree on codes
 * (a wrong key: AuthorizationFailure vs AuthenticationFailed).
 */
import { BackupError, CancelledError, DestinationError, UsageError, type ErrorCode } from '../errors.js';

export interface AzureErrorContext {
  /** What we were doing, in words: "stage a block of", "list", "commit". */
  action: string;
  /** `azure://account/container/blob` or `container "x"`. */
  where: string;
  container: string;
  account: string;
  endpoint: string;
  /** Which credentials were used, by source: `account key from AZURE_STORAGE_KEY`. Never a value. */
  credentials: string;
  /** A write of an archive (DESTINATION_FAILED) or the read side (STORE_FAILED). */
  write: boolean;
  /** The caller's own signal: an abort is a cancellation only when this one was aborted. */
  signal?: AbortSignal;
  /** Set when our own timeout fired (no answer / no progress for this long). */
  timedOutAfterMs?: number;
}

interface AzureLikeError {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  cause?: unknown;
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the endpoint right and the service running?)',
  ENOTFOUND: 'host name not found (check the account name or endpoint URL, and DNS)',
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

function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as AzureLikeError).cause, depth++) {
    const code = (e as AzureLikeError).code;
    if (code && NETWORK_CODES[code]) return code;
    const inMessage = /\b(E[A-Z]{4,}|CERT_[A-Z_]+)\b/.exec((e as AzureLikeError).message ?? '')?.[1];
    if (inMessage && NETWORK_CODES[inMessage]) return inMessage;
  }
  return undefined;
}

/** The first line of the service's message, short: Azure appends RequestId and Time lines. */
function firstLine(message: string | undefined): string {
  // Without its final period: our sentence adds one.
  const line = (message ?? '').split('\n')[0]!.trim().replace(/\.+$/, '');
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

export function describeAzureError(error: unknown, ctx: AzureErrorContext): BackupError {
  if (error instanceof BackupError) return error;
  const e = (error ?? {}) as AzureLikeError;
  const status = e.statusCode;
  const code = e.code ?? e.name ?? 'Error';
  const failure = (message: string, errorCode?: ErrorCode): BackupError =>
    ctx.write
      ? new DestinationError(message, { code: (errorCode ?? 'DESTINATION_FAILED') as never, cause: error })
      : new BackupError(message, { code: errorCode ?? 'STORE_FAILED', cause: error });

  if (e.name === 'AbortError' || code === 'ABORT_ERR') {
    if (ctx.signal?.aborted) return new CancelledError(undefined, { cause: error });
    if (ctx.timedOutAfterMs !== undefined) {
      return failure(
        `Azure Blob at ${ctx.endpoint} did not answer (or took no more bytes) for ${Math.round(ctx.timedOutAfterMs / 1000)} s while trying to ${ctx.action} ${ctx.where}; check the network, or raise "timeoutSeconds".`,
      );
    }
    return failure(`Could not ${ctx.action} ${ctx.where}: the request was aborted before Azure answered (not by Ctrl-C or a signal).`);
  }

  // @azure/identity: DefaultAzureCredential found nothing usable, or the sign-in failed.
  if (status === undefined && /CredentialUnavailableError|AggregateAuthenticationError|AuthenticationError/.test(e.name ?? '')) {
    return new UsageError(
      `No usable Azure credentials to ${ctx.action} ${ctx.where}: tried ${ctx.credentials}, which found no sign-in (${firstLine(e.message)}). ` +
        'Put a connection string, an account key or a SAS token in the environment or .env (README: Azure), or sign in (`az login`, a managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET).',
      { cause: error },
    );
  }
  if (/Bearer token authentication is not permitted for non-TLS/i.test(e.message ?? '')) {
    return new UsageError(
      `${ctx.credentials} needs an https endpoint, and ${ctx.endpoint} is plain http: use an account key, a SAS token or a connection string there (Azurite has a fixed account key).`,
      { cause: error },
    );
  }

  if (status === 403) {
    return new BackupError(
      `Azure refused to ${ctx.action} ${ctx.where} (HTTP 403 ${code}); credentials used: ${ctx.credentials}. ` +
        'Check that the key / SAS token is right and not expired, that the SAS has the permissions rwdl, or that the identity has the role "Storage Blob Data Contributor" on the container.',
      { code: 'STORE_ACCESS_DENIED', cause: error },
    );
  }
  if (status === 404 && code === 'ContainerNotFound') {
    return new UsageError(
      `Container "${ctx.container}" does not exist in storage account "${ctx.account}" (${ctx.endpoint}): create it (\`az storage container create --name ${ctx.container} --account-name ${ctx.account} --auth-mode login\`) or fix "container" in settings.json.`,
      { code: 'DESTINATION_NOT_FOUND', cause: error },
    );
  }
  if (status === 404 && (code === 'ResourceNotFound' || code === 'AccountNotFound' || code === 'InvalidUri')) {
    return new UsageError(`Azure Blob at ${ctx.endpoint} answered 404 ${code} for container "${ctx.container}": check "account" and "endpoint".`, {
      cause: error,
    });
  }
  if (status === 409 && code === 'BlobArchived') {
    return failure(`${ctx.where} is in the Archive tier and cannot be read until it is rehydrated (\`az storage blob set-tier --tier Hot --rehydrate-priority Standard\`).`);
  }
  if (status === 503 || status === 500 || code === 'ServerBusy' || code === 'OperationTimedOut') {
    return failure(`Azure kept failing (HTTP ${status ?? '?'} ${code}) while trying to ${ctx.action} ${ctx.where}; try again later.`);
  }
  const net = networkCode(error);
  if (net) return failure(`Cannot reach Azure Blob at ${ctx.endpoint} to ${ctx.action} ${ctx.where}: ${NETWORK_CODES[net]}.`);
  const detail = firstLine(e.message);
  return failure(
    `Could not ${ctx.action} ${ctx.where}: ${code}${status ? ` (HTTP ${status})` : ''}${detail && detail !== code ? `: ${detail}` : ''}.`,
  );
}
