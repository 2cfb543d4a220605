/**
 * A channel's secrets come from the environment (or .env, loaded into it at
 * start), named in settings.json (`urlEnv`, `passwordEnv`). Each value read
 * is registered for redaction at once, so no log line, output or history
 * record can show it, whatever error message it later ends up in.
 */
import { registerSecretValue } from '../../log/redact.js';
import { AttemptError, parseSecretUrl } from './http.js';

/** The value of `name`, registered as a secret; a missing or empty one is that channel's failure. */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new AttemptError(`${name} is not set (in the environment or .env)`, false);
  registerSecretValue(value);
  return value;
}

/** A webhook / ping URL from the environment: the whole URL is the credential (and so is its path). */
export function secretUrlFromEnv(env: NodeJS.ProcessEnv, name: string): URL {
  const url = parseSecretUrl(secretFromEnv(env, name), name);
  registerSecretValue(url.href);
  // The path and query hold the token (hooks.slack.com/services/T../B../XXXX, hc-ping.com/<uuid>).
  const tail = `${url.pathname}${url.search}`;
  if (tail.length >= 12) registerSecretValue(tail);
  if (url.password) registerSecretValue(decodeURIComponent(url.password));
  return url;
}
