/**
 * `backup notify test` as a person runs it: the real CLI (dist/bin.js) with
 * a settings file, and real servers on 127.0.0.1 receiving the messages.
 * Also: no secret (a webhook URL, an SMTP password) ever reaches stdout,
 * stderr or the log file, even when a server echoes it back.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseJsonResult, runCli, signalWhen } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';
import { startHttp, startSmtp, type HttpRecorder, type SmtpRecorder } from '../helpers/notify-servers.js';

const servers: Array<HttpRecorder | SmtpRecorder> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function project(settings: Record<string, unknown>, dotEnv?: string): Promise<string> {
  const root = await tempDir();
  await fs.mkdir(path.join(root, 'config'));
  await fs.mkdir(path.join(root, 'data'));
  await fs.writeFile(path.join(root, 'config', 'settings.json'), JSON.stringify({ sources: ['./data'], ...settings }, null, 2));
  if (dotEnv !== undefined) await fs.writeFile(path.join(root, '.env'), dotEnv);
  return root;
}

/** The environment without any variable a test sets itself. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { SLACK_WEBHOOK_URL: undefined, ALERT_HOOK: undefined, SMTP_PASSWORD: undefined, ...extra };
}

describe('backup notify test', () => {
  it('one good and one failing channel: exit 1, one line each, the good one received the test message', async () => {
    const good = await startHttp();
    const bad = await startHttp(() => 500);
    servers.push(good, bad);
    const root = await project({
      job: 'www',
      notify: [
        { type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' },
        { type: 'webhook', name: 'home-assistant', urlEnv: 'ALERT_HOOK' },
      ],
    });
    const run = await runCli(['notify', 'test'], {
      cwd: root,
      env: cleanEnv({ SLACK_WEBHOOK_URL: `${good.origin}/services/T1/B1/tok`, ALERT_HOOK: `${bad.origin}/api/webhook/abc` }),
    });
    expect(run.code, run.stderr).toBe(1);
    const badHost = bad.origin.replace('http://', '');
    expect(run.stdout).toBe(`slack           (slack)    ok\nhome-assistant  (webhook)  failed: ${badHost} answered HTTP 500 (after 3 attempts)\n`);
    expect(run.stderr).toBe('');
    expect(good.requests).toHaveLength(1);
    const text = (JSON.parse(good.requests[0]!.body) as { text: string }).text;
    expect(text.split('\n')[0]).toBe(`*backup test message: www on ${os.hostname()}*`);
    expect(bad.requests).toHaveLength(3);
    const log = await fs.readFile(path.join(root, 'logs', 'backup.log'), 'utf8');
    expect(log).toMatch(/WARN {2}notification home-assistant \(webhook, test\) of job \S+ failed: .*HTTP 500/);
    expect(log).toMatch(/INFO {2}notify test: slack \(slack\) ok/);
  });

  it('every channel ok: exit 0; --json: {ok, exitCode, job, host, channels: [{channel, type, ok, attempts, error}], error}', async () => {
    const hc = await startHttp();
    servers.push(hc);
    const root = await project({ notify: [{ type: 'healthchecks', urlEnv: 'HC' }] });
    const run = await runCli(['notify', 'test', '--json'], { cwd: root, env: cleanEnv({ HC: `${hc.origin}/ping/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0` }) });
    expect(run.code, run.stderr).toBe(0);
    const jobName = path.basename(root);
    expect(parseJsonResult(run)).toEqual({
      ok: true,
      exitCode: 0,
      job: jobName,
      host: os.hostname(),
      channels: [{ channel: 'healthchecks', type: 'healthchecks', ok: true, attempts: 1, error: null }],
      error: null,
    });
    expect(hc.requests.map((r) => r.path)).toEqual(['/ping/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/log']);
  });

  it('a missing variable: that channel fails naming the variable (text and --json)', async () => {
    const root = await project({ notify: [{ type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' }] });
    const text = await runCli(['notify', 'test'], { cwd: root, env: cleanEnv() });
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('slack  (slack)  failed: SLACK_WEBHOOK_URL is not set (in the environment or .env)\n');
    const json = await runCli(['notify', 'test', '--json'], { cwd: root, env: cleanEnv() });
    expect(json.code).toBe(1);
    expect(parseJsonResult(json)).toMatchObject({
      ok: false,
      exitCode: 1,
      channels: [{ channel: 'slack', type: 'slack', ok: false, attempts: 0, error: 'SLACK_WEBHOOK_URL is not set (in the environment or .env)' }],
      error: { code: 'NOTIFY_FAILED', message: '1 of 1 channel(s) failed' },
    });
  });

  it('the URL may come from .env in the working folder', async () => {
    const server = await startHttp();
    servers.push(server);
    const root = await project({ notify: [{ type: 'webhook', urlEnv: 'ALERT_HOOK' }] }, `ALERT_HOOK=${server.origin}/from-dotenv\n`);
    const run = await runCli(['notify', 'test'], { cwd: root, env: cleanEnv() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(server.requests.map((r) => r.path)).toEqual(['/from-dotenv']);
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ event: 'test', job: path.basename(root), host: os.hostname() });
  });

  it('settings without "notify": exit 2, says how to add one with an example', async () => {
    const root = await project({});
    const run = await runCli(['notify', 'test'], { cwd: root, env: cleanEnv() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('has no "notify" channels to test. Add one, for example "notify": [{ "type": "slack", "urlEnv": "SLACK_WEBHOOK_URL" }]');
    const json = await runCli(['notify', 'test', '--json'], { cwd: root, env: cleanEnv() });
    expect(json.code).toBe(2);
    expect(parseJsonResult(json)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'NOTIFY_NOT_CONFIGURED' } });
  });

  it('no settings file at all: exit 2', async () => {
    const root = await tempDir();
    const run = await runCli(['notify', 'test'], { cwd: root, env: cleanEnv() });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: No settings file: give --config FILE/);
  });

  it('secrets never reach stdout, stderr or the log: a webhook URL with a token path, an SMTP password a server echoes back', async () => {
    const hook = await startHttp(() => 500);
    // A server that quotes the password in its refusal: the message must still not show it.
    const smtp = await startSmtp({ credentials: { user: 'backup', password: 'never-this-one' }, refusal: (user, pw) => `Invalid login for ${user} with password ${pw}` });
    servers.push(hook, smtp);
    const secretPath = '/services/T0SECRET9/B0SECRET9/Zq8TopSecretTokenValue77';
    const password = 'Sup3r-Secret-SMTP-pass';
    const root = await project(
      {
        logFile: './logs/backup.log',
        notify: [
          { type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL', timeoutSeconds: 2 },
          { type: 'email', name: 'ops-mail', smtp: { host: '127.0.0.1', port: smtp.port, tls: 'none', user: 'backup', passwordEnv: 'SMTP_PASSWORD' }, from: 'b@example.com', to: ['ops@example.com'] },
        ],
      },
      `SMTP_PASSWORD=${password}\n`,
    );
    for (const args of [['notify', 'test', '--verbose'], ['notify', 'test', '--json']]) {
      const run = await runCli(args, { cwd: root, env: cleanEnv({ SLACK_WEBHOOK_URL: `${hook.origin}${secretPath}` }) });
      expect(run.code).toBe(1);
      expect(smtp.logins.at(-1)).toEqual({ username: 'backup', password });
      const log = await fs.readFile(path.join(root, 'logs', 'backup.log'), 'utf8');
      for (const output of [run.stdout, run.stderr, log]) {
        expect(output).not.toContain('TopSecretTokenValue');
        expect(output).not.toContain('T0SECRET9');
        expect(output).not.toContain(password);
      }
      expect(run.stdout).toContain('ops-mail');
      expect(run.stdout).toContain('login refused');
      // The server's echo was there, and was redacted.
      expect(run.stdout).toContain('with password [redacted]');
    }
  });

  it('Ctrl-C while a server keeps it waiting: exit 130 at once, says so', async () => {
    const silent = await startHttp(() => 'hang');
    servers.push(silent);
    const root = await project({ notify: [{ type: 'webhook', urlEnv: 'ALERT_HOOK', timeoutSeconds: 60 }] });
    const run = await runCli(['notify', 'test'], {
      cwd: root,
      env: cleanEnv({ ALERT_HOOK: `${silent.origin}/slow` }),
      onSpawn: signalWhen(() => silent.requests.length > 0, 'SIGINT'),
    });
    expect(run.code).toBe(130);
    expect(run.stderr).toBe('Notify cancelled before every channel had answered.\n');
    expect(run.stdout).toBe('');
  });
});
