/**
 * settings.json `notify`: where alerts go. Secrets (webhook URLs, ping URLs,
 * SMTP passwords) are never in the file: only the names of the environment
 * variables (or `.env` entries) that hold them (`urlEnv`, `passwordEnv`).
 */
import { z } from 'zod';

/** What a channel is told about; default failure + warning + late (`recovered` goes wherever failure or late goes). */
export const NOTIFY_EVENTS = ['failure', 'warning', 'success', 'late'] as const;
export type NotifyOn = (typeof NOTIFY_EVENTS)[number];
export const DEFAULT_NOTIFY_ON: readonly NotifyOn[] = ['failure', 'warning', 'late'];

/** An environment variable's name: what `urlEnv` / `passwordEnv` hold (never the secret itself). */
export const envNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected the NAME of an environment variable (letters, digits, _), e.g. SLACK_WEBHOOK_URL; the secret itself goes in the environment or .env, never in settings.json');

const common = {
  /** A name for messages and `backup notify test` ("slack", "ops-mail"); default: the type. */
  name: z.string().trim().min(1).max(64).optional(),
  on: z.array(z.enum(NOTIFY_EVENTS, { error: `expected one of ${NOTIFY_EVENTS.map((e) => `"${e}"`).join(', ')}` })).min(1, 'list at least one event, or remove the channel').optional(),
  /** Per attempt; a few attempts are made. */
  timeoutSeconds: z.number().positive().max(120).optional(),
};

export const SlackChannelSchema = z.strictObject({ type: z.literal('slack'), urlEnv: envNameSchema, ...common });
export const WebhookChannelSchema = z.strictObject({ type: z.literal('webhook'), urlEnv: envNameSchema, ...common });
export const HealthchecksChannelSchema = z.strictObject({ type: z.literal('healthchecks'), urlEnv: envNameSchema, ...common });

export const SmtpSchema = z.strictObject({
  host: z.string().trim().min(1, 'must not be empty'),
  port: z.number().int().min(1).max(65535).optional(),
  /** implicit: TLS from the start (port 465); starttls: upgrade required; auto: upgrade when offered; none: plain (local relays only). */
  tls: z.enum(['auto', 'implicit', 'starttls', 'none']).optional(),
  user: z.string().optional(),
  userEnv: envNameSchema.optional(),
  passwordEnv: envNameSchema.optional(),
  /** Accept a self-signed certificate (a private relay); default false. */
  allowSelfSigned: z.boolean().optional(),
});

export const EmailChannelSchema = z.strictObject({
  type: z.literal('email'),
  smtp: SmtpSchema,
  from: z.string().trim().min(3),
  to: z.array(z.string().trim().min(3)).min(1, 'needs at least one address'),
  ...common,
});

export const NOTIFY_CHANNEL_SCHEMAS = [SlackChannelSchema, EmailChannelSchema, WebhookChannelSchema, HealthchecksChannelSchema] as const;

export const NotifyChannelSchema = z.discriminatedUnion('type', [...NOTIFY_CHANNEL_SCHEMAS], {
  error: 'expected a channel with "type": "slack", "email", "webhook" or "healthchecks"',
});

export type NotifyChannel = z.infer<typeof NotifyChannelSchema>;
export type EmailChannel = z.infer<typeof EmailChannelSchema>;
