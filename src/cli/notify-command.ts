/**
 * `backup notify test [--config FILE] [--json]`: sends a test message on
 * every channel of the settings' `notify` and says how each one went, one
 * line per channel. Exit 0 when every channel took it, 1 when any failed,
 * 2 when the settings have no `notify` (with an example of one).
 */
import { jobName } from '../automation/job.js';
import { sendNotifications } from '../automation/notify/send.js';
import type { NotifyOutcome } from '../automation/types.js';
import type { NotifyChannel } from '../config/notify-schema.js';
import { CancelledError, ExitCode, UsageError } from '../errors.js';
import type { Logger } from '../log/logger-types.js';
import { oneLine, printable } from '../log/printable.js';
import { runCommandFrame, type CommonFlags } from './command-runner.js';
import type { CliIO } from './io.js';

export type NotifyTestFlags = CommonFlags;

const EXAMPLE =
  '"notify": [{ "type": "slack", "urlEnv": "SLACK_WEBHOOK_URL" }] and set SLACK_WEBHOOK_URL=https://hooks.slack.com/services/... in the environment or .env (never in settings.json); email, webhook and healthchecks channels: see the README, "Alerts"';

/** Sends the test message on every channel (the wizard uses it too). */
export async function sendTestMessage(io: CliIO, channels: readonly NotifyChannel[], job: string, logger: Logger): Promise<NotifyOutcome[]> {
  return sendNotifications(
    channels,
    {
      event: 'test',
      job,
      host: io.host,
      at: io.now(),
      reason: `This is a test message from \`backup notify test\` on ${io.host}: alerts of the job ${job} will arrive here.`,
    },
    { env: io.env, logger, signal: io.signal },
  );
}

/** One line per channel: `slack  (slack)  ok` / `ops-mail  (email)  failed: why`. */
export function renderTestOutcomes(outcomes: readonly NotifyOutcome[]): string {
  const names = outcomes.map((o) => printable(o.channel));
  const types = outcomes.map((o) => `(${o.type})`);
  const nameWidth = Math.max(0, ...names.map((n) => n.length));
  const typeWidth = Math.max(0, ...types.map((t) => t.length));
  return outcomes
    .map((o, i) => `${names[i]!.padEnd(nameWidth)}  ${types[i]!.padEnd(typeWidth)}  ${o.ok ? 'ok' : `failed: ${oneLine(o.error ?? 'unknown error')}`}\n`)
    .join('');
}

export async function notifyTestCommand(io: CliIO, flags: NotifyTestFlags): Promise<number> {
  return runCommandFrame(io, flags, async (ctx) => {
    const { file, settings } = ctx.loaded;
    if (!file || !settings) {
      throw new UsageError(`No settings file: give --config FILE (default: config/settings.json) with a "notify" list, for example ${EXAMPLE}.`, {
        code: 'NOTIFY_NOT_CONFIGURED',
      });
    }
    const channels = settings.notify ?? [];
    if (channels.length === 0) {
      throw new UsageError(`${file} has no "notify" channels to test. Add one, for example ${EXAMPLE}.`, { code: 'NOTIFY_NOT_CONFIGURED' });
    }
    const job = jobName(file, settings);
    const outcomes = await sendTestMessage(io, channels, job, ctx.logger.fileOnly);
    if (io.signal.aborted) throw new CancelledError('Cancelled before every channel had answered.');
    for (const o of outcomes) {
      if (o.ok) ctx.logger.fileOnly.info(`notify test: ${printable(o.channel)} (${o.type}) ok`);
    }
    const failed = outcomes.filter((o) => !o.ok).length;
    return {
      exitCode: failed > 0 ? ExitCode.failed : ExitCode.ok,
      json: {
        job,
        host: io.host,
        channels: outcomes.map((o) => ({ channel: o.channel, type: o.type, ok: o.ok, attempts: o.attempts ?? 0, error: o.error ?? null })),
        error: failed > 0 ? { code: 'NOTIFY_FAILED', message: `${failed} of ${outcomes.length} channel(s) failed` } : null,
      },
      human: renderTestOutcomes(outcomes),
    };
  });
}
