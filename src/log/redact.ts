/**
 * Removes secrets from anything about to be logged, printed or persisted:
 * values of keys that name a secret, credentials inside URLs (user:password
 * and token-only user info, an '@' inside the password included), AWS-style
 * keys and signed-URL signatures in free text, and the values of the
 * secret environment variables (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
 * wherever they appear. Pure except for that set of values, which the
 * program registers once at start (`registerSecretValues`), plus any other
 * secret read later (a notification channel's webhook URL or SMTP password:
 * `registerSecretValue`).
 */

const SECRET_KEY = /(secret|password|passwd|token|credential|authorization|session|private.?key|signature)/i;
/**
 * scheme://USERINFO@host: the user info runs to the last '@' before the path, query or
 * fragment (as URL parsers read it), so a password with '@' in it is covered whole.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>`]*)@/gi;
const AWS_ACCESS_KEY_ID = /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g;
const AWS_SECRET_ASSIGNMENT = /((?:aws_)?secret(?:_access)?_key\s*[=:]\s*)\S+/gi;
/** S3 presigned URLs' signature parts, and an Azure SAS token's `sig` (the SAS is a credential by its signature). */
const QUERY_SIGNATURE = /([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId|sig)=)[^&\s"'<>]+/gi;

/** Environment variables whose values are secrets wherever they show up. */
export const SECRET_ENV_VARS = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN'] as const;
/** Shorter values are not searched for (they would blank out ordinary words). */
const MIN_SECRET_LENGTH = 8;

export const REDACTED = '[redacted]';

const secretValues = new Set<string>();

/** Remembers the values of the secret environment variables, to redact them from any text. */
export function registerSecretValues(env: NodeJS.ProcessEnv): void {
  for (const name of SECRET_ENV_VARS) {
    const value = env[name]?.trim();
    if (value && value.length >= MIN_SECRET_LENGTH) secretValues.add(value);
  }
}

/**
 * Remembers one secret value (a webhook URL is a credential whole, an SMTP
 * password) so that no log line, output or history record shows it. Values
 * shorter than 8 characters are not searched for (they would blank out
 * ordinary words).
 */
export function registerSecretValue(value: string | undefined): void {
  const trimmed = value?.trim();
  if (trimmed && trimmed.length >= MIN_SECRET_LENGTH) secretValues.add(trimmed);
  if (value && value !== trimmed && value.length >= MIN_SECRET_LENGTH) secretValues.add(value);
}

/** Schemes whose lone user info is a login name (sftp://backup@nas/path), not a token. */
const LOGIN_NAME_SCHEMES = /^(sftp|ssh|scp):\/\/$/i;

function redactUserinfo(match: string, scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  // user:password -> user:[redacted]; a lone token (http://TOKEN@host) is the secret itself,
  // but in sftp://user@host it is the login name, which the destination's label shows.
  if (colon < 0 && LOGIN_NAME_SCHEMES.test(scheme)) return match;
  return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@` : `${scheme}${REDACTED}@`;
}

export function redactText(text: string): string {
  let out = text;
  // Longest first: a URL is redacted whole before its path (also registered) could be.
  for (const value of [...secretValues].sort((a, b) => b.length - a.length)) if (out.includes(value)) out = out.split(value).join(REDACTED);
  return out
    .replace(URL_USERINFO, redactUserinfo)
    .replace(AWS_ACCESS_KEY_ID, (key) => `${key.slice(0, 4)}…${REDACTED}`)
    .replace(AWS_SECRET_ASSIGNMENT, `$1${REDACTED}`)
    .replace(QUERY_SIGNATURE, `$1${REDACTED}`);
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return redactText(value.message);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && v !== null && v !== undefined && v !== '' ? REDACTED : redact(v, depth + 1);
  }
  return out;
}
