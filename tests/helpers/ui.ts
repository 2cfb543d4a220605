/**
 * `backup ui` as a person starts it: the built CLI as a child process
 * (`node dist/bin.js ui --port 0 ...`), its printed URL parsed, and a small
 * HTTP client on node:http (so a test can send any Host, Origin or
 * Sec-Fetch-Site header, which fetch would not let it) that does what the
 * page does: opens the printed URL once (the token becomes a cookie), reads
 * the CSRF token from the page, sends it with every POST, and follows an
 * action's server-sent events.
 */
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { startCli } from './cli.js';

export interface UiProcess {
  child: ChildProcess;
  /** The URL as printed, with `?token=`. */
  url: string;
  /** `http://127.0.0.1:PORT` */
  base: string;
  port: number;
  token: string;
  stdout(): string;
  stderr(): string;
  /** SIGTERM (as `kill` or systemd would), then waits for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const URL_LINE = /^Backup dashboard: (http:\/\/(\S+?):(\d+)\/\?token=([A-Za-z0-9_-]+))$/m;

/** Starts `backup ui ARGS` in `cwd` and waits for the line with its URL (or for it to exit, which fails). */
export async function startUi(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; ownGroup?: boolean }): Promise<UiProcess> {
  const child = startCli(['ui', ...args], options);
  child.stdin!.end();
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const look = (): void => {
      const m = URL_LINE.exec(out);
      // The whole block is one write; wait for the warning line too when there is one.
      if (m && out.includes('Ctrl-C stops the dashboard.')) {
        child.stdout!.off('data', look);
        resolve(m);
      }
    };
    child.stdout!.on('data', look);
    void exited.then(({ code, signal }) => reject(new Error(`backup ui ended (${signal ?? code}) before printing its URL\nstdout:\n${out}\nstderr:\n${err}`)));
  });
  const port = Number(match[3]);
  return {
    child,
    url: match[1]!,
    base: `http://${match[2]}:${port}`,
    port,
    token: match[4]!,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json(): any;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * One HTTP request to `base` + `target` with exactly these headers (a `host`
 * given here replaces the one node would send).
 */
export function rawRequest(base: string, target: string, options: RawRequest = {}): Promise<RawResponse> {
  const url = new URL(target, base);
  const headers: Record<string, string> = { ...options.headers };
  // Framed by its length whatever the method (node sends a DELETE's body unframed otherwise).
  if (options.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: options.method ?? 'GET', headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body,
            json() {
              return JSON.parse(body);
            },
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface SseEvent {
  event: string;
  data: any;
}

export interface SseStream {
  /** Every event so far. */
  events: SseEvent[];
  /** Resolves with the first event (so far or to come) `test` accepts; rejects if the stream ends first. */
  until(test: (event: SseEvent) => boolean): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Goes away mid-stream, as a closed browser tab does. */
  close(): void;
}

/** The page's side of the dashboard: the cookie from the printed URL, the CSRF token from the page. */
export class UiClient {
  private constructor(
    readonly ui: UiProcess,
    readonly cookie: string,
    readonly csrf: string,
  ) {}

  /** Opens the printed URL as a browser would: 303 with the cookie, then the page with the CSRF token. */
  static async open(ui: UiProcess): Promise<UiClient> {
    const first = await rawRequest(ui.base, ui.url);
    if (first.status !== 303) throw new Error(`the printed URL answered ${first.status}: ${first.body}`);
    const setCookie = first.headers['set-cookie']?.[0];
    if (!setCookie) throw new Error('the printed URL set no cookie');
    const cookie = setCookie.split(';')[0]!;
    const page = await rawRequest(ui.base, '/', { headers: { cookie } });
    const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page.body)?.[1];
    if (page.status !== 200 || !csrf) throw new Error(`the page has no CSRF token (${page.status})`);
    return new UiClient(ui, cookie, csrf);
  }

  get(target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    return rawRequest(this.ui.base, target, { headers: { cookie: this.cookie, ...headers } });
  }

  /** A POST as the page sends it: JSON body, CSRF header, same-origin. */
  post(target: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<RawResponse> {
    return rawRequest(this.ui.base, target, {
      method: 'POST',
      headers: {
        cookie: this.cookie,
        'content-type': 'application/json',
        'x-csrf-token': this.csrf,
        origin: this.ui.base,
        'sec-fetch-site': 'same-origin',
        ...headers,
      },
      body: JSON.stringify(body),
    });
  }

  async getJson(target: string): Promise<any> {
    const res = await this.get(target);
    if (res.status !== 200) throw new Error(`GET ${target}: ${res.status} ${res.body}`);
    return res.json();
  }

  /** Starts an action (run, verify, restore): 202 and its view. */
  async start(target: string, body: unknown = {}): Promise<any> {
    const res = await this.post(target, body);
    if (res.status !== 202) throw new Error(`POST ${target}: ${res.status} ${res.body}`);
    return res.json().action;
  }

  /** Follows /api/actions/ID/events. */
  events(id: string): SseStream {
    const url = new URL(`/api/actions/${id}/events`, this.ui.base);
    const events: SseEvent[] = [];
    const waiters: Array<{ test: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void; reject: (e: Error) => void }> = [];
    let finished = false;
    let endError: Error | undefined;
    let resolveEnded: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
    const finish = (why: string): void => {
      if (finished) return;
      finished = true;
      endError = new Error(`the event stream ended (${why}) before the event waited for; got ${events.map((e) => e.event).join(', ')}`);
      for (const w of waiters.splice(0)) w.reject(endError);
      resolveEnded();
    };
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, headers: { cookie: this.cookie, accept: 'text/event-stream' }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        finish(`status ${res.statusCode}`);
        return;
      }
      let buffer = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        let split: number;
        while ((split = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length === 0) continue;
          const parsed: SseEvent = { event, data: JSON.parse(data.join('\n')) };
          events.push(parsed);
          for (const w of [...waiters]) {
            if (w.test(parsed)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(parsed);
            }
          }
        }
      });
      res.on('end', () => finish('server ended it'));
      res.on('close', () => finish('closed'));
      res.on('error', () => finish('error'));
    });
    req.on('error', () => finish('request error'));
    req.end();
    return {
      events,
      ended,
      until(test) {
        const found = events.find(test);
        if (found) return Promise.resolve(found);
        if (finished) return Promise.reject(endError!);
        return new Promise((resolve, reject) => waiters.push({ test, resolve, reject }));
      },
      close() {
        req.destroy();
      },
    };
  }

  /** The action's final view, from its event stream (an action already ended sends just that). */
  async finished(id: string): Promise<any> {
    const stream = this.events(id);
    try {
      return (await stream.until((e) => e.event === 'state' && e.data.state === 'done')).data;
    } finally {
      stream.close();
    }
  }
}
