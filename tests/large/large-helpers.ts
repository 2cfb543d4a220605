/**
 * Helpers for the large-input suite (vitest.large.config.ts): the built CLI
 * run with its peak RSS measured, temp folders for multi-GiB files that are
 * removed even when a test fails or times out (and, on the next start, when
 * an earlier run was killed), streamed SHA-256, system tools and Python as
 * second and third readers, and a record of the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, constants as fsConstants, appendFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { BIN, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** The memory bound every large run must keep: 200 MiB peak RSS of the CLI process. */
export const RSS_LIMIT_BYTES = 200 * MiB;

const PREFIX = 'backup-large-';

// ---------------------------------------------------------------------------
// Temp folders for big files

const perTest: string[] = [];
const perFile: string[] = [];
const children = new Set<ChildProcess>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let staleRemoved = false;
/** Folders `backup-large-PID-*` of a test process that is gone (killed mid-run): removed. */
async function removeStale(): Promise<void> {
  if (staleRemoved) return;
  staleRemoved = true;
  for (const name of await fs.readdir(os.tmpdir())) {
    const match = /^backup-large-(\d+)-/.exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    await fs.rm(path.join(os.tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Fails early, with the numbers, when the temp disk cannot hold what a test writes. */
export async function requireFreeSpace(bytes: number): Promise<void> {
  const stat = await fs.statfs(os.tmpdir());
  const free = stat.bavail * stat.bsize;
  if (free < bytes) {
    throw new Error(`${os.tmpdir()} has ${(free / GiB).toFixed(1)} GiB free; this test needs ${(bytes / GiB).toFixed(1)} GiB`);
  }
}

/** A fresh folder for one test: removed after it, pass or fail (after any process still running in it is killed). */
export async function bigTempDir(): Promise<string> {
  await removeStale();
  const dir = await tempDir(`${PREFIX}${process.pid}-`);
  perTest.push(dir);
  return dir;
}

/** A folder shared by the tests of one file (a source built once): removed after the file. */
export async function sharedBigDir(): Promise<string> {
  await removeStale();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
  await fs.chmod(dir, 0o755);
  perFile.push(dir);
  return dir;
}

async function killChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  children.clear();
}

afterEach(async () => {
  await killChildren();
  for (const dir of perTest.splice(0)) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
});

afterAll(async () => {
  await killChildren();
  for (const dir of perFile.splice(0)) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
});

// ---------------------------------------------------------------------------
// Processes

/** Registers a process started by a test, so that it is killed if the test ends first (failure, timeout). */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('close', () => children.delete(child));
  return child;
}

export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command, collecting its output (never throws on a non-zero exit: the caller asserts). */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (error) => {
      children.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** `sh -c` with pipefail, the arguments as "$1", "$2", ... */
export function shell(script: string, ...args: string[]): Promise<ToolRun> {
  return run('bash', ['-o', 'pipefail', '-c', script, 'bash', ...args]);
}

/** Python 3 as a third reader: runs `script` with `args` in sys.argv[1:], parses the one JSON line it prints. */
export async function python(script: string, ...args: string[]): Promise<{ run: ToolRun; json: Record<string, any> | undefined }> {
  const result = await run('python3', ['-c', script, ...args]);
  let json: Record<string, any> | undefined;
  try {
    json = result.code === 0 ? (JSON.parse(result.stdout.trim()) as Record<string, any>) : undefined;
  } catch {
    json = undefined;
  }
  return { run: result, json };
}

export interface MeasuredRun extends CliRun {
  /** Peak resident set size of the CLI process, bytes. */
  peakRssBytes: number;
  rssMethod: '/usr/bin/time -f %M' | '/proc/PID/status VmHWM';
  wallMs: number;
}

const TIME = '/usr/bin/time';
let timeAvailable: boolean | undefined;
async function hasGnuTime(): Promise<boolean> {
  // LARGE_RSS_METHOD=proc forces the /proc sampler (to check it, or where GNU time misreports).
  if (process.env.LARGE_RSS_METHOD === 'proc') return false;
  if (timeAvailable === undefined) {
    timeAvailable = await fs.access(TIME, fsConstants.X_OK).then(
      () => true,
      () => false,
    );
  }
  return timeAvailable;
}

function readVmHwmKiB(pid: number): Promise<number | undefined> {
  return fs.readFile(`/proc/${pid}/status`, 'utf8').then(
    (text) => {
      const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(text);
      return match ? Number(match[1]) : undefined;
    },
    () => undefined,
  );
}

let rssFiles = 0;
/**
 * Runs the built CLI (`node dist/bin.js ARGS`) as runCli does (no terminal,
 * NO_COLOR), measuring its peak RSS: under GNU time (`%M`, written to a file
 * so the CLI's own stderr stays clean), or, without it, by sampling the
 * process's VmHWM (the kernel's high-water mark) every 50 ms.
 */
export async function runCliMeasured(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<MeasuredRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  delete env.FORCE_COLOR;
  const useTime = await hasGnuTime();
  const rssFile = path.join(os.tmpdir(), `${PREFIX}${process.pid}-rss-${++rssFiles}.txt`);
  const [command, argv] = useTime
    ? [TIME, ['-f', '%M', '-o', rssFile, process.execPath, BIN, ...args]]
    : [process.execPath, [BIN, ...args]];
  const started = Date.now();
  let sampledKiB = 0;
  const outcome = await new Promise<CliRun>((resolve, reject) => {
    const child = spawn(command, argv as string[], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let sampler: NodeJS.Timeout | undefined;
    if (!useTime) {
      sampler = setInterval(() => {
        void readVmHwmKiB(child.pid!).then((kib) => {
          if (kib !== undefined && kib > sampledKiB) sampledKiB = kib;
        });
      }, 50);
    }
    child.on('error', (error) => {
      clearInterval(sampler);
      children.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearInterval(sampler);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  const wallMs = Date.now() - started;
  let peakKiB = sampledKiB;
  if (useTime) {
    const text = await fs.readFile(rssFile, 'utf8').catch(() => '');
    await fs.rm(rssFile, { force: true });
    // GNU time prints "Command exited with non-zero status N" before the figure on a failure.
    const last = text.trim().split('\n').pop() ?? '';
    if (!/^\d+$/.test(last)) throw new Error(`no peak RSS from ${TIME} (got ${JSON.stringify(text)}); CLI stderr:\n${outcome.stderr}`);
    peakKiB = Number(last);
  }
  return { ...outcome, peakRssBytes: peakKiB * KiB, rssMethod: useTime ? '/usr/bin/time -f %M' : '/proc/PID/status VmHWM', wallMs };
}

// ---------------------------------------------------------------------------
// Hashing, zip structure

/** SHA-256 of a file, streamed in 4 MiB reads (never the whole file in memory). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface ZipEnd {
  /** Entry count in the classic end-of-central-directory record (0xffff when zip64 holds the real one). */
  eocdEntries: number;
  /** The zip64 end-of-central-directory record, when the locator points at one. */
  zip64: { entries: number; centralDirectorySize: number; centralDirectoryOffset: number } | null;
}

/** Reads the end records of a zip (the last 64 KiB + 98 bytes only). */
export async function readZipEnd(file: string): Promise<ZipEnd> {
  const handle = await fs.open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const length = Math.min(size, 65_535 + 22 + 20 + 56);
    const tail = Buffer.alloc(length);
    await handle.read(tail, 0, length, size - length);
    const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (eocd < 0) throw new Error(`${file}: no end-of-central-directory record`);
    const eocdEntries = tail.readUInt16LE(eocd + 10);
    const locator = eocd - 20;
    if (locator < 0 || tail.readUInt32LE(locator) !== 0x07064b50) return { eocdEntries, zip64: null };
    const recordOffset = Number(tail.readBigUInt64LE(locator + 8));
    const record = Buffer.alloc(56);
    await handle.read(record, 0, 56, recordOffset);
    if (record.readUInt32LE(0) !== 0x06064b50) throw new Error(`${file}: zip64 locator points at ${recordOffset}, which is not a zip64 end record`);
    return {
      eocdEntries,
      zip64: {
        entries: Number(record.readBigUInt64LE(32)),
        centralDirectorySize: Number(record.readBigUInt64LE(40)),
        centralDirectoryOffset: Number(record.readBigUInt64LE(48)),
      },
    };
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------
// Figures

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
export const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Prints the figures of a test (`[large] name: ...`) and, when
 * LARGE_METRICS_FILE is set, appends them there as one JSON line.
 */
export function record(name: string, figures: Record<string, unknown>): void {
  console.log(`[large] ${name}: ${JSON.stringify(figures)}`);
  const file = process.env.LARGE_METRICS_FILE;
  if (file) appendFileSync(file, `${JSON.stringify({ test: name, at: new Date().toISOString(), ...figures })}\n`);
}
