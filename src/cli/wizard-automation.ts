/**
 * The wizard's last questions, once the settings are saved: should the job
 * run by itself, and when (default: daily at a random minute between 01:00
 * and 05:00, so machines do not all start at once); and one alert channel
 * (Slack webhook or email). Asks and validates only: writing .env and the
 * settings, printing the commands and sending the test message are done by
 * the caller (wizard-command.ts). A secret (the webhook URL, the SMTP
 * password) is asked with a masked prompt and is never part of a message.
 */
import { EmailChannelSchema, type NotifyChannel } from '../config/notify-schema.js';
import type { Settings } from '../config/schema.js';
import { nextRun, parseSchedule, randomNightlySchedule, scheduleProblem } from '../automation/schedule.js';
import { localDateTime } from './command-runner.js';
import type { Prompter } from './wizard.js';

export const SLACK_URL_ENV = 'SLACK_WEBHOOK_URL';
export const SMTP_PASSWORD_ENV = 'SMTP_PASSWORD';

export interface AutomationContext {
  now: Date;
  say: (line: string) => void;
  /** For the default schedule's minute (tests pass a fixed one). */
  random?: () => number;
}

export interface AutomationAnswers {
  /** The schedule text; undefined: not scheduled. */
  schedule?: string;
  /** The alert channel set up now, if any. */
  channel?: NotifyChannel;
  /** Values for .env, by variable name (the channel names them). */
  secrets: Record<string, string>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why a webhook URL cannot be used (never repeating it: it is a secret), or undefined. */
export function webhookUrlProblem(value: string): string | undefined {
  const text = value.trim();
  if (text === '') return 'Paste the webhook URL (it starts with https://hooks.slack.com/).';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'That is not a URL; paste the whole webhook URL, starting with https://.';
  }
  if (url.protocol === 'https:' && url.hostname !== '') return undefined;
  // Plain http only to this machine (a local relay or a test receiver): the URL is a secret on the wire.
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return undefined;
  return 'The webhook URL must start with https:// (plain http:// only to this machine: 127.0.0.1 or localhost).';
}

/** One e-mail address, plainly written (no display name). */
export function emailProblem(value: string): string | undefined {
  return /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/.test(value.trim()) ? undefined : `"${value.trim()}" is not an e-mail address such as backup@example.com.`;
}

const validator =
  (check: (value: string) => string | undefined) =>
  (value: string): true | string =>
    check(value) ?? true;

/** "every day at 03:17; next run 2026-12-02 03:17:00" */
export function describeWhen(text: string, now: Date): string {
  const schedule = parseSchedule(text);
  const next = nextRun(schedule, now);
  return `${schedule.description}; next run ${next ? localDateTime(next) : 'never'}`;
}

async function askSchedule(prompts: Prompter, ctx: AutomationContext, current: Settings): Promise<string | undefined> {
  if (!(await prompts.confirm({ message: 'Run this backup automatically?', default: true }))) return undefined;
  const suggested = current.schedule ?? randomNightlySchedule(ctx.random);
  ctx.say(`  When: "daily 02:30", "hourly", "weekly sun 03:00", "monthly 1 04:00" or a cron expression such as "30 2 * * *".`);
  ctx.say(
    current.schedule
      ? `  Now: ${suggested} (${describeWhen(suggested, ctx.now)}).`
      : `  Suggested: ${suggested} (${describeWhen(suggested, ctx.now)}); a random minute at night, so machines do not all start at once.`,
  );
  const typed = await prompts.input({ message: 'When should it run?', default: suggested, validate: validator((value) => scheduleProblem(value.trim())) });
  const text = typed.trim();
  ctx.say(`  Runs ${describeWhen(text, ctx.now)}.`);
  return text;
}

type ChannelKind = 'slack' | 'email' | 'none';

async function askSlack(prompts: Prompter, ctx: AutomationContext): Promise<Pick<AutomationAnswers, 'channel' | 'secrets'>> {
  ctx.say(`  Create an incoming webhook in Slack (Apps > Incoming Webhooks) and paste its URL. It is kept in ./.env as ${SLACK_URL_ENV}, never in settings.json.`);
  const url = await prompts.password({ message: 'Slack webhook URL (hidden):', mask: '*', validate: validator(webhookUrlProblem) });
  return { channel: { type: 'slack', urlEnv: SLACK_URL_ENV }, secrets: { [SLACK_URL_ENV]: url.trim() } };
}

