/**
 * Who may talk to `backup ui`: the built CLI started as a person starts it,
 * its printed URL used as a browser would, and every request a hostile page,
 * another local user or a DNS-rebinding site could send refused with the
 * status security.ts gives it. Secrets (the S3 key, a webhook URL named by
 * urlEnv) never reach a response.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { freshBucket, s3Env, s3Server } from '../helpers/s3.js';
import { startHttp, type HttpRecorder } from '../helpers/notify-servers.js';
import { rawRequest, startUi, UiClient, type UiProcess } from '../helpers/ui.js';

let root: string;
let ui: UiProcess;
let client: UiClient;
let hook: HttpRecorder;
/** The secret part of the webhook URL (its path, as a Slack or Healthchecks URL carries its token). */
const hookToken = `hook-${randomBytes(16).toString('hex')}`;
let hookUrl: string;
let bucket: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'backup-ui-security-'));
  await fs.mkdir(path.join(root, 'data/sub'), { recursive: true });
  await fs.writeFile(path.join(root, 'data/a.txt'), 'a\n');
  await fs.writeFile(path.join(root, 'data/sub/b.txt'), 'b\n');
  hook = await startHttp();
  hookUrl = `${hook.origin}/${hookToken}`;
  bucket = await freshBucket();
  await fs.mkdir(path.join(root, 'config'));
  await fs.writeFile(
    path.join(root, 'config/settings.json'),
    JSON.stringify(
      {
        sources: ['./data'],
        format: 'zip',
        name: 'sec-{date}-{time}',
        destinations: [
          { name: 'here', type: 'local', path: './backups' },
          { name: 'cloud', type: 's3', bucket, endpoint: s3Server().endpoint },
        ],
        notify: [{ type: 'webhook', urlEnv: 'BACKUP_TEST_HOOK', on: ['success', 'failure'] }],
      },
      null,
      2,
    ),
  );
  // A second job whose file holds a credential by mistake (user:password in a URL): shown redacted.
  await fs.writeFile(
    path.join(root, 'config/leaky.json'),
    JSON.stringify({ sources: ['./data'], destinations: [{ name: 'cloud', type: 's3', bucket, endpoint: `http://admin:${hookToken}@127.0.0.1:9/` }] }, null, 2),
  );
  ui = await startUi(['--config', 'config/settings.json', 'config/leaky.json', '--port', '0'], { cwd: root, env: { ...s3Env(), BACKUP_TEST_HOOK: hookUrl } });
  client = await UiClient.open(ui);
});

