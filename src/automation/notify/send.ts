/**
 * Sends one event on every channel that wants it. Never throws and never
 * takes longer than the channels' bounded attempts: a failed notification is
 * an outcome (a warning in the log and the history), never the run's result.
 *
 * Channels are sent in parallel. Each attempt has its own timeout (the
 * channel's `timeoutSeconds`, default 10 s); up to 3 attempts with a short
 * backoff, retrying only what another attempt may get past (network errors,
 * timeouts, HTTP 5xx / 429, SMTP 4xx). The whole call is also bounded by a
 * deadline (every attempt and backoff of the slowest channel, plus a little),
 * and the caller's signal cancels it.
 */
import { setMaxListeners } from 'node:events';
import type { NotifyChannel } from '../../config/notify-schema.js';
import { DEFAULT_NOTIFY_ON, type NotifyOn } from '../../config/notify-schema.js';
import type { Logger } from '../../log/logger-types.js';
import { oneLine, printable } from '../../log/printable.js';
import type { NotifyEvent, NotifyEventKind, NotifyOutcome } from '../types.js';
import type { ChannelAttempt } from './channel.js';
import { prepareEmail } from './email.js';
import { prepareHealthchecks } from './healthchecks.js';
import { AttemptError } from './http.js';
import { buildMessage, type NotifyMessage } from './message.js';
import { prepareSlack } from './slack.js';
import { prepareWebhook } from './webhook.js';

