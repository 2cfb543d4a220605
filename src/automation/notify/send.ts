/**
 * Sends one event on every channel that wants it. Never throws and never
 * takes longer than the channels' bounded attempts: a failed notification is
 * an outcome (a warning in the log and the history), never the run's result.
 * (Implemented by the notify work: slack, email, webhook, healthchecks.)
 */
import type { NotifyChannel } from '../../config/notify-schema.js';
import type { Logger } from '../../log/logger-types.js';
import type { NotifyEvent, NotifyOutcome } from '../types.js';

export interface NotifyContext {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Cancels sending (the command's signal); sending is bounded without it too. */
  signal?: AbortSignal;
}

export async function sendNotifications(channels: readonly NotifyChannel[], event: NotifyEvent, ctx: NotifyContext): Promise<NotifyOutcome[]> {
  void channels;
  void event;
  void ctx;
  throw new Error('sendNotifications: not built yet (issue 10 notify work)');
}