afterAll(async () => {
  await ui?.stop();
  await hook?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

const hostHeader = (): string => `127.0.0.1:${ui.port}`;

describe('the access token', () => {
  it('the printed URL is on 127.0.0.1 with a 256-bit token; it becomes an HttpOnly SameSite=Strict cookie and leaves the address bar', async () => {
    expect(ui.base).toBe(`http://127.0.0.1:${ui.port}`);
    expect(Buffer.from(ui.token, 'base64url')).toHaveLength(32);
    const first = await rawRequest(ui.base, ui.url);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    const cookies = first.headers['set-cookie']!;
    expect(cookies).toHaveLength(1);
    const attributes = cookies[0]!.split(';').map((p) => p.trim());
    expect(attributes[0]).toBe(`backup_ui_${ui.port}=${ui.token}`);
    expect(attributes.slice(1).map((a) => a.toLowerCase()).sort()).toEqual(['httponly', 'path=/', 'samesite=strict']);
    // The dashboard's own log says it started, never with the token.
    const log = await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8');
    expect(log).toMatch(/ui: serving 2 job\(s\)/);
    // How to reach it from another machine: the same port on both sides (the Host check needs it).
    expect(ui.stdout()).toMatch(new RegExp(`^  From another machine: ssh -L ${ui.port}:127\\.0\\.0\\.1:${ui.port} \\S+, then open the URL above there\\.$`, 'm'));
    expect(ui.stdout()).toMatch(/^  Jobs: \S+, \S+$/m);
    expect(log).not.toContain(ui.token);
  });

  it('no token: 401 for the page, the assets, the API and a POST', async () => {
    for (const target of ['/', '/assets/app.js', '/api/jobs', '/api/jobs/1/settings', '/api/actions']) {
      const res = await rawRequest(ui.base, target);
      expect(res.status, target).toBe(401);
      expect(res.body, target).not.toContain('csrf');
    }
    const api = await rawRequest(ui.base, '/api/jobs');
    expect(api.json()).toEqual({ error: { code: 'UI_REFUSED', message: expect.stringContaining('Open the URL `backup ui` printed') } });
    const post = await rawRequest(ui.base, '/api/jobs/1/run', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': client.csrf, origin: ui.base, 'sec-fetch-site': 'same-origin' },
      body: '{}',
    });
    expect(post.status).toBe(401);
    expect((await client.getJson('/api/actions')).actions).toEqual([]);
  });

  it('a wrong token is refused wherever it is given: cookie, bearer header, ?token=', async () => {
    const wrong = randomBytes(32).toString('base64url');
    const cases: Array<[string, Record<string, string>]> = [
      ['/api/jobs', { cookie: `backup_ui_${ui.port}=${wrong}` }],
      // The right token under another port's cookie name is another dashboard's.
      ['/api/jobs', { cookie: `backup_ui_${ui.port + 1}=${ui.token}` }],
      ['/api/jobs', { cookie: `backup_ui_${ui.port}=${ui.token.slice(0, -1)}` }],
      ['/api/jobs', { authorization: `Bearer ${wrong}` }],
      ['/api/jobs', { authorization: `Basic ${ui.token}` }],
      [`/?token=${wrong}`, {}],
    ];
    for (const [target, headers] of cases) {
      const res = await rawRequest(ui.base, target, { headers });
      expect(res.status, `${target} ${JSON.stringify(headers)}`).toBe(401);
      expect(res.headers['set-cookie'], target).toBeUndefined();
    }
    // Scripts may use the bearer header instead of the cookie.
    expect((await rawRequest(ui.base, '/api/jobs', { headers: { authorization: `Bearer ${ui.token}` } })).status).toBe(200);
    // A cookie of the same name planted by another service on this host (cookies ignore ports; a
    // narrower Path is sent first) does not lock the page out: any value that is the token counts.
    const planted = await rawRequest(ui.base, '/api/jobs', { headers: { cookie: `backup_ui_${ui.port}=${wrong}; backup_ui_${ui.port}=${ui.token}` } });
    expect(planted.status).toBe(200);
  });

  it('the first visit redirects only to a path of this server (//evil.example/x is not followed off-site)', async () => {
    for (const [target, location] of [
      [`//evil.example/x?token=${ui.token}`, '/'],
      [`///evil.example/x?token=${ui.token}`, '/'],
      [`/api/actions?token=${ui.token}`, '/api/actions'],
    ] as const) {
      const res = await new Promise<{ status: number; location?: string }>((resolve, reject) => {
        // The path exactly as given (URL parsing would read //evil.example as a host).
        const req = http.request({ host: '127.0.0.1', port: ui.port, path: target, headers: { host: hostHeader() }, agent: false }, (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode!, location: r.headers.location }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res, target).toEqual({ status: 303, location });
    }
  });

  it('a request body is read only up to its limit, also when it comes chunked with no length (413)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: ui.port,
          path: '/api/jobs/1/run',
          method: 'POST',
          headers: { host: hostHeader(), cookie: client.cookie, 'x-csrf-token': client.csrf, 'content-type': 'application/json', 'transfer-encoding': 'chunked', origin: ui.base },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', () => undefined); // the server may close before all of it is sent
      const piece = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const more = (): void => {
        while (sent < 64 && req.write(piece)) sent += 1;
        if (sent < 64) req.once('drain', () => {
          sent += 1;
          more();
        });
        else req.end();
      };
      more();
      req.on('close', () => reject(new Error('closed without an answer')));
    });
    expect(status).toBe(413);
    expect((await client.getJson('/api/actions')).actions).toEqual([]);
  });

  it('the Host header must be one this server answers to (DNS rebinding): 421 otherwise, even with the token', async () => {
    for (const host of ['evil.example', `evil.example:${ui.port}`, `127.0.0.1:${ui.port + 1}`, `127.0.0.1.evil.example:${ui.port}`, '127.0.0.1', `0.0.0.0:${ui.port}`]) {
      const res = await client.get('/api/jobs', { host });
      expect(res.status, host).toBe(421);
      expect(res.json().error.code).toBe('UI_REFUSED');
      const page = await rawRequest(ui.base, ui.url, { headers: { host } });
      expect(page.status, host).toBe(421);
      expect(page.headers['set-cookie'], host).toBeUndefined();
      const post = await client.post('/api/jobs/1/run', {}, { host, origin: `http://${host}` });
      expect(post.status, host).toBe(421);
    }
    for (const host of [`localhost:${ui.port}`, `LOCALHOST:${ui.port}`, `[::1]:${ui.port}`, hostHeader()]) {
      expect((await client.get('/api/actions', { host })).status, host).toBe(200);
    }
    expect((await client.getJson('/api/actions')).actions).toEqual([]);
  });
});

