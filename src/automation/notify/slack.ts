/**
 * Slack: a POST of `{text}` to an incoming webhook
 * (https://hooks.slack.com/services/...). The text is the subject in bold
 * and the body in a code-free plain form, with Slack's three control
 * characters (&, <, >) escaped so a name cannot make a link or a mention.
 */
import type { NotifyMessage } from './message.js';
import { postOnce } from './http.js';
import type { ChannelAttempt } from './channel.js';
import { secretUrlFromEnv } from './secrets.js';

export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackPayload(message: NotifyMessage): { text: string } {
  const [, , ...rest] = message.body.trimEnd().split('\n');
  return { text: `*${slackEscape(message.subject)}*\n${slackEscape(rest.join('\n'))}` };
}

export function prepareSlack(channel: { urlEnv: string }, message: NotifyMessage, env: NodeJS.ProcessEnv, label: string): ChannelAttempt {
  const url = secretUrlFromEnv(env, channel.urlEnv);
  const body = JSON.stringify(slackPayload(message));
  return (signal, timeoutSeconds) => postOnce({ url, body, contentType: 'application/json', signal, label, timeoutSeconds });
}
