/**
 * One HTTP request of a notification (global fetch, Node 20), and what its
 * failure means: retry (network error, timeout, 5xx, 429) or give up (any
 * other status). Messages name the host only, never the URL: a webhook URL
 * is its own credential.
 */
import { errnoCode } from '../../errors.js';
import { redactText } from '../../log/redact.js';

/** A failed attempt: its message (host only) and whether another attempt may help. */
export class AttemptError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.retryable = retryable;
  }
}
AttemptError.prototype.name = 'AttemptError';

/** The URL in an environment variable, checked: http(s) only. */
export function parseSecretUrl(value: string, envName: string): URL {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new AttemptError(`${envName} is not a URL (expected https://...)`, false);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AttemptError(`${envName} is not an http(s) URL`, false);
  return url;
}

export const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'no answer in time',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate is not trusted (self-signed in the chain)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate is not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name',
};

/** Certificate problems do not go away by trying again. */
const PERMANENT = new Set(['CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID']);

/** fetch's TypeError('fetch failed') hides the reason in `cause` (possibly nested). */
function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth += 1) {
    const code = errnoCode(current);
    if (code) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The deepest cause's message, first line, redacted (the URL is registered as a secret), for errors without a code (fetch's "bad port"). */
function innermostMessage(error: unknown): string {
  let current: unknown = error;
  let message = 'unknown';
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth += 1) {
    const text = (current as { message?: unknown }).message;
    if (typeof text === 'string' && text !== '') message = text;
    current = (current as { cause?: unknown }).cause;
  }
  return redactText(message.split('\n')[0]!).slice(0, 200);
}

export interface PostOptions {
  url: URL;
  body: string;
  contentType: string;
  /** The attempt's signal (its timeout and the caller's cancel). */
  signal: AbortSignal;
  /** "slack", "ops-hook": for messages. */
  label: string;
  timeoutSeconds: number;
}

/** POSTs once; resolves on 2xx, else throws an AttemptError. */
export async function postOnce(options: PostOptions): Promise<void> {
  const where = options.url.host;
  let response: Response;
  try {
    response = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': options.contentType, 'user-agent': 'backup-automation' },
      body: options.body,
      signal: options.signal,
      redirect: 'follow',
    });
  } catch (error) {
    if (options.signal.aborted) {
      const reason: unknown = options.signal.reason;
      const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError';
      throw new AttemptError(timedOut ? `no answer from ${where} within ${options.timeoutSeconds} s` : `cancelled while sending to ${where}`, timedOut);
    }
    const code = networkCode(error);
    const words = code ? (NETWORK_WORDS[code] ?? code) : `network error (${innermostMessage(error)})`;
    throw new AttemptError(`cannot reach ${where}: ${words}`, !(code && PERMANENT.has(code)));
  }
  // The body is not needed (and must not keep the connection busy); a slow body is not waited for.
  await response.body?.cancel().catch(() => undefined);
  if (response.ok) return;
  const status = response.status;
  const retryable = status >= 500 || status === 429 || status === 408;
  const meaning =
    status === 404 || status === 410
      ? ' (the URL is wrong or the webhook was deleted)'
      : status === 401 || status === 403
        ? ' (not accepted: check the URL / token)'
        : status === 429
          ? ' (rate limited)'
          : '';
  throw new AttemptError(`${where} answered HTTP ${status}${meaning}`, retryable);
}