describe('requests that change something', () => {
  it('cross-site POSTs are refused (Sec-Fetch-Site, Origin, Origin: null) and start nothing', async () => {
    const cases: Array<Record<string, string>> = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'http://evil.example' },
      { origin: `http://evil.example:${ui.port}` },
      { origin: `https://127.0.0.1:${ui.port}` },
      { origin: `http://127.0.0.1:${ui.port + 1}` },
      { origin: 'null' },
      { origin: 'not a url' },
    ];
    for (const headers of cases) {
      const res = await client.post('/api/jobs/1/run', {}, headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.json().error).toEqual({ code: 'UI_REFUSED', message: expect.stringMatching(/^Cross-site request refused/) });
    }
    // A same-origin request from the other names of this host is fine as far as the origin goes.
    const viaLocalhost = await client.post('/api/actions/none/cancel', {}, { host: `localhost:${ui.port}`, origin: `http://localhost:${ui.port}` });
    expect(viaLocalhost.status).toBe(409);
    expect((await client.getJson('/api/actions')).actions).toEqual([]);
  });

  it('a POST without the CSRF token, or with a wrong one, is refused', async () => {
    for (const csrf of ['', 'wrong', ui.token, client.csrf.slice(1)]) {
      const res = await client.post('/api/jobs/1/run', {}, { 'x-csrf-token': csrf });
      expect(res.status, csrf).toBe(403);
      expect(res.json().error.message).toBe('Missing or wrong CSRF token: reload the page.');
    }
    const none = await rawRequest(ui.base, '/api/jobs/1/run', {
      method: 'POST',
      headers: { cookie: client.cookie, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: '{}',
    });
    expect(none.status).toBe(403);
    expect((await client.getJson('/api/actions')).actions).toEqual([]);
  });

  it('a POST that is not JSON (what an HTML form sends) is refused with 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
      const res = await client.post('/api/jobs/1/run', {}, { 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(res.json().error.message).toMatch(/JSON body/);
    }
    const noType = await rawRequest(ui.base, '/api/jobs/1/run', {
      method: 'POST',
      headers: { cookie: client.cookie, 'x-csrf-token': client.csrf },
      body: '{}',
    });
    expect(noType.status).toBe(415);
    expect((await client.getJson('/api/actions')).actions).toEqual([]);
  });

  it('methods other than GET, HEAD and POST: 405', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const res = await rawRequest(ui.base, '/api/jobs/1/settings', {
        method,
        headers: { cookie: client.cookie, 'x-csrf-token': client.csrf, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status, method).toBe(405);
    }
    expect((await client.get('/api/jobs/1/settings')).status).toBe(200);
  });
});

describe('what every response carries', () => {
  it('a CSP that allows nothing from another origin, nosniff, no framing, no caching', async () => {
    const responses = [await client.get('/'), await client.get('/api/jobs/1/settings'), await client.get('/assets/app.js'), await rawRequest(ui.base, '/api/jobs'), await client.get('/nowhere')];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 401, 404]);
    for (const res of responses) {
      const csp = String(res.headers['content-security-policy']);
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
      expect(directives.get('default-src')).toEqual(["'none'"]);
      expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
      for (const [name, values] of directives) {
        for (const value of values) expect(["'none'", "'self'", 'data:'], `${name} ${value}`).toContain(value);
      }
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    // The page loads its script and style from this server only.
    const page = responses[0]!.body;
    expect([...page.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]).filter((u) => !u!.startsWith('/') && !u!.startsWith('#'))).toEqual([]);
    expect(responses[2]!.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });
});

