/**
 * Webhook: a POST of JSON to any URL (ntfy, Discord, Teams, Home Assistant,
 * a script). A run's event carries the run's `--json` result, sent as is
 * with `job`, `host` and `event` added (DESIGN.md); an event without a
 * result (late, recovered, test) sends `{event, job, host, at, reason}`.
 * Either way `text` holds the one-line summary and `content` the same (the
 * field Discord shows), so a chat webhook shows something readable.
 */
import { redact } from '../../log/redact.js';
import type { NotifyEvent } from '../types.js';
import type { NotifyMessage } from './message.js';
import { postOnce } from './http.js';
import type { ChannelAttempt } from './channel.js';
import { secretUrlFromEnv } from './secrets.js';

export function webhookPayload(event: NotifyEvent, message: NotifyMessage): Record<string, unknown> {
  const added = { event: event.event, job: event.job, host: event.host, text: message.summary, content: message.summary };
  if (event.result) return redact({ ...event.result, ...added }) as Record<string, unknown>;
  return redact({
    ...added,
    at: event.at.toISOString(),
    reason: event.reason ?? null,
    ...(event.run ? { run: event.run } : {}),
  }) as Record<string, unknown>;
}

export function prepareWebhook(channel: { urlEnv: string }, event: NotifyEvent, message: NotifyMessage, env: NodeJS.ProcessEnv, label: string): ChannelAttempt {
  const url = secretUrlFromEnv(env, channel.urlEnv);
  const body = JSON.stringify(webhookPayload(event, message));
  return (signal, timeoutSeconds) => postOnce({ url, body, contentType: 'application/json', signal, label, timeoutSeconds });
}