async function askEmail(prompts: Prompter, ctx: AutomationContext): Promise<Pick<AutomationAnswers, 'channel' | 'secrets'>> {
  const host = (
    await prompts.input({
      message: 'SMTP server (host name):',
      validate: validator((v) => (/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:.]+\]$/.test(v.trim()) ? undefined : 'Type the mail server\'s host name, e.g. smtp.example.com.')),
    })
  ).trim();
  const port = Number(
    await prompts.input({
      message: 'SMTP port:',
      default: '587',
      validate: validator((v) => (/^\d{1,5}$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : 'A port is a number from 1 to 65535 (587 for submission, 465 for TLS from the start).')),
    }),
  );
  const tls = await prompts.select<'auto' | 'implicit' | 'starttls' | 'none'>({
    message: 'Encryption:',
    default: port === 465 ? 'implicit' : 'auto',
    choices: [
      { name: 'auto: STARTTLS when the server offers it', value: 'auto' },
      { name: 'implicit: TLS from the start (port 465)', value: 'implicit' },
      { name: 'starttls: STARTTLS required', value: 'starttls' },
      { name: 'none: plain text (a relay on this machine only)', value: 'none' },
    ],
  });
  const from = (await prompts.input({ message: 'From address:', validate: validator(emailProblem) })).trim();
  const to = (
    await prompts.input({
      message: 'Send alerts to (addresses, comma-separated):',
      validate: validator((v) => {
        const list = v.split(',').map((a) => a.trim()).filter((a) => a !== '');
        if (list.length === 0) return 'Type at least one address.';
        for (const address of list) {
          const problem = emailProblem(address);
          if (problem) return problem;
        }
        return undefined;
      }),
    })
  )
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  const user = (await prompts.input({ message: 'SMTP user name (Enter for none):', default: '' })).trim();
  const secrets: Record<string, string> = {};
  if (user !== '') {
    ctx.say(`  The password is kept in ./.env as ${SMTP_PASSWORD_ENV}, never in settings.json.`);
    secrets[SMTP_PASSWORD_ENV] = await prompts.password({
      message: 'SMTP password (hidden):',
      mask: '*',
      validate: validator((v) => (v === '' ? 'Type the password (or go back and leave the user name empty for no login).' : undefined)),
    });
  }
  const channel = EmailChannelSchema.parse({
    type: 'email',
    smtp: { host, port, tls, ...(user !== '' ? { user, passwordEnv: SMTP_PASSWORD_ENV } : {}) },
    from,
    to,
  });
  return { channel, secrets };
}

/** The notify list with `channel` added, replacing a channel of the same kind that uses the same secret or server. */
export function withChannel(current: readonly NotifyChannel[] | undefined, channel: NotifyChannel): NotifyChannel[] {
  const same = (c: NotifyChannel): boolean => {
    if (c.type !== channel.type) return false;
    if (c.type === 'email' && channel.type === 'email') return c.smtp.host === channel.smtp.host;
    return 'urlEnv' in c && 'urlEnv' in channel && c.urlEnv === channel.urlEnv;
  };
  return [...(current ?? []).filter((c) => !same(c)), channel];
}

/** Asks whether and when to run the job by itself, and for one alert channel. */
export async function askAutomation(prompts: Prompter, ctx: AutomationContext, current: Settings): Promise<AutomationAnswers> {
  ctx.say('');
  const schedule = await askSchedule(prompts, ctx, current);
  ctx.say('');
  const kind = await prompts.select<ChannelKind>({
    message: 'Send an alert when a backup fails or is late?',
    default: 'none',
    choices: [
      { name: 'Slack (an incoming webhook)', value: 'slack' },
      { name: 'Email (SMTP)', value: 'email' },
      { name: 'No', value: 'none' },
    ],
  });
  if (kind === 'none') return { schedule, secrets: {} };
  return { schedule, ...(kind === 'slack' ? await askSlack(prompts, ctx) : await askEmail(prompts, ctx)) };
}
