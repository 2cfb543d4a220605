/**
 * sendNotifications against real servers on 127.0.0.1: an HTTP server for
 * slack / webhook / healthchecks (what arrives: method, path, body), one
 * answering 500, one answering 500 then 200, one never answering, a 404; and
 * a real SMTP server (smtp-server), plain, implicit TLS and STARTTLS with a
 * self-signed certificate made by openssl, the mail parsed with mailparser.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NotifyChannel } from '../../src/config/notify-schema.js';
import { sendNotifications, channelWants, type NotifyContext } from '../../src/automation/notify/send.js';
import type { HistoryRecord, NotifyEvent } from '../../src/automation/types.js';
import type { Logger } from '../../src/log/logger-types.js';
import { redactText } from '../../src/log/redact.js';
import { selfSignedCert, startHttp, startSmtp, type HttpRecorder, type SmtpRecorder } from '../helpers/notify-servers.js';
import { tempDir } from '../helpers/fixtures.js';

const servers: Array<HttpRecorder | SmtpRecorder> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function http(answer?: Parameters<typeof startHttp>[0]): Promise<HttpRecorder> {
  const server = await startHttp(answer);
  servers.push(server);
  return server;
}

interface Captured {
  logger: Logger;
  warnings: string[];
}

function capture(): Captured {
  const warnings: string[] = [];
  return {
    warnings,
    logger: { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (message) => warnings.push(message) },
  };
}

function ctx(env: NodeJS.ProcessEnv, logger: Logger, extra: Partial<NotifyContext> = {}): NotifyContext {
  return { env, logger, retryDelaysMs: [50, 100], ...extra };
}

const RUN_ID = '8a1c3f7e-2b4d-4e5f-9a6b-7c8d9e0f1a2b';

const failedRun: HistoryRecord = {
  v: 1,
  type: 'end',
  id: RUN_ID,
  job: 'config:/srv/www/config/settings.json',
  jobName: 'www',
  command: 'run',
  host: 'host1',
  pid: 4242,
  start: '2026-11-30T02:30:00.000Z',
  end: '2026-11-30T02:31:12.000Z',
  outcome: 'failed',
  exitCode: 1,
  archive: 'www-20261130-023000.tar.gz',
  bytes: 2254857830,
  files: 1234,
  skipped: 0,
  destinations: [
    { name: 'local', type: 'local', ok: false, location: '/backups', error: { code: 'DISK_FULL', message: 'no space left on /backups' } },
    { name: 's3', type: 's3', ok: true, location: 's3://b/host1/www-20261130-023000.tar.gz', bytes: 2254857830, error: null },
  ],
  error: { code: 'DISK_FULL', message: 'no space left on /backups', hint: 'disk full on /backups: 120 MB free, last archive was 2.1 GB' },
};

const failure: NotifyEvent = { event: 'failure', job: 'www', host: 'host1', at: new Date('2026-11-30T02:31:12Z'), run: failedRun };

describe('HTTP channels: what arrives', () => {
  it('slack POSTs {text} JSON to the webhook path, with job, host, error and hint', async () => {
    const server = await http();
    const env = { SLACK_WEBHOOK_URL: `${server.origin}/services/T000/B000/slackSecretToken1` };
    const outcomes = await sendNotifications([{ type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' }], failure, ctx(env, capture().logger));
    expect(outcomes).toEqual([{ channel: 'slack', type: 'slack', event: 'failure', ok: true, attempts: 1 }]);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/services/T000/B000/slackSecretToken1');
    expect(request!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(request!.body) as { text: string };
    expect(body.text).toMatch(/^\*backup FAILED: www on host1\*\n/);
    expect(body.text).toContain('no space left on /backups');
    expect(body.text).toContain('disk full on /backups: 120 MB free, last archive was 2.1 GB');
    expect(body.text).toContain('www-20261130-023000.tar.gz (2.1 GiB, 1234 files)');
  });

  it('webhook POSTs the run result with job, host and event added; a late event without a result sends {event, job, host, at, reason}', async () => {
    const server = await http();
    const env = { HOOK: `${server.origin}/hook/abc` };
    const channel: NotifyChannel = { type: 'webhook', urlEnv: 'HOOK', on: ['failure', 'late'] };
    const result = { ok: false, exitCode: 1, archive: null, bytes: 0, error: { code: 'DISK_FULL', message: 'no space left on /backups' }, destinations: [] };
    const withResult = await sendNotifications([channel], { ...failure, result }, ctx(env, capture().logger));
    expect(withResult[0]!.ok).toBe(true);
    const late: NotifyEvent = { event: 'late', job: 'www', host: 'host1', at: new Date('2026-12-01T08:00:00Z'), reason: 'no successful run since 2026-11-28 02:30 UTC, expected every 24 h' };
    expect((await sendNotifications([channel], late, ctx(env, capture().logger)))[0]!.ok).toBe(true);

    expect(server.requests.map((r) => [r.method, r.path])).toEqual([
      ['POST', '/hook/abc'],
      ['POST', '/hook/abc'],
    ]);
    const first = JSON.parse(server.requests[0]!.body) as Record<string, unknown>;
    expect(first).toMatchObject({ ...result, job: 'www', host: 'host1', event: 'failure' });
    expect(first.text).toContain('backup FAILED: www on host1');
    const second = JSON.parse(server.requests[1]!.body) as Record<string, unknown>;
    expect(second).toMatchObject({ event: 'late', job: 'www', host: 'host1', at: '2026-12-01T08:00:00.000Z', reason: late.reason });
    expect(second.text).toBe('backup late: www on host1 (no successful run since 2026-11-28 02:30 UTC, expected every 24 h)');
  });

  it('healthchecks pings /start, the URL, /fail and /log with ?rid= pairing start and end; the body is the summary', async () => {
    const server = await http();
    const env = { HC_URL: `${server.origin}/ping/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0` };
    const channels: NotifyChannel[] = [{ type: 'healthchecks', urlEnv: 'HC_URL' }];
    const c = ctx(env, capture().logger);
    const okRun: HistoryRecord = { ...failedRun, outcome: 'ok', exitCode: 0, error: null, destinations: [failedRun.destinations[1]!] };
    for (const event of [
      { event: 'start', job: 'www', host: 'host1', at: new Date(), run: { ...okRun, type: 'start', outcome: 'running' } },
      { event: 'success', job: 'www', host: 'host1', at: new Date(), run: okRun },
      failure,
      { event: 'test', job: 'www', host: 'host1', at: new Date() },
      { event: 'late', job: 'www', host: 'host1', at: new Date(), reason: 'no run' },
      { event: 'recovered', job: 'www', host: 'host1', at: new Date(), run: okRun },
    ] satisfies NotifyEvent[]) {
      for (const outcome of await sendNotifications(channels, event, c)) expect(outcome.ok).toBe(true);
    }
    const base = '/ping/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    // late and recovered are not the outside service's business by default (it sees the pings stop and resume).
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST ${base}/start?rid=${RUN_ID}`,
      `POST ${base}?rid=${RUN_ID}`,
      `POST ${base}/fail?rid=${RUN_ID}`,
      `POST ${base}/log`,
    ]);
    expect(server.requests[2]!.body).toBe('backup FAILED: www on host1: no space left on /backups (disk full on /backups: 120 MB free, last archive was 2.1 GB)');
    expect(server.requests[1]!.body).toBe('backup ok: www on host1: www-20261130-023000.tar.gz (2.1 GiB)');
  });
});

describe('bounded sending', () => {
  it('a server answering 500 is retried, then the outcome is failed (host named, never the URL) and logged as a warning', async () => {
    const server = await http(() => 500);
    const env = { SLACK_WEBHOOK_URL: `${server.origin}/services/T1/B1/tokenThatIsSecret` };
    const { logger, warnings } = capture();
    const [outcome] = await sendNotifications([{ type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL', name: 'team-chat' }], failure, ctx(env, logger));
    expect(server.requests).toHaveLength(3);
    expect(outcome).toMatchObject({ channel: 'team-chat', type: 'slack', ok: false, attempts: 3 });
    expect(outcome!.error).toBe(`${server.origin.replace('http://', '')} answered HTTP 500 (after 3 attempts)`);
    expect(outcome!.error).not.toContain('tokenThatIsSecret');
    expect(warnings).toEqual([`notification team-chat (slack, failure) of job www failed: ${outcome!.error}`]);
  });

  it('500 then 200: ok after the retry', async () => {
    const server = await http((_r, i) => (i === 0 ? 500 : 200));
    const env = { HOOK: `${server.origin}/x` };
    const [outcome] = await sendNotifications([{ type: 'webhook', urlEnv: 'HOOK' }], failure, ctx(env, capture().logger));
    expect(outcome).toMatchObject({ ok: true, attempts: 2 });
    expect(server.requests).toHaveLength(2);
  });

  it('429 is retried; 404 is not (a wrong URL does not become right)', async () => {
    const limited = await http((_r, i) => (i < 2 ? 429 : 200));
    const missing = await http(() => 404);
    const env = { A: `${limited.origin}/a`, B: `${missing.origin}/b` };
    const outcomes = await sendNotifications(
      [
        { type: 'webhook', urlEnv: 'A', name: 'a' },
        { type: 'webhook', urlEnv: 'B', name: 'b' },
      ],
      failure,
      ctx(env, capture().logger),
    );
    expect(outcomes[0]).toMatchObject({ channel: 'a', ok: true, attempts: 3 });
    expect(outcomes[1]).toMatchObject({ channel: 'b', ok: false, attempts: 1 });
    expect(outcomes[1]!.error).toContain('HTTP 404 (the URL is wrong or the webhook was deleted)');
    expect(missing.requests).toHaveLength(1);
  });

  it('a server that never answers: the call returns, the outcome is failed after its timeouts, the other channel is unaffected', async () => {
    const silent = await http(() => 'hang');
    const good = await http();
    const env = { SILENT: `${silent.origin}/never`, GOOD: `${good.origin}/fine` };
    const outcomes = await sendNotifications(
      [
        { type: 'webhook', urlEnv: 'SILENT', name: 'silent', timeoutSeconds: 1 },
        { type: 'slack', urlEnv: 'GOOD', name: 'good' },
      ],
      failure,
      ctx(env, capture().logger),
    );
    expect(outcomes[0]).toMatchObject({ channel: 'silent', ok: false, attempts: 3 });
    expect(outcomes[0]!.error).toContain('within 1 s');
    expect(outcomes[1]).toMatchObject({ channel: 'good', ok: true, attempts: 1 });
    expect(silent.requests).toHaveLength(3);
  });

  it("the caller's signal cancels sending: the call returns with a failed outcome", async () => {
    const silent = await http(() => 'hang');
    const controller = new AbortController();
    const env = { SILENT: `${silent.origin}/never` };
    const pending = sendNotifications([{ type: 'webhook', urlEnv: 'SILENT' }], failure, ctx(env, capture().logger, { signal: controller.signal }));
    // Cancel once the request has arrived (the event, not a guessed delay).
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (silent.requests.length > 0) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    controller.abort(new Error('Ctrl-C'));
    const [outcome] = await pending;
    expect(outcome).toMatchObject({ ok: false, attempts: 1 });
    expect(outcome!.error).toContain('cancelled');
  });

  it('a missing environment variable fails that channel only, naming the variable; an unreachable port is a network error', async () => {
    const good = await http();
    const closed = await startHttp();
    const closedOrigin = closed.origin;
    await closed.close();
    const env = { GOOD: `${good.origin}/ok`, DOWN: `${closedOrigin}/down`, BAD: 'not a url at all' };
    const outcomes = await sendNotifications(
      [
        { type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' },
        { type: 'webhook', urlEnv: 'GOOD' },
        { type: 'webhook', urlEnv: 'DOWN', name: 'down' },
        { type: 'healthchecks', urlEnv: 'BAD' },
      ],
      failure,
      ctx(env, capture().logger),
    );
    expect(outcomes.map((o) => [o.channel, o.ok, o.error])).toEqual([
      ['slack', false, 'SLACK_WEBHOOK_URL is not set (in the environment or .env)'],
      ['webhook', true, undefined],
      ['down', false, `cannot reach ${closedOrigin.replace('http://', '')}: connection refused (after 3 attempts)`],
      ['healthchecks', false, 'BAD is not a URL (expected https://...)'],
    ]);
  });

  it('every URL read is registered for redaction (a Slack URL is its own credential)', async () => {
    const server = await http();
    const url = `${server.origin}/services/TREDACT/BREDACT/redactMeTokenXYZ`;
    await sendNotifications([{ type: 'slack', urlEnv: 'S' }], failure, ctx({ S: url }, capture().logger));
    expect(redactText(`posting to ${url}`)).toBe('posting to [redacted]');
    expect(redactText('path /services/TREDACT/BREDACT/redactMeTokenXYZ')).toBe('path [redacted]');
  });
});

describe('which channel gets which event', () => {
  const slack: NotifyChannel = { type: 'slack', urlEnv: 'X' };
  const lateOnly: NotifyChannel = { type: 'slack', urlEnv: 'X', on: ['late'] };
  const successOnly: NotifyChannel = { type: 'webhook', urlEnv: 'X', on: ['success'] };
  const hc: NotifyChannel = { type: 'healthchecks', urlEnv: 'X' };
  it.each([
    [slack, 'failure', true],
    [slack, 'warning', true],
    [slack, 'late', true],
    [slack, 'success', false],
    [slack, 'recovered', true],
    [slack, 'test', true],
    [slack, 'start', false],
    [lateOnly, 'failure', false],
    [lateOnly, 'recovered', true],
    [successOnly, 'recovered', false],
    [successOnly, 'test', true],
    [hc, 'start', true],
    [hc, 'success', true],
    [hc, 'failure', true],
    [hc, 'late', false],
    [hc, 'recovered', false],
    [hc, 'test', true],
  ] as const)('%j gets %s: %s', (channel, kind, expected) => {
    expect(channelWants(channel, kind)).toBe(expected);
  });

  it('a channel that does not want the event is not in the outcomes and nothing is sent', async () => {
    const server = await http();
    const outcomes = await sendNotifications([{ type: 'webhook', urlEnv: 'H', on: ['late'] }], failure, ctx({ H: `${server.origin}/h` }, capture().logger));
    expect(outcomes).toEqual([]);
    expect(server.requests).toEqual([]);
  });
});

describe('email (a real SMTP server)', () => {
  async function smtp(options?: Parameters<typeof startSmtp>[0]): Promise<SmtpRecorder> {
    const server = await startSmtp(options);
    servers.push(server);
    return server;
  }

  it('plain SMTP with a login: recipients, subject and a body with job, host, archive, error and hint', async () => {
    const server = await smtp({ credentials: { user: 'backup', password: 'smtp-Pa55word-secret' } });
    const channel: NotifyChannel = {
      type: 'email',
      name: 'ops-mail',
      smtp: { host: '127.0.0.1', port: server.port, tls: 'none', user: 'backup', passwordEnv: 'SMTP_PASSWORD' },
      from: 'backup@host1.example',
      to: ['ops@example.com', 'oncall@example.com'],
    };
    const [outcome] = await sendNotifications([channel], failure, ctx({ SMTP_PASSWORD: 'smtp-Pa55word-secret' }, capture().logger));
    expect(outcome).toEqual({ channel: 'ops-mail', type: 'email', event: 'failure', ok: true, attempts: 1 });
    expect(server.logins).toEqual([{ username: 'backup', password: 'smtp-Pa55word-secret' }]);
    expect(server.mails).toHaveLength(1);
    const mail = server.mails[0]!;
    expect(mail.from).toBe('backup@host1.example');
    expect(mail.to).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(mail.parsed.subject).toBe('backup FAILED: www on host1');
    const text = mail.parsed.text ?? '';
    for (const expected of ['Job:      www', 'Host:     host1', 'www-20261130-023000.tar.gz (2.1 GiB, 1234 files)', 'no space left on /backups [DISK_FULL]', 'Hint:     disk full on /backups: 120 MB free, last archive was 2.1 GB', 'took 1m12s']) {
      expect(text).toContain(expected);
    }
    expect(redactText('login smtp-Pa55word-secret')).toBe('login [redacted]');
  });

  it('a wrong password is a failed outcome, not retried (a 5xx answer), naming the server', async () => {
    const server = await smtp({ credentials: { user: 'backup', password: 'right-password' } });
    const channel: NotifyChannel = {
      type: 'email',
      smtp: { host: '127.0.0.1', port: server.port, tls: 'none', user: 'backup', passwordEnv: 'PW' },
      from: 'backup@host1.example',
      to: ['ops@example.com'],
    };
    const [outcome] = await sendNotifications([channel], failure, ctx({ PW: 'wrong-password' }, capture().logger));
    expect(outcome).toMatchObject({ ok: false, attempts: 1 });
    expect(outcome!.error).toMatch(new RegExp(`^SMTP 127\\.0\\.0\\.1:${server.port}: login refused`));
    expect(outcome!.error).not.toContain('wrong-password');
    expect(server.mails).toEqual([]);
  });

  it('implicit TLS with a self-signed certificate: refused without allowSelfSigned (not retried), delivered with it', async () => {
    const dir = await tempDir();
    const cert = await selfSignedCert(dir);
    const server = await smtp({ tls: cert });
    const base = { type: 'email' as const, from: 'backup@host1.example', to: ['ops@example.com'] };
    const strict: NotifyChannel = { ...base, name: 'strict', smtp: { host: '127.0.0.1', port: server.port, tls: 'implicit' } };
    const relaxed: NotifyChannel = { ...base, name: 'relaxed', smtp: { host: '127.0.0.1', port: server.port, tls: 'implicit', allowSelfSigned: true } };
    const outcomes = await sendNotifications([strict, relaxed], { event: 'test', job: 'www', host: 'host1', at: new Date('2026-12-01T08:00:00Z') }, ctx({}, capture().logger));
    expect(outcomes[0]).toMatchObject({ channel: 'strict', ok: false, attempts: 1 });
    expect(outcomes[0]!.error).toContain('"allowSelfSigned": true');
    expect(outcomes[1]).toMatchObject({ channel: 'relaxed', ok: true, attempts: 1 });
    expect(server.mails).toHaveLength(1);
    expect(server.mails[0]!.parsed.subject).toBe('backup test message: www on host1');
  });

  it('STARTTLS required, with a self-signed certificate allowed', async () => {
    const dir = await tempDir();
    const server = await smtp({ starttls: await selfSignedCert(dir) });
    const channel: NotifyChannel = {
      type: 'email',
      smtp: { host: '127.0.0.1', port: server.port, tls: 'starttls', allowSelfSigned: true },
      from: 'backup@host1.example',
      to: ['ops@example.com'],
    };
    const [outcome] = await sendNotifications([channel], failure, ctx({}, capture().logger));
    expect(outcome).toMatchObject({ ok: true });
    expect(server.mails[0]!.parsed.subject).toBe('backup FAILED: www on host1');
  });

  it('STARTTLS required but the server offers none: failed, never sent in the clear', async () => {
    const server = await smtp();
    const channel: NotifyChannel = {
      type: 'email',
      smtp: { host: '127.0.0.1', port: server.port, tls: 'starttls' },
      from: 'backup@host1.example',
      to: ['ops@example.com'],
    };
    const [outcome] = await sendNotifications([channel], failure, ctx({}, capture().logger));
    expect(outcome!.ok).toBe(false);
    expect(server.mails).toEqual([]);
  });
});

describe('many channels at once', () => {
  it('20 channels retrying in parallel: every outcome returned, no listener-leak warnings', async () => {
    const server = await http((_r, i) => (i < 20 ? 503 : 200));
    const channels: NotifyChannel[] = Array.from({ length: 20 }, (_v, i) => ({ type: 'webhook', urlEnv: 'H', name: `hook-${i}` }));
    const outcomes = await sendNotifications(channels, failure, ctx({ H: `${server.origin}/h` }, capture().logger));
    expect(outcomes).toHaveLength(20);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(server.requests).toHaveLength(40);
  });
});

describe('email: an SMTP server that never answers, or is not there', () => {
  it('a server that accepts the connection and never greets: failed within its timeouts, bounded', async () => {
    const net = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    try {
      const channel: NotifyChannel = { type: 'email', timeoutSeconds: 1, smtp: { host: '127.0.0.1', port, tls: 'none' }, from: 'b@example.com', to: ['ops@example.com'] };
      const [outcome] = await sendNotifications([channel], failure, ctx({}, capture().logger));
      expect(outcome).toMatchObject({ ok: false, attempts: 3 });
      expect(outcome!.error).toMatch(/^SMTP 127\.0\.0\.1:\d+: no answer within 1 s \(after 3 attempts\)$/);
      expect(sockets.length).toBe(3);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('nothing listening: "connection refused", in words', async () => {
    const closed = await startSmtp();
    const port = closed.port;
    await closed.close();
    const channel: NotifyChannel = { type: 'email', smtp: { host: '127.0.0.1', port, tls: 'none' }, from: 'b@example.com', to: ['ops@example.com'] };
    const [outcome] = await sendNotifications([channel], failure, ctx({}, capture().logger));
    expect(outcome!.error).toBe(`SMTP 127.0.0.1:${port}: connection refused (after 3 attempts)`);
  });
});
