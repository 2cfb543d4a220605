/**
 * The web UI does what the CLI does by running the CLI: `backup run`,
 * `verify`, `restore`, `list`, `status` as child processes with `--json`
 * (one result object on stdout) and BACKUP_PROGRESS_FD=3 (progress lines,
 * src/cli/progress-sink.ts). So there is no second implementation of any
 * of them, the job lock and the run history work as from a terminal, a
 * cancel is the SIGINT a Ctrl-C sends, and the command the page shows is
 * the one that ran. What is read from a child is bounded: stdout to
 * MAX_STDOUT_BYTES, the stderr kept to its last lines, a progress line to
 * MAX_LINE_BYTES. What it prints passes this process's redaction too (it
 * knows the secrets every job names: job-secrets.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { humanText } from '../cli/io.js';
import { shellQuote } from '../cli/render-result.js';
import { redactText } from '../log/redact.js';

export const MAX_STDOUT_BYTES = 32 * 1024 * 1024;
export const MAX_LINE_BYTES = 16 * 1024;
/** Arguments + environment must fit in the kernel's 2 MiB (ARG_MAX on Linux): half of it for the arguments. */
export const MAX_ARGV_BYTES = 1024 * 1024;
export const STDERR_LINES = 200;

export interface ProgressEvent {
  type: 'progress';
  phase: 'backup' | 'verify' | 'restore';
  bytes: number;
  totalBytes?: number;
  files?: number;
  totalFiles?: number;
  uploadedBytes?: number;
  seconds: number;
  archive?: string;
}

export interface CliOutcome {
  exitCode: number;
  /** The --json object, when the child printed one. */
  json?: Record<string, unknown>;
  /** The last lines of stderr (the child's log lines), redacted and escaped. */
  stderr: string[];
  /** Set when the child could not be started or printed no result. */
  problem?: string;
}

