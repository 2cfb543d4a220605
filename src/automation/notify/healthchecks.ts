/**
 * healthchecks.io (or a self-hosted Healthchecks): the ping URL of a check
 * (https://hc-ping.com/<uuid>). A run pings `/start` when it begins and the
 * URL itself (success, warning) or `/fail` when it ends, so the outside
 * service measures the run's duration and raises its own alarm when the
 * pings stop coming (a dead man's switch that works even when this machine
 * is off). `?rid=<run id>` pairs start and end when the id is a UUID.
 * A test sends `/log` (recorded, changes no state). The body is the
 * one-line summary.
 */
import type { NotifyEvent, NotifyEventKind } from '../types.js';
import type { NotifyMessage } from './message.js';
import { postOnce } from './http.js';
import type { ChannelAttempt } from './channel.js';
import { secretUrlFromEnv } from './secrets.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const SUFFIX: Partial<Record<NotifyEventKind, string>> = {
  start: '/start',
  success: '',
  warning: '',
  failure: '/fail',
  late: '/fail',
  test: '/log',
};

/** The URL to ping for an event (undefined: not sent to healthchecks). */
export function healthchecksUrl(base: URL, event: NotifyEvent): URL | undefined {
  const suffix = SUFFIX[event.event];
  if (suffix === undefined) return undefined;
  const url = new URL(base.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${suffix}`;
  const rid = event.run?.id;
  if (rid && UUID.test(rid) && event.event !== 'test' && event.event !== 'late') url.searchParams.set('rid', rid);
  return url;
}

export function prepareHealthchecks(channel: { urlEnv: string }, event: NotifyEvent, message: NotifyMessage, env: NodeJS.ProcessEnv, label: string): ChannelAttempt | undefined {
  const base = secretUrlFromEnv(env, channel.urlEnv);
  const url = healthchecksUrl(base, event);
  if (!url) return undefined;
  const body = message.summary;
  return (signal, timeoutSeconds) => postOnce({ url, body, contentType: 'text/plain; charset=utf-8', signal, label, timeoutSeconds });
}
