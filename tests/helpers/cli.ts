/**
 * Runs the built CLI (dist/bin.js) as a real subprocess, as cron would:
 * no terminal, its own working folder, optionally as an unprivileged user
 * (setpriv), since root reads everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(PROJECT_ROOT, 'dist', 'bin.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this uid/gid (nobody = 65534) through setpriv. */
  asUser?: number;
  /** Called once the process has started (to kill it mid-run, say). */
  onSpawn?: (child: ChildProcess) => void;
  input?: string;
  /** In a process group of its own (as a shell job is), so a test can signal the whole group as a terminal's Ctrl-C does. */
  ownGroup?: boolean;
}

export function startCli(args: string[], options: CliOptions): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  delete env.FORCE_COLOR;
  const command = options.asUser === undefined ? process.execPath : 'setpriv';
  const argv =
    options.asUser === undefined
      ? [BIN, ...args]
      : [`--reuid=${options.asUser}`, `--regid=${options.asUser}`, '--clear-groups', process.execPath, BIN, ...args];
  return spawn(command, argv, { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: options.ownGroup === true });
}

export function runCli(args: string[], options: CliOptions): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = startCli(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin!.end(options.input ?? '');
    options.onSpawn?.(child);
  });
}

/** The one JSON object `--json` prints on stdout. */
export function parseJsonResult(run: CliRun): Record<string, any> {
  const text = run.stdout.trim();
  if (text.split('\n').length !== 1) throw new Error(`expected exactly one line of JSON on stdout, got:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return JSON.parse(text) as Record<string, any>;
}

/**
 * An `onSpawn` that sends `signal` to the child as soon as `ready()` says so
 * (checked every 20 ms): the fault is injected at the moment the test needs,
 * not after a guessed delay.
 */
export function signalWhen(ready: () => boolean | Promise<boolean>, signal: NodeJS.Signals): (child: ChildProcess) => void {
  return (child) => {
    let sent = false;
    const timer = setInterval(() => {
      void Promise.resolve(ready()).then((yes) => {
        if (yes && !sent) {
          sent = true;
          clearInterval(timer);
          child.kill(signal);
        }
      });
    }, 20);
    child.on('exit', () => clearInterval(timer));
  };
}

/** Is there a `*.partial` in `dir` (a run is writing its archive)? */
export async function hasPartial(dir: string): Promise<boolean> {
  return (await fs.readdir(dir).catch(() => [])).some((f) => f.endsWith('.partial'));
}