describe('secrets never reach the page', () => {
  it('after a run that used the S3 key and the webhook URL: jobs, settings, backups, actions and log responses hold neither', async () => {
    const run = await client.start('/api/jobs/1/run');
    const done = await client.finished(run.id);
    expect(done, JSON.stringify(done.error)).toMatchObject({ ok: true, exitCode: 0 });
    // The webhook really was called with the URL from the environment.
    expect(hook.requests.map((r) => r.path)).toEqual([`/${hookToken}`]);
    // An old log line written before these were secrets (or by another program) holds them in clear.
    const secret = s3Server().secretAccessKey;
    await fs.appendFile(
      path.join(root, 'logs/backup.log'),
      `${new Date().toISOString()} [run 1] ERROR  old failure: POST ${hookUrl} refused; key ${secret}\n`,
    );
    // The same in the run history (status shows the last failure's message), as a run that failed
    // after the successful one, written by a version that did not redact it.
    const historyFile = path.join(root, 'logs/history.jsonl');
    const end = JSON.parse((await fs.readFile(historyFile, 'utf8')).trim().split('\n').at(-1)!);
    const later = new Date(Date.parse(end.end) + 1000).toISOString();
    const failed = { ...end, id: randomBytes(8).toString('hex'), start: later, end: later, outcome: 'failed', exitCode: 1, archive: null, destinations: [], error: { code: 'S3_ERROR', message: `old failure: ${hookUrl} with ${secret}` } };
    await fs.appendFile(historyFile, `${JSON.stringify({ ...failed, type: 'start', end: null, outcome: 'running', exitCode: null, error: null })}\n${JSON.stringify({ ...failed, type: 'end' })}\n`);
    const jobs = await client.getJson('/api/jobs');
    expect(jobs.jobs[0].status.lastFailure.error).toBe('old failure: [redacted] with [redacted]');
    const targets = ['/api/jobs', '/api/jobs/1/settings', '/api/jobs/2/settings', '/api/jobs/1/backups', '/api/actions', `/api/actions/${run.id}`, '/api/jobs/1/log', '/api/jobs/1/log?level=error', '/'];
    const bodies: string[] = [];
    for (const target of targets) {
      const res = await client.get(target);
      expect(res.status, `${target}: ${res.body}`).toBe(200);
      bodies.push(res.body);
    }
    const events = client.events(run.id);
    await events.ended;
    bodies.push(JSON.stringify(events.events));
    for (const [i, body] of bodies.entries()) {
      const where = targets[i] ?? 'events';
      expect(body, where).not.toContain(secret);
      expect(body, where).not.toContain(hookToken);
    }
    const log = (await client.getJson('/api/jobs/1/log?level=error')).entries as Array<{ message: string }>;
    expect(log.at(-1)!.message).toMatch(/^old failure: POST \S*\[redacted\]\S* refused; key \[redacted\]$/);
  });

  it('a settings file holding a credential is shown redacted and cannot be saved from the page', async () => {
    const view = await client.getJson('/api/jobs/2/settings');
    expect(view).toMatchObject({ editable: false, why: expect.stringMatching(/holds a secret/) });
    expect(view.text).toContain('http://admin:[redacted]@127.0.0.1:9/');
    expect(view.text).not.toContain(hookToken);
    const save = await client.post('/api/jobs/2/settings', { text: view.text, version: view.version });
    expect(save.status).toBe(409);
    expect(await fs.readFile(path.join(root, 'config/leaky.json'), 'utf8')).toContain(hookToken);
  });
});

describe('starting it', () => {
  it('--host 0.0.0.0 warns that anyone who reaches the port and has the token gets in; the URL still names 127.0.0.1', async () => {
    const open = await startUi(['--config', 'config/settings.json', '--host', '0.0.0.0', '--port', '0'], { cwd: root, env: s3Env() });
    try {
      expect(open.stdout()).toMatch(
        new RegExp(`^warning: listening on 0\\.0\\.0\\.0, not only on this machine: anyone who can reach port ${open.port} and has the token can read and restore every backup of these jobs\\.$`, 'm'),
      );
      expect(open.base).toBe(`http://127.0.0.1:${open.port}`);
      const other = await UiClient.open(open);
      expect((await other.getJson('/api/jobs')).jobs).toHaveLength(1);
      // Reached by any address of this machine, or its name: those Host headers are its own; others are still refused.
      const addresses = Object.values(os.networkInterfaces())
        .flatMap((l) => l ?? [])
        .filter((i) => i.family === 'IPv4' && !i.internal)
        .map((i) => i.address);
      for (const address of addresses) {
        expect((await other.get('/api/actions', { host: `${address}:${open.port}` })).status, address).toBe(200);
        expect(open.stdout()).toContain(`  also: http://${address}:${open.port}/?token=${open.token}`);
      }
      expect((await other.get('/api/actions', { host: `${os.hostname()}:${open.port}` })).status).toBe(200);
      expect((await other.get('/api/actions', { host: `evil.example:${open.port}` })).status).toBe(421);
    } finally {
      expect((await open.stop()).code).toBe(0);
    }
    // Bound to 127.0.0.1 (the default), there is no warning.
    expect(ui.stdout()).not.toMatch(/warning/);
  });

  it.each([['70000'], ['http'], ['12.5'], ['']])('--port %j: usage error, exit 2, nothing served', async (port) => {
    const run = await runCli(['ui', '--config', 'config/settings.json', '--port', port], { cwd: root, env: s3Env() });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(`--port ${JSON.stringify(port)}: expected a port number from 1 to 65535 (or 0: any free port)`);
    expect(run.stdout).not.toMatch(/token=/);
  });

  it('a port in use: exit 2 naming it', async () => {
    const run = await runCli(['ui', '--config', 'config/settings.json', '--port', String(ui.port)], { cwd: root, env: s3Env() });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(`port ${ui.port} is in use`);
  });

  it('SIGTERM stops the dashboard: exit 0', async () => {
    const stopped = await ui.stop();
    expect(stopped).toEqual({ code: 0, signal: null });
    expect(ui.stdout()).toMatch(/Stopped\.\n$/);
  });
});