export interface CliLauncher {
  execPath: string;
  bin: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface CliChild {
  readonly done: Promise<CliOutcome>;
  /** SIGINT, as one Ctrl-C would (the command cleans up: partial removed, history written). Once: a second call does nothing. */
  cancel(): void;
  /** The last resort: SIGKILL to the child's whole process group (compressors, rclone, ...). */
  kill(): void;
}

/** The command line a person types for the same thing (`--json` left out: it changes only the output). */
export function displayCommand(args: readonly string[]): string {
  const words: string[] = [];
  for (const arg of args) {
    if (arg === '--json') continue;
    // `--to=DIR` is how the UI passes a value (one that starts with "-" stays an option value);
    // shown as `--to DIR`, as people type it, when that means the same.
    const split = /^(--[a-z0-9-]+)=(.*)$/s.exec(arg);
    if (split && split[2] !== '' && !split[2]!.startsWith('-')) words.push(split[1]!, shellQuote(split[2]!));
    else words.push(shellQuote(arg));
  }
  return ['npx backup', ...words].join(' ');
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** One progress line, checked field by field; anything else is dropped. */
export function parseProgressLine(line: string): ProgressEvent | undefined {
  if (line.length > MAX_LINE_BYTES) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (d.type !== 'progress' || (d.phase !== 'backup' && d.phase !== 'verify' && d.phase !== 'restore')) return undefined;
  const bytes = numberOr(d.bytes);
  if (bytes === undefined) return undefined;
  const event: ProgressEvent = { type: 'progress', phase: d.phase, bytes, seconds: numberOr(d.seconds) ?? 0 };
  for (const key of ['totalBytes', 'files', 'totalFiles', 'uploadedBytes'] as const) {
    const value = numberOr(d[key]);
    if (value !== undefined) event[key] = value;
  }
  if (typeof d.archive === 'string' && d.archive.length <= 1024) event.archive = d.archive;
  return event;
}

/** Splits a byte stream into lines, each bounded (a longer line is cut and marked). */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  return {
    push(chunk) {
      rest += decoder.write(chunk);
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        onLine(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
      if (rest.length > MAX_LINE_BYTES) {
        onLine(`${rest.slice(0, MAX_LINE_BYTES)}…`);
        rest = '';
      }
    },
    end() {
      rest += decoder.end();
      if (rest !== '') onLine(rest);
      rest = '';
    },
  };
}

export function startCli(launcher: CliLauncher, args: readonly string[], onProgress?: (event: ProgressEvent) => void, onStderr?: (line: string) => void): CliChild {
  const stderr: string[] = [];
  let cancelled = false;
  const argvBytes = [launcher.bin, ...args].reduce((sum, a) => sum + Buffer.byteLength(a) + 1, 0);
  if (argvBytes > MAX_ARGV_BYTES) {
    return failedToStart(`the command line would be ${argvBytes} bytes, more than this system takes: pick fewer paths (or a folder that holds them)`);
  }
  let child: ChildProcess;
  try {
    child = spawn(launcher.execPath, [launcher.bin, ...args], {
      cwd: launcher.cwd,
      // BACKUP_TRIGGER=ui: the run history says the page started it.
      env: { ...launcher.env, BACKUP_PROGRESS_FD: '3', NO_COLOR: '1', BACKUP_TRIGGER: 'ui' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal of `backup ui` reaches only `backup ui`, which
      // then cancels each child once (a second SIGINT would make the child leave without cleaning up).
      detached: true,
    });
  } catch (error) {
    // spawn throws at once for some failures (E2BIG, EACCES on the bin), before any 'error' event.
    return failedToStart(`could not start the backup command: ${(error as Error).message}`);
  }
  const done = new Promise<CliOutcome>((resolve) => {
    const out: Buffer[] = [];
    let outBytes = 0;
    let outTooLong = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (outBytes + chunk.length > MAX_STDOUT_BYTES) {
        outTooLong = true;
        return;
      }
      out.push(chunk);
      outBytes += chunk.length;
    });
    const errLines = lineSplitter((line) => {
      // Redacted again here: this process may know a secret the child did not (job-secrets.ts).
      const text = humanText(redactText(line));
      stderr.push(text);
      if (stderr.length > STDERR_LINES) stderr.shift();
      onStderr?.(text);
    });
    child.stderr!.on('data', (chunk: Buffer) => errLines.push(chunk));
    const progress = child.stdio[3] as NodeJS.ReadableStream | null;
    if (progress) {
      const lines = lineSplitter((line) => {
        const event = parseProgressLine(line);
        if (event) onProgress?.(event);
      });
      progress.on('data', (chunk: Buffer) => lines.push(chunk));
      progress.on('error', () => undefined);
    }
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (code, signal) => {
      errLines.end();
      const exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
      if (spawnError) {
        resolve({ exitCode: 1, stderr, problem: `could not start the backup command: ${spawnError.message}` });
        return;
      }
      const text = redactText(Buffer.concat(out).toString('utf8').trim());
      const last = text.slice(text.lastIndexOf('\n') + 1);
      let json: Record<string, unknown> | undefined;
      try {
        const parsed: unknown = last === '' ? undefined : JSON.parse(last);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const problem = json
        ? undefined
        : outTooLong
          ? `the command's result was larger than ${MAX_STDOUT_BYTES / 1024 / 1024} MiB and was not read`
          : `the command ended (${signal ?? `exit ${exitCode}`}) without a result${stderr.length ? `: ${stderr[stderr.length - 1]}` : ''}`;
      resolve({ exitCode, ...(json ? { json } : {}), stderr, ...(problem ? { problem } : {}) });
    });
  });
  return {
    done,
    cancel() {
      if (cancelled || child.exitCode !== null || child.signalCode !== null) return;
      cancelled = true;
      child.kill('SIGINT');
    },
    kill() {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    },
  };
}

function failedToStart(problem: string): CliChild {
  return { done: Promise.resolve({ exitCode: 1, stderr: [], problem }), cancel: () => undefined, kill: () => undefined };
}
