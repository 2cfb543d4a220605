/**
 * Each attempt's timeout fires even when the garbage collector runs during
 * it. (The first version passed `AbortSignal.timeout()` straight into
 * `AbortSignal.any()`, which holds its sources weakly: once collected, the
 * timeout never fired, and a server that never answered got one attempt
 * instead of three.) The collector is forced in a child process.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/cli.js';
import { startHttp, type HttpRecorder } from '../helpers/notify-servers.js';

const servers: HttpRecorder[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

describe('attempt timeouts survive garbage collection', () => {
  it('a receiver that never answers gets every attempt, each ended by its own timeout', async () => {
    const hook = await startHttp(() => 'hang');
    servers.push(hook);
    const send = pathToFileURL(path.join(PROJECT_ROOT, 'dist/automation/notify/send.js')).href;
    const script = `
      const { sendNotifications } = await import(${JSON.stringify(send)});
      const gc = setInterval(() => globalThis.gc(), 50);
      const logger = { debug() {}, info() {}, warn() {}, error() {} };
      const outcomes = await sendNotifications(
        [{ type: 'webhook', urlEnv: 'HOOK', timeoutSeconds: 1 }],
        { event: 'test', job: 'www', host: 'h', at: new Date() },
        { env: { HOOK: ${JSON.stringify(`${hook.origin}/hook`)} }, logger, retryDelaysMs: [100, 100] },
      );
      clearInterval(gc);
      process.stdout.write(JSON.stringify(outcomes));
    `;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], (error, out) => (error ? reject(error) : resolve(out))),
    );
    const [outcome] = JSON.parse(stdout) as Array<{ ok: boolean; attempts: number; error: string }>;
    expect(outcome).toMatchObject({ ok: false, attempts: 3 });
    expect(outcome!.error).toMatch(/no answer from 127\.0\.0\.1:\d+ within 1 s \(after 3 attempts\)/);
    expect(hook.requests).toHaveLength(3);
  }, 30_000);
});
