/**
 * Removes secrets from anything about to be logged or printed: values of
 * keys that name a secret, credentials inside URLs, and AWS-style keys in
 * free text. Pure; used by the logger's format.
 */

const SECRET_KEY = /(secret|password|passwd|token|credential|authorization|session|private.?key|signature)/i;
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^/\s:@]+):([^/\s@]+)@/gi;
const AWS_ACCESS_KEY_ID = /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g;
const AWS_SECRET_ASSIGNMENT = /((?:aws_)?secret(?:_access)?_key\s*[=:]\s*)\S+/gi;
const QUERY_SIGNATURE = /([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature)=)[^&\s]+/gi;

export const REDACTED = '[redacted]';

export function redactText(text: string): string {
  return text
    .replace(URL_USERINFO, `$1$2:${REDACTED}@`)
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
