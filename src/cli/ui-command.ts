/**
 * `backup ui`: the local web dashboard (src/ui/). Serves on 127.0.0.1 (a free
 * port unless --port), prints the URL with its access token, and runs until
 * Ctrl-C / SIGTERM, which cancels what the page started (as Ctrl-C would
 * each of them) and waits for it to end.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { expandHome } from '../config/expand-home.js';
import { DEFAULT_LOG_FILE } from '../config/merge-settings.js';
import { loadSettings } from '../config/load-settings.js';
import { humanText, type CliIO } from './io.js';
import { openLogger, reportFailure } from './command-runner.js';
import { cliBin, settingsFiles } from './daemon-command.js';
import { handleOwnShutdown } from './shutdown.js';
import { printable } from '../log/printable.js';
import { newSecrets } from '../ui/security.js';
import { startUiServer } from '../ui/server.js';

export interface UiFlags {
  config?: string[];
  port?: string;
  host?: string;
  open?: boolean;
  logFile?: string;
  verbose?: boolean;
}

/** How long Ctrl-C waits for the runs the page started to clean up (each is cancelled as by Ctrl-C). */
const STOP_GRACE_MS = 90_000;

export function parsePort(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UsageError(`--port ${JSON.stringify(value)}: expected a port number from 1 to 65535 (or 0: any free port)`, { code: 'USAGE' });
  return Number(value);
}

export function parseHost(value: string | undefined): string {
  if (value === undefined) return '127.0.0.1';
  const host = value.trim().replace(/^\[(.*)\]$/, '$1');
  if (host === '' || !/^[A-Za-z0-9.:-]+$/.test(host)) throw new UsageError(`--host ${JSON.stringify(value)}: expected an address of this machine, e.g. 127.0.0.1, 0.0.0.0 or 192.168.1.10`, { code: 'USAGE' });
  return host;
}

export async function uiCommand(io: CliIO, flags: UiFlags): Promise<number> {
  const output = { json: false, verbose: flags.verbose === true };
  const files = settingsFiles(flags.config, io.cwd, io.home);
  let firstLog = DEFAULT_LOG_FILE;
  if (files[0]) firstLog = (await loadSettings(files[0]).catch(() => undefined))?.logFile ?? DEFAULT_LOG_FILE;
  const logger = openLogger(io, path.resolve(io.cwd, expandHome(flags.logFile ?? firstLog, io.home)), output);
  try {
    if (logger.fileRefused) throw logger.fileRefused;
    const port = parsePort(flags.port);
    const host = parseHost(flags.host);
    const explicitDefault = flags.config === undefined || flags.config.length === 0;
    const { existsSync } = await import('node:fs');
    const jobs = files.filter((file) => !explicitDefault || existsSync(file)).map((file, i) => ({ id: String(i + 1), file }));
    for (const job of jobs) {
      if (!existsSync(job.file)) throw new UsageError(`${job.file}: settings file not found (check the --config path, or run \`npx backup\` to create one)`, { code: 'CONFIG_INVALID' });
    }
    const server = await startUiServer({ io, jobs, secrets: newSecrets(), host, port, launcher: { execPath: process.execPath, bin: cliBin(), cwd: io.cwd, env: io.env } }).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use: give another --port, or leave it out for a free one`, { code: 'USAGE' });
      if (code === 'EADDRNOTAVAIL') throw new UsageError(`--host ${host}: not an address of this machine`, { code: 'USAGE' });
      throw error;
    });
    handleOwnShutdown({ graceMs: STOP_GRACE_MS, forceStop: () => server.actions.killAll() });
    logger.fileOnly.info(`ui: serving ${jobs.length} job(s) on ${host}:${server.port} (the access token is not logged)`, { jobs: jobs.map((j) => j.file) });
    const lines = [
      `Backup dashboard: ${server.url}`,
      `  ${jobs.length === 0 ? 'No settings file yet (run `npx backup` to make one): the page has nothing to run.' : `${jobs.length === 1 ? 'Job' : 'Jobs'}: ${jobs.map((j) => printable(path.relative(io.cwd, j.file) || j.file)).join(', ')}`}`,
      // The same port on both sides: the server answers only to 127.0.0.1:PORT / localhost:PORT (DNS rebinding).
      `  From another machine: ssh -L ${server.port}:127.0.0.1:${server.port} ${printable(sshLogin(io))}, then open the URL above there.`,
      '  The token in it gives full access to every backup of these jobs: do not share it. Ctrl-C stops the dashboard.',
    ];
    if (server.otherUrls.length > 0) lines.splice(1, 0, ...server.otherUrls.map((url) => `  also: ${url}`));
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
      lines.push(`warning: listening on ${host}, not only on this machine: anyone who can reach port ${server.port} and has the token can read and restore every backup of these jobs.`);
    }
    io.stdout.write(humanText(`${lines.join('\n')}\n`));
    let opened: string | undefined;
    if (flags.open) opened = await openBrowser(server.url, io);
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      else io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    io.stdout.write(humanText(server.actions.running().length > 0 ? 'Stopping: cancelling what the page started...\n' : 'Stopped.\n'));
    await server.close();
    if (opened) await fs.rm(opened, { recursive: true, force: true });
    logger.fileOnly.info('ui: stopped');
    return 0;
  } catch (error) {
    return reportFailure(io, error, logger, output);
  } finally {
    await logger.close();
  }
}

/** `user@host` for the ssh line: the account this runs as, on this machine's name. */
function sshLogin(io: CliIO): string {
  let user = io.env.USER ?? io.env.LOGNAME;
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      user = undefined;
    }
  }
  return user ? `${user}@${io.host}` : io.host;
}

/**
 * xdg-open (or open on macOS), if there is one; otherwise the printed URL is enough. The token is
 * not put on the opener's command line (any local user can read that in `ps`): the browser opens
 * a file only this user can read, which forwards to the URL (as Jupyter does). Returns its folder.
 */
async function openBrowser(url: string, io: CliIO): Promise<string | undefined> {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  const failed = (): void => void io.stderr.write(`(could not start ${opener}: open the URL above yourself)\n`);
  let dir: string;
  try {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'backup-ui-'));
    const page = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${url}"><title>backup ui</title><a href="${url}">Open the backup dashboard</a>\n`;
    await fs.writeFile(path.join(dir, 'open.html'), page, { mode: 0o600, flag: 'wx' });
  } catch {
    failed();
    return undefined;
  }
  try {
    const child = spawn(opener, [pathToFileURL(path.join(dir, 'open.html')).href], { stdio: 'ignore', detached: true, env: io.env });
    child.on('error', failed);
    child.unref();
  } catch {
    failed();
  }
  return dir;
}
