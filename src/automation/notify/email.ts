/**
 * Email over SMTP with nodemailer: subject and plain-text body. `tls`:
 * `implicit` (TLS from the first byte, port 465), `starttls` (upgrade
 * required, port 587), `auto` (upgrade when the server offers it; implicit on
 * port 465) or `none` (plain: a local relay only). The password (and the
 * user, when it comes from `userEnv`) is read from the environment and
 * registered for redaction. Every wait is bounded by the attempt's timeout.
 */
import type { EmailChannel } from '../../config/notify-schema.js';
import type { NotifyMessage } from './message.js';
import { AttemptError, NETWORK_WORDS } from './http.js';
import type { ChannelAttempt } from './channel.js';
import { secretFromEnv } from './secrets.js';
import { redactText } from '../../log/redact.js';

type Tls = NonNullable<EmailChannel['smtp']['tls']>;

const DEFAULT_PORT: Record<Tls, number> = { auto: 587, implicit: 465, starttls: 587, none: 25 };

/** nodemailer's secure / requireTLS / ignoreTLS for a `tls` setting. */
export function tlsOptions(tls: Tls, port: number): { secure: boolean; requireTLS: boolean; ignoreTLS: boolean } {
  switch (tls) {
    case 'implicit':
      return { secure: true, requireTLS: false, ignoreTLS: false };
    case 'starttls':
      return { secure: false, requireTLS: true, ignoreTLS: false };
    case 'none':
      return { secure: false, requireTLS: false, ignoreTLS: true };
    case 'auto':
      return { secure: port === 465, requireTLS: false, ignoreTLS: false };
  }
}

/** SMTP codes and nodemailer error codes that another attempt may get past. */
function retryable(error: { code?: unknown; responseCode?: unknown }): boolean {
  if (typeof error.responseCode === 'number') return error.responseCode >= 400 && error.responseCode < 500;
  return error.code === 'ECONNECTION' || error.code === 'ETIMEDOUT' || error.code === 'ESOCKET' || error.code === 'EDNS';
}

function describe(error: unknown, where: string, timeoutSeconds: number): AttemptError {
  const e = (error ?? {}) as { code?: unknown; responseCode?: unknown; message?: unknown };
  const raw = typeof e.message === 'string' ? e.message : String(error);
  let why: string;
  // A certificate that is not trusted now will not be trusted on the next attempt.
  const certificate = /self[- ]signed|unable to verify|certificate/i.test(raw);
  if (e.code === 'ETIMEDOUT') why = `no answer within ${timeoutSeconds} s`;
  else if (e.code === 'EAUTH') why = `login refused (${raw.replace(/^Invalid login:\s*/i, '')})`;
  else if (certificate) {
    why = `${raw}; for a private relay with its own certificate set "allowSelfSigned": true`;
  } else {
    // "connect ECONNREFUSED 127.0.0.1:25", "getaddrinfo ENOTFOUND smtp.example.com": in words.
    const errno = /\b(E[A-Z_]{3,})\b/.exec(raw)?.[1];
    why = errno && NETWORK_WORDS[errno] ? NETWORK_WORDS[errno] : raw;
  }
  // The password is registered for redaction already; the message is redacted again to be sure.
  return new AttemptError(`${where}: ${redactText(why).split('\n')[0]}`, !certificate && retryable(e));
}

export function prepareEmail(channel: EmailChannel, message: NotifyMessage, env: NodeJS.ProcessEnv): ChannelAttempt {
  const smtp = channel.smtp;
  const tls: Tls = smtp.tls ?? 'auto';
  const port = smtp.port ?? DEFAULT_PORT[tls];
  const user = smtp.userEnv ? secretFromEnv(env, smtp.userEnv) : smtp.user;
  const pass = smtp.passwordEnv ? secretFromEnv(env, smtp.passwordEnv) : undefined;
  if (pass !== undefined && !user) throw new AttemptError('smtp.passwordEnv is set but no user: add smtp.user (or smtp.userEnv)', false);
  const where = `SMTP ${smtp.host}:${port}`;
  const tlsMode = transportTls(tls, port, pass !== undefined, smtp.host);
  return async (signal, timeoutSeconds) => {
    const ms = timeoutSeconds * 1000;
    // Loaded on the first email sent, not by every run that only imports the channels.
    const { default: nodemailer } = await import('nodemailer');
    const transport = nodemailer.createTransport({
      host: smtp.host,
      port,
      ...tlsMode,
      ...(user && pass !== undefined ? { auth: { user, pass } } : {}),
      tls: { rejectUnauthorized: smtp.allowSelfSigned !== true },
      connectionTimeout: ms,
      greetingTimeout: ms,
      socketTimeout: ms,
      dnsTimeout: ms,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        // nodemailer honours the signal too; this makes sure the attempt ends when it fires.
        const onAbort = (): void => {
          transport.close();
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        transport
          .sendMail({ from: channel.from, to: channel.to, subject: message.subject, text: message.body, signal })
          .then(
            () => resolve(),
            (error: unknown) => reject(error),
          )
          .finally(() => signal.removeEventListener('abort', onAbort));
      });
    } catch (error) {
      if (signal.aborted) {
        const reason: unknown = signal.reason;
        const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError';
        throw new AttemptError(timedOut ? `${where}: no answer within ${timeoutSeconds} s` : `${where}: cancelled`, timedOut);
      }
      throw describe(error, where, timeoutSeconds);
    } finally {
      transport.close();
    }
  };
}

/**
 * tlsOptions, except that "auto" with a login requires the upgrade, so a server (or someone
 * in between) that does not offer STARTTLS never gets the password in the clear. A relay on
 * this machine is exempt.
 */
export function transportTls(tls: Tls, port: number, login: boolean, host: string): { secure: boolean; requireTLS: boolean; ignoreTLS: boolean } {
  const options = tlsOptions(tls, port);
  if (tls === 'auto' && login && !options.secure && !isLoopbackHost(host)) options.requireTLS = true;
  return options;
}

/** 127.0.0.0/8, ::1, localhost: a relay on this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
