/**
 * The secrets a job's settings name (`urlEnv`, `passwordEnv`, `keyEnv`, ...:
 * the names of environment variables, never the values), registered for
 * redaction in the dashboard's own process. A run registers them when it
 * uses them, so what it logs is already redacted; but the dashboard shows
 * text it did not write (the log file, which may hold lines from before a
 * value was a secret, or from another program) and it never sends a
 * notification itself, so without this it would know only the AWS
 * variables (registered at start for every command).
 */
import { registerSecretValue } from '../log/redact.js';
import { secretFromEnv, secretUrlFromEnv } from '../automation/notify/secrets.js';
import { resolveAzureAccess, type AzureTarget } from '../storage/azure.js';
import { rcloneEnv } from '../storage/rclone.js';
import type { Settings } from '../config/schema.js';

/** `*Env` keys whose value names something that is not a secret. */
const NOT_SECRET = new Set(['accountEnv']);

function quietly(register: () => unknown): void {
  try {
    register();
  } catch {
    // Not set, or not a URL: nothing to redact (the run that needs it fails and says so).
  }
}

/** Registers every secret value `settings` names that `env` holds. */
export function registerJobSecrets(settings: Settings, env: NodeJS.ProcessEnv, home: string): void {
  for (const channel of settings.notify ?? []) {
    if ('urlEnv' in channel) quietly(() => secretUrlFromEnv(env, channel.urlEnv));
    if (channel.type === 'email') {
      if (channel.smtp.passwordEnv) quietly(() => secretFromEnv(env, channel.smtp.passwordEnv!));
      if (channel.smtp.userEnv) quietly(() => secretFromEnv(env, channel.smtp.userEnv!));
    }
  }
  for (const destination of settings.destinations ?? []) {
    // Azure reads its default variables when no *Env is given; it registers what it finds.
    if (destination.type === 'azure') quietly(() => resolveAzureAccess(destination as unknown as AzureTarget, env));
    if (destination.type === 'rclone') quietly(() => rcloneEnv(env, home));
    for (const [key, value] of Object.entries(destination)) {
      if (key.endsWith('Env') && !NOT_SECRET.has(key) && typeof value === 'string') registerSecretValue(env[value]);
    }
  }
}
