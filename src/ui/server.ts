/**
 * `backup ui`'s HTTP side: a Hono app on node's http server. Every route
 * passes security.ts first (Host, token, CSRF). What a route does is done
 * by the CLI (cli-child.ts: status, list, run, verify, restore as child
 * processes) or by the library the CLI uses (the archive's index, the
 * settings schema, the log); this file only wires requests to them.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import { toBackupError } from '../errors.js';
import { expandHome } from '../config/expand-home.js';
import { loadSettings } from '../config/load-settings.js';
import { DEFAULT_LOG_FILE, mergeSettings } from '../config/merge-settings.js';
import { jobName } from '../automation/job.js';
import type { CliIO } from '../cli/io.js';
import { closeStores } from '../cli/stores.js';
import { isBareName, resolveBackupName } from '../cli/resolve-backup-name.js';
import { Actions, type ActionView } from './actions.js';
import { MAX_ARGV_BYTES, displayCommand, startCli, type CliLauncher } from './cli-child.js';
import { IndexCache, includePattern, listFolder, readIndex } from './archive-index.js';
import { readLogTail, parseLevel } from './log-tail.js';
import { readSettingsView, saveSettingsText } from './settings-edit.js';
import { registerJobSecrets } from './job-secrets.js';
import { allowedHosts, bracketHost, cookieName, isWildcard, refusal, sameSecret, type Policy, type RequestFacts, type Secrets } from './security.js';

export interface UiJob {
  id: string;
  /** Absolute path of the settings file. */
  file: string;
}

export interface UiServerOptions {
  /** The UI's own IO: env, cwd, home for what it runs and reads. */
  io: CliIO;
  jobs: UiJob[];
  launcher: CliLauncher;
  secrets: Secrets;
  host: string;
  port: number;
}

export interface UiServer {
  url: string;
  /** With --host 0.0.0.0 / ::, the URL on each other address of this machine. */
  otherUrls: string[];
  port: number;
  actions: Actions;
  close(): Promise<void>;
}

const ASSETS = new Set(['app.js', 'app.css', 'favicon.svg']);
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.html': 'text/html; charset=utf-8' };
const assetsDir = new URL('./assets/', import.meta.url);
/** Largest JSON body a request may send (a settings file is at most 1 MiB; its JSON string a little more). */
const MAX_BODY_BYTES = 3 * 1024 * 1024;
const MAX_INCLUDES = 10_000;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function facts(c: Context): RequestFacts {
  const h = (name: string): string | undefined => c.req.header(name) ?? undefined;
  return {
    method: c.req.method,
    host: h('host'),
    cookie: h('cookie'),
    authorization: h('authorization'),
    origin: h('origin'),
    secFetchSite: h('sec-fetch-site'),
    contentType: h('content-type'),
    csrfHeader: h('x-csrf-token'),
  };
}

class HttpProblem extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 413 | 422,
    message: string,
    readonly code = 'USAGE',
  ) {
    super(message);
  }
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const length = Number(c.req.header('content-length') ?? '0');
  if (length > MAX_BODY_BYTES) throw new HttpProblem(413, 'Request too large.');
  const text = await boundedText(c.req.raw.body, MAX_BODY_BYTES);
  let data: unknown;
  try {
    data = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpProblem(400, 'The request body is not JSON.');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new HttpProblem(400, 'Expected a JSON object.');
  return data as Record<string, unknown>;
}

/** The body as text, read as it arrives and given up past `max` bytes (a chunked body has no length to check first). */
async function boundedText(body: ReadableStream<Uint8Array> | null, max: number): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new HttpProblem(413, 'Request too large.');
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function text(value: unknown, field: string, max = 4096): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max || value.includes('\0')) throw new HttpProblem(400, `${field}: expected a non-empty string.`);
  return value;
}

