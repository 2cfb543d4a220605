/**
 * A throw-away Azurite (the Azure Storage emulator, npm devDependency
 * `azurite`) as the Azure Blob server of the tests: blob service only, on
 * 127.0.0.1, data in a fresh temp folder, the emulator's well-known account.
 *
 * Started as `process.execPath azurite/dist/src/blob/main.js` (no shell, no
 * npx). Measured facts it relies on (Azurite 3.35.0, Node 20):
 * - `--blobPort 0` works: the kernel picks a free port and Azurite prints
 *   "successfully listens on http://127.0.0.1:PORT" on stdout, so there is no
 *   pick-then-bind race.
 * - Telemetry is ON by default (Application Insights, an https endpoint on the
 *   internet): `--disableTelemetry` is required.
 * - Without `--skipApiVersionCheck` a newer @azure/storage-blob is refused for
 *   its x-ms-version; `--loose` ignores headers Azurite does not know.
 * - On SIGTERM it closes its server and then waits for the event loop to
 *   drain (no process.exit): anything else keeping the loop alive (the
 *   guard's stdin, see below) must let go, or it never exits.
 *
 * The child never outlives the test process: an 'exit' handler SIGKILLs it,
 * and, for a test process killed without running handlers, azurite-guard.mjs
 * inside the child exits when its stdin pipe (held by us) closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient } from '@azure/storage-blob';

/** The emulator's fixed development account (documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  /** Blob endpoint including the account (path style): `http://127.0.0.1:PORT/devstoreaccount1`. */
  endpoint: string;
  accountName: string;
  accountKey: string;
  /** `DefaultEndpointsProtocol=http;AccountName=...;AccountKey=...;BlobEndpoint=...;` */
  connectionString: string;
  /** Stops Azurite and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** Parent of the data folder (default: os.tmpdir()). */
  baseDir?: string;
}

/** Limit for Azurite to listen and accept a container create (it takes ~1 s). */
const START_TIMEOUT_MS = 30_000;
/** SIGKILL Azurite if it has not exited this long after stop() asked it to. */
const KILL_AFTER_MS = 5_000;

const require = createRequire(import.meta.url);
const GUARD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'azurite-guard.mjs');

/** The azurite-blob entry point, resolved from azurite's package.json `bin`. */
function azuriteBlobMain(): string {
  const pkgFile = require.resolve('azurite/package.json');
  const pkg = require(pkgFile) as { bin?: Record<string, string> };
  const rel = pkg.bin?.['azurite-blob'];
  if (!rel) throw new Error(`azurite: no "azurite-blob" bin in ${pkgFile}`);
  return path.resolve(path.dirname(pkgFile), rel);
}

/** Starts Azurite's blob service; resolves once a container can be created. */
export async function startAzurite(opts: StartAzuriteOptions = {}): Promise<AzuriteServer> {
  const dir = await mkdtemp(path.join(opts.baseDir ?? os.tmpdir(), 'azurite-test-'));
  const args = [
    '--import', pathToFileURL(GUARD).href,
    azuriteBlobMain(),
    '--blobHost', '127.0.0.1',
    '--blobPort', '0',
    '--location', dir,
    '--silent',
    '--skipApiVersionCheck',
    '--loose',
    '--disableTelemetry',
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    // NODE_OPTIONS cleared: the test runner's options are not Azurite's.
    env: { ...process.env, AZURITE_GUARD_DIR: dir, NODE_OPTIONS: '' },
  });
  const server = new Running(child, dir);
  try {
    const port = await server.listening();
    const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME}`;
    const connectionString =
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};` +
      `AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${endpoint};`;
    await server.acceptsContainers(connectionString);
    return {
      endpoint,
      accountName: AZURITE_ACCOUNT_NAME,
      accountKey: AZURITE_ACCOUNT_KEY,
      connectionString,
      stop: () => server.stop(),
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** One Azurite child: its output, exit, and how to stop it. */
class Running {
  private output = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private spawnError: Error | undefined;
  private readonly exitPromise: Promise<void>;
  private stopping: Promise<void> | undefined;
  /** Only synchronous calls work in an 'exit' handler. */
  private readonly onExit = () => {
    if (!this.exited) this.child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  };

  constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    process.once('exit', this.onExit);
    const collect = (chunk: Buffer) => {
      // Keep the end only: an Azurite that logs in a loop must not fill memory.
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    // Our end of the guard's pipe: never written, closed by stop() or our death.
    child.stdin?.on('error', () => {});
    this.exitPromise = new Promise((resolve) => {
      child.once('error', (err) => {
        this.spawnError = err;
        this.exited ??= { code: null, signal: null };
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
    });
  }

  /** Waits for Azurite's "listens on" line and returns the port it bound. */
  async listening(): Promise<number> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const m = /successfully listens on https?:\/\/[^\s:]+:(\d+)/.exec(this.output);
      if (m) return Number(m[1]);
      if (this.exited) throw this.failure('exited before listening');
      if (Date.now() > deadline) throw this.failure(`did not listen within ${START_TIMEOUT_MS / 1000} s`);
      await Promise.race([sleep(50), this.exitPromise]);
    }
  }

  /** Retries creating (and deleting) a container until it works. */
  async acceptsContainers(connectionString: string): Promise<void> {
    const client = BlobServiceClient.fromConnectionString(connectionString);
    const container = client.getContainerClient(`ready-${randomUUID().slice(0, 8)}`);
    const deadline = Date.now() + START_TIMEOUT_MS;
    let lastError: unknown;
    for (;;) {
      try {
        await container.create({ abortSignal: AbortSignal.timeout(5_000) });
        await container.delete({ abortSignal: AbortSignal.timeout(5_000) });
        return;
      } catch (err) {
        lastError = err;
      }
      if (this.exited) throw this.failure('exited while starting');
      if (Date.now() > deadline) {
        const why = lastError instanceof Error ? lastError.message : String(lastError);
        throw this.failure(`did not accept a container create within ${START_TIMEOUT_MS / 1000} s (last error: ${why})`);
      }
      await sleep(100);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (!this.exited) {
      // Azurite's own clean shutdown (~30 ms); azurite-guard.mjs lets go of
      // stdin on SIGTERM so that the process can exit.
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), KILL_AFTER_MS);
      await this.exitPromise;
      clearTimeout(timer);
    }
    this.child.stdin?.destroy();
    process.removeListener('exit', this.onExit);
    await rm(this.dir, { recursive: true, force: true });
  }

  private failure(what: string): Error {
    const how = this.spawnError
      ? `: ${this.spawnError.message}`
      : this.exited
        ? ` (exit code ${this.exited.code}, signal ${this.exited.signal})`
        : '';
    const out = this.output.trim() || '(no output)';
    return new Error(`azurite ${what}${how}. Its output:\n${out}`);
  }
}