export interface NotifyContext {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Cancels sending (the command's signal); sending is bounded without it too. */
  signal?: AbortSignal;
  /** Waits between attempts (ms); default [500, 1500]: 3 attempts. */
  retryDelaysMs?: readonly number[];
}

export const DEFAULT_TIMEOUT_SECONDS = 10;
const DEFAULT_RETRY_DELAYS_MS = [500, 1500] as const;
/** Slack beyond the last attempt's timeout before the whole call gives up on a channel. */
const DEADLINE_GRACE_MS = 2000;

/**
 * Healthchecks is a dead man's switch: it must hear about every run (start,
 * success, warning, failure) to notice the day they stop. Other channels
 * default to what needs a person (failure, warning, late).
 */
const HEALTHCHECKS_DEFAULT_ON: readonly NotifyOn[] = ['failure', 'warning', 'success'];

export function channelLabel(channel: NotifyChannel): string {
  return channel.name ?? channel.type;
}

/** Whether a channel is sent an event (its `on`; `test` goes everywhere). */
export function channelWants(channel: NotifyChannel, kind: NotifyEventKind): boolean {
  const on = channel.on ?? (channel.type === 'healthchecks' ? HEALTHCHECKS_DEFAULT_ON : DEFAULT_NOTIFY_ON);
  switch (kind) {
    case 'test':
      return true;
    case 'start':
      // A start ping lets healthchecks time the run; only useful where success is pinged too.
      return channel.type === 'healthchecks' && on.includes('success');
    case 'recovered':
      // Healthchecks learns of the recovery from the successful run's own ping.
      return channel.type !== 'healthchecks' && (on.includes('failure') || on.includes('late'));
    default:
      return on.includes(kind);
  }
}

/** The attempt function for a channel (throws an AttemptError when it cannot be sent at all: a missing variable). */
function prepare(channel: NotifyChannel, event: NotifyEvent, message: NotifyMessage, env: NodeJS.ProcessEnv): ChannelAttempt | undefined {
  const label = channelLabel(channel);
  switch (channel.type) {
    case 'slack':
      return prepareSlack(channel, message, env, label);
    case 'webhook':
      return prepareWebhook(channel, event, message, env, label);
    case 'healthchecks':
      return prepareHealthchecks(channel, event, message, env, label);
    case 'email':
      return prepareEmail(channel, message, env);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function messageOf(error: unknown): string {
  if (error instanceof AttemptError) return error.message;
  // Not expected (the channels throw AttemptErrors): say what, never a stack or a URL.
  return error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
}

interface Attempted {
  ok: boolean;
  attempts: number;
  error?: string;
}

async function deliver(attempt: ChannelAttempt, timeoutSeconds: number, delays: readonly number[], signal: AbortSignal): Promise<Attempted> {
  let attempts = 0;
  let lastError = '';
  for (;;) {
    if (signal.aborted) return { ok: false, attempts, error: lastError || 'cancelled before it was sent' };
    attempts += 1;
    // The attempt's own timer, held here until the attempt ends: AbortSignal.any() holds its
    // sources weakly, and an AbortSignal.timeout() signal referenced by nothing else was
    // garbage-collected before it fired (one POST to a server that never answered, then
    // nothing until the whole call's deadline).
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new DOMException(`no answer within ${timeoutSeconds} s`, 'TimeoutError')), timeoutSeconds * 1000);
    const attemptSignal = AbortSignal.any([signal, timeout.signal]);
    try {
      await attempt(attemptSignal, timeoutSeconds);
      return { ok: true, attempts };
    } catch (error) {
      lastError = messageOf(error);
      const retry = error instanceof AttemptError && error.retryable && attempts <= delays.length && !signal.aborted;
      if (!retry) return { ok: false, attempts, error: attempts > 1 ? `${lastError} (after ${attempts} attempts)` : lastError };
      await sleep(delays[attempts - 1]!, signal);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function sendOne(channel: NotifyChannel, event: NotifyEvent, message: NotifyMessage, ctx: NotifyContext, signal: AbortSignal): Promise<NotifyOutcome> {
  const label = channelLabel(channel);
  const base = { channel: label, type: channel.type, event: event.event };
  let attempt: ChannelAttempt | undefined;
  try {
    attempt = prepare(channel, event, message, ctx.env);
  } catch (error) {
    return { ...base, ok: false, error: messageOf(error), attempts: 0 };
  }
  if (!attempt) return { ...base, ok: true, attempts: 0 };
  const timeoutSeconds = channel.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const done = await deliver(attempt, timeoutSeconds, ctx.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS, signal);
  return { ...base, ok: done.ok, attempts: done.attempts, ...(done.error ? { error: done.error } : {}) };
}

/** The longest a channel may take: every attempt's timeout and every backoff. */
function budgetMs(channel: NotifyChannel, delays: readonly number[]): number {
  const timeout = (channel.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  return timeout * (delays.length + 1) + delays.reduce((a, b) => a + b, 0);
}

export async function sendNotifications(channels: readonly NotifyChannel[], event: NotifyEvent, ctx: NotifyContext): Promise<NotifyOutcome[]> {
  try {
    const wanted = channels.filter((channel) => channelWants(channel, event.event));
    if (wanted.length === 0) return [];
    const message = buildMessage(event);
    const delays = ctx.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const deadlineMs = Math.max(...wanted.map((c) => budgetMs(c, delays))) + DEADLINE_GRACE_MS;
    const deadline = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, deadline.signal]) : deadline.signal;
    // Every channel's attempts and pauses listen to this one signal at once (up to 20 channels): not a leak.
    setMaxListeners(Math.max(10, wanted.length * 4), signal);
    let timer: NodeJS.Timeout | undefined;
    // Whatever a channel does, the call returns by the deadline: a channel still busy then is failed.
    const giveUp = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => {
        deadline.abort(new DOMException('notification deadline', 'TimeoutError'));
        resolve('deadline');
      }, deadlineMs + 500);
      timer.unref();
    });
    try {
      const outcomes = await Promise.all(
        wanted.map(async (channel): Promise<NotifyOutcome> => {
          const sent = sendOne(channel, event, message, ctx, signal).catch(
            (error: unknown): NotifyOutcome => ({ channel: channelLabel(channel), type: channel.type, event: event.event, ok: false, error: messageOf(error) }),
          );
          const first = await Promise.race([sent, giveUp]);
          return first === 'deadline'
            ? { channel: channelLabel(channel), type: channel.type, event: event.event, ok: false, error: `not sent within ${Math.round(deadlineMs / 1000)} s` }
            : first;
        }),
      );
      for (const outcome of outcomes) {
        if (outcome.ok) ctx.logger.info(`notification ${printable(outcome.channel)} (${outcome.event}) sent`);
        else ctx.logger.warn(`notification ${printable(outcome.channel)} (${outcome.type}, ${outcome.event}) of job ${printable(event.job)} failed: ${oneLine(outcome.error ?? 'unknown error')}`);
      }
      return outcomes;
    } finally {
      clearTimeout(timer);
    }
  } catch (error) {
    // Never the run's problem: anything unexpected is one failed outcome per channel.
    const why = messageOf(error);
    ctx.logger.warn(`notifications (${event.event}) failed: ${oneLine(why)}`);
    return channels
      .filter((channel) => {
        try {
          return channelWants(channel, event.event);
        } catch {
          return false;
        }
      })
      .map((channel) => ({ channel: channelLabel(channel), type: channel.type, event: event.event, ok: false, error: why }));
  }
}