/** A backup's name as `backup list` prints it (never a path or a URL). */
function backupName(value: unknown): string {
  const name = text(value, 'name', 1024);
  if (!isBareName(name)) throw new HttpProblem(400, 'name: a backup name as the list shows it, not a path.');
  return name;
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const { io, jobs, launcher, secrets } = options;
  const actions = new Actions(launcher, io.now);
  const indexes = new IndexCache();
  const addresses = isWildcard(options.host) ? machineAddresses() : [];
  const allowed = (port: number): Set<string> => allowedHosts(options.host, port, addresses, isWildcard(options.host) ? os.hostname() : undefined);
  const policy: Policy = { secrets, port: options.port, allowed: allowed(options.port) };
  const app = new Hono();

  const jobOf = (c: Context): UiJob => {
    const job = jobs.find((j) => j.id === c.req.param('job'));
    if (!job) throw new HttpProblem(404, 'No such job.');
    return job;
  };
  const shown = (file: string): string => {
    const rel = path.relative(io.cwd, file);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
  };
  const config = (job: UiJob): string => `--config=${shown(job.file)}`;
  // The secrets each job's settings name, known to this process's redaction before it shows
  // anything it did not write itself (the log); read again where the log is read (a channel
  // added since).
  const knowSecrets = async (job: UiJob): Promise<void> => {
    try {
      registerJobSecrets(await loadSettings(job.file), io.env, io.home);
    } catch {
      // A broken settings file names nothing that can be read.
    }
  };
  await Promise.all(jobs.map(knowSecrets));
  const cli = async (args: string[]): Promise<Record<string, unknown>> => {
    const outcome = await startCli(launcher, args).done;
    if (!outcome.json) throw new HttpProblem(409, outcome.problem ?? 'The command printed no result.', 'UI_CHILD');
    return outcome.json;
  };

  app.use('*', async (c, next) => {
    const query = c.req.query('token');
    const firstVisit = c.req.method === 'GET' && query !== undefined && sameSecret(query, secrets.token);
    const refused = refusal(facts(c), policy, firstVisit);
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    c.header('Cache-Control', 'no-store');
    if (refused) {
      return c.req.path.startsWith('/api/') ? c.json({ error: { code: 'UI_REFUSED', message: refused.reason } }, refused.status) : c.text(`${refused.reason}\n`, refused.status);
    }
    if (firstVisit) {
      // The token leaves the address bar (and the history) at once; from now on it is a cookie.
      c.header('Set-Cookie', `${cookieName(policy.port)}=${secrets.token}; HttpOnly; SameSite=Strict; Path=/`);
      // Only a path of this server: `//evil.example/x` would be read by the browser as another site.
      return c.redirect(c.req.path.startsWith('/') && !c.req.path.startsWith('//') && !c.req.path.startsWith('/\\') ? c.req.path : '/', 303);
    }
    await next();
  });

  app.onError((error, c) => {
    if (error instanceof HttpProblem) return c.json({ error: { code: error.code, message: error.message } }, error.status);
    const failure = toBackupError(error);
    return c.json({ error: { code: failure.code, message: failure.message } }, failure.exitCode === 2 ? 400 : 500);
  });

  app.get('/', async (c) => {
    const html = await fs.readFile(new URL('index.html', assetsDir), 'utf8');
    return c.html(html.replace('__CSRF__', secrets.csrf));
  });
  app.get('/assets/:file', async (c) => {
    const file = c.req.param('file');
    if (!ASSETS.has(file)) return c.text('Not found\n', 404);
    const body = await fs.readFile(new URL(file, assetsDir));
    return c.body(body, 200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  });

  // Jobs: the status of each (`backup status --json`), its destinations, what this page runs for it.
  app.get('/api/jobs', async (c) => {
    const status = jobs.length > 0 ? await cli(['status', '--json', ...jobs.map(config)]) : { jobs: [] };
    const statuses = Array.isArray(status.jobs) ? (status.jobs as Array<Record<string, unknown>>) : [];
    const list = await Promise.all(
      jobs.map(async (job) => {
        const found = statuses.find((s) => s.settingsFile === job.file) ?? null;
        let destinations: Array<{ name: string; type: string }> = [];
        let settingsError: string | null = null;
        let settings: Awaited<ReturnType<typeof loadSettings>> | undefined;
        try {
          settings = await loadSettings(job.file);
          destinations = mergeSettings(settings, {}, io.env).destinations.map((d) => ({ name: d.name, type: d.type }));
        } catch (error) {
          settingsError = toBackupError(error).message;
        }
        return {
          id: job.id,
          file: shown(job.file),
          name: (found?.name as string | undefined) ?? jobName(job.file, settings),
          status: found,
          destinations,
          settingsError,
          running: actions.running().filter((a) => a.job === job.id),
          commands: { run: displayCommand(['run', config(job)]), status: displayCommand(['status', config(job)]) },
        };
      }),
    );
    return c.json({ jobs: list, cwd: io.cwd });
  });

  app.get('/api/jobs/:job/backups', async (c) => {
    const job = jobOf(c);
    const args = ['list', '--json', config(job)];
    const result = await cli(args);
    return c.json({ ...result, command: displayCommand(args) });
  });

  const started = (c: Context, view: ActionView): Response => c.json({ action: view }, 202);

  app.post('/api/jobs/:job/run', async (c) => {
    const job = jobOf(c);
    await jsonBody(c);
    // The job's name as `backup status` gives it.
    const name = jobName(job.file, await loadSettings(job.file).catch(() => undefined));
    return started(c, actions.start({ kind: 'run', job: job.id, title: `backup of ${name}`, args: ['run', config(job), '--json'] }));
  });

  app.post('/api/jobs/:job/verify', async (c) => {
    const job = jobOf(c);
    const body = await jsonBody(c);
    const name = backupName(body.name);
    const from = text(body.from, 'from', 200);
    return started(c, actions.start({ kind: 'verify', job: job.id, title: `verify ${name} on ${from}`, args: ['verify', config(job), `--from=${from}`, '--json', '--', name] }));
  });

  app.post('/api/jobs/:job/restore', async (c) => {
    const job = jobOf(c);
    const body = await jsonBody(c);
    const name = backupName(body.name);
    const from = text(body.from, 'from', 200);
    const to = text(body.to, 'to');
    const paths = body.paths === undefined ? [] : body.paths;
    if (!Array.isArray(paths) || paths.length > MAX_INCLUDES || !paths.every((p) => typeof p === 'string' && p !== '' && p.length <= 4096 && !p.includes('\0'))) {
      throw new HttpProblem(400, `paths: expected a list of at most ${MAX_INCLUDES} paths inside the backup.`);
    }
    const includes = (paths as string[]).map(includePattern);
    const includeBytes = includes.reduce((sum, p) => sum + Buffer.byteLength(p) + 1, 0);
    if (includeBytes > MAX_ARGV_BYTES / 2) {
      throw new HttpProblem(400, `paths: ${paths.length} paths are too long for one command line (${includeBytes} bytes): pick the folders that hold them, or fewer at a time.`);
    }
    // `preview`: only the command line, for the page to show before anything runs.
    const args = ['restore', config(job), `--from=${from}`, `--to=${to}`, ...(body.overwrite === true ? ['--overwrite'] : []), '--json'];
    if (includes.length > 0) args.push('--include', ...includes);
    args.push('--', name);
    if (body.preview === true) return c.json({ command: displayCommand(args) });
    return started(c, actions.start({ kind: 'restore', job: job.id, title: `restore ${name} from ${from} to ${to}`, args }));
  });

  // One folder of a backup's contents, from the archive's index (read once, kept for the next look).
  app.get('/api/jobs/:job/tree', async (c) => {
    const job = jobOf(c);
    const name = backupName(c.req.query('name'));
    const from = text(c.req.query('from'), 'from', 200);
    const folder = c.req.query('path') ?? '';
    // The first look reads the archive's index (a tar: the whole archive); a page that goes away
    // does not cut it short, the next look finds it kept.
    const treeIo = childIo(io);
    try {
      const settings = await loadSettings(job.file);
      const { store, name: found } = await resolveBackupName(treeIo, { file: job.file, settings }, name, { config: job.file, from: [from] });
      const stat = await store.stat(found, treeIo.signal);
      if (!stat) throw new HttpProblem(404, `${name} is not on ${from} any more.`, 'ARCHIVE_NOT_FOUND');
      const index = await indexes.get(store.locationOf(found), stat, () => readIndex(store, found, { envPath: io.env.PATH, signal: treeIo.signal }));
      return c.json(listFolder(index, folder));
    } finally {
      await closeStores(treeIo);
    }
  });

  app.get('/api/jobs/:job/settings', async (c) => {
    const job = jobOf(c);
    const view = await readSettingsView(job.file);
    // Quoted by the server as every other command it shows (a file name with a space).
    const commands = { scheduleInstall: displayCommand(['schedule', 'install', config(job)]), notifyTest: displayCommand(['notify', 'test', config(job)]) };
    return c.json({ ...view, file: shown(view.file), commands });
  });

  app.post('/api/jobs/:job/settings', async (c) => {
    const job = jobOf(c);
    const body = await jsonBody(c);
    if (typeof body.text !== 'string' || typeof body.version !== 'string') throw new HttpProblem(400, 'Expected { text, version }.');
    const outcome = await saveSettingsText(job.file, body.text, body.version);
    if (!outcome.ok) return c.json({ ok: false, problems: outcome.problems }, outcome.status);
    return c.json({ ok: true, version: outcome.version });
  });

  app.get('/api/jobs/:job/log', async (c) => {
    const job = jobOf(c);
    let logFile = DEFAULT_LOG_FILE;
    try {
      const settings = await loadSettings(job.file);
      registerJobSecrets(settings, io.env, io.home);
      logFile = settings.logFile ?? DEFAULT_LOG_FILE;
    } catch {
      // A broken settings file: its runs log where `backup run` logs then, the default.
    }
    const file = path.resolve(io.cwd, expandHome(logFile, io.home));
    const tail = await readLogTail(file, parseLevel(c.req.query('level')));
    return c.json({ ...tail, file: shown(tail.file) });
  });

  app.get('/api/actions', (c) => c.json({ actions: actions.list() }));
  app.get('/api/actions/:id', (c) => {
    const view = actions.get(c.req.param('id'));
    return view ? c.json({ action: view }) : c.json({ error: { code: 'USAGE', message: 'No such action (the last 50 are kept).' } }, 404);
  });
  app.post('/api/actions/:id/cancel', async (c) => {
    await jsonBody(c);
    const ok = actions.cancel(c.req.param('id'));
    return ok ? c.json({ ok: true }) : c.json({ error: { code: 'USAGE', message: 'Not running.' } }, 409);
  });
  // Live progress: the state now, then every change until the action ends. A page that goes
  // away only stops listening.
  app.get('/api/actions/:id/events', (c) => {
    const view = actions.get(c.req.param('id'));
    if (!view) return c.json({ error: { code: 'USAGE', message: 'No such action.' } }, 404);
    return streamSSE(c, async (stream) => {
      let resolveEnd: () => void = () => undefined;
      const ended = new Promise<void>((resolve) => (resolveEnd = resolve));
      let queue = Promise.resolve();
      const send = (event: string, data: unknown): void => {
        queue = queue.then(() => stream.writeSSE({ event, data: JSON.stringify(data) })).catch(() => resolveEnd());
      };
      send('state', view);
      if (view.state === 'done') {
        await queue;
        return;
      }
      const stop = actions.subscribe(view.id, (event) => {
        send(event.type === 'log' ? 'log' : 'state', event.type === 'log' ? { line: event.line } : event.action);
        if (event.type === 'done') void queue.then(resolveEnd);
      });
      stream.onAbort(() => {
        stop();
        resolveEnd();
      });
      await ended;
      stop();
      await queue;
    });
  });

  app.notFound((c) => (c.req.path.startsWith('/api/') ? c.json({ error: { code: 'USAGE', message: 'Not found.' } }, 404) : c.text('Not found\n', 404)));

  const server: ServerType = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  policy.port = port;
  policy.allowed = allowed(port);
  const urlFor = (host: string): string => `http://${bracketHost(host)}:${port}/?token=${secrets.token}`;
  return {
    url: urlFor(isWildcard(options.host) ? '127.0.0.1' : options.host),
    otherUrls: addresses.filter((a) => a !== '127.0.0.1' && a !== '::1').map(urlFor),
    port,
    actions,
    async close() {
      await actions.stopAll();
      const http = server as { closeAllConnections?: () => void; closeIdleConnections?: () => void };
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        http.closeIdleConnections?.();
        // The pages watching a run get its last event (the streams end after it) before the rest is cut.
        setTimeout(() => http.closeAllConnections?.(), 1000).unref();
      });
    },
  };
}

/** This machine's addresses (every interface), for a server bound to all of them. */
function machineAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => !(i.family === 'IPv6' && i.address.toLowerCase().startsWith('fe80')))
    .map((i) => i.address);
}

/** An IO of its own for in-process work (the tree): the UI's environment and signal, its own stores. */
function childIo(io: CliIO): CliIO {
  return { ...io, stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
}
