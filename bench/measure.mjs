/**
 * Measuring one command on a shared machine, for bench/s3.mjs and
 * bench/progress.mjs (bench/run.mjs has its own copy of the same logic):
 * /usr/bin/time for wall, CPU and peak RSS, /proc/stat for the CPU other
 * processes used meanwhile, and a wait for a quiet moment before each run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = fs.existsSync(GNU_TIME);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
/** Other processes using this many cores during a run make it "disturbed". */
export const DISTURBED = 0.3;
/** The command running now (its own process group), killed with us on Ctrl-C / SIGTERM. */
let currentChild;

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (currentChild?.pid) {
      try {
        process.kill(-currentChild.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    process.exit(130);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
export function machineBusySeconds() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
    return busy / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * Waits (up to `maxSeconds`) for a half second in which other processes use
 * less than a quarter of a core. Returns the seconds waited.
 */
export async function waitForIdle(maxSeconds) {
  const start = Date.now();
  while ((Date.now() - start) / 1000 < maxSeconds) {
    const b0 = machineBusySeconds();
    const s0 = process.cpuUsage();
    await sleep(500);
    const self = process.cpuUsage(s0);
    const other = (machineBusySeconds() - b0 - (self.user + self.system) / 1e6) / 0.5;
    if (!(other >= 0.25)) return (Date.now() - start) / 1000;
  }
  return (Date.now() - start) / 1000;
}

export function quote(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** A command as a shell line (env assignments shown when given). */
export function shown({ cmd, args, cwd, showEnv }) {
  const c = cmd === process.execPath ? 'node' : cmd;
  const env = showEnv ? `${Object.entries(showEnv).map(([k, v]) => `${k}=${quote(v)}`).join(' ')} ` : '';
  return `${cwd ? `(cd ${quote(cwd)} && ` : ''}${env}${[c, ...args].map(quote).join(' ')}${cwd ? ')' : ''}`;
}

/**
 * Runs the command under /usr/bin/time (wall, user, sys, peak RSS of the
 * largest process in the tree). `other` is the CPU, in cores, that other
 * processes used during the run (busy time minus the tree and this process).
 * `serverCpu()`, if given, returns the CPU seconds used so far by processes
 * that work for the measured command (the S3 server): their share is
 * reported as `server` (seconds) and not counted as other load.
 */
export function measure({ cmd, args, cwd, env }, timeFile, { timeoutSeconds = 1800, serverCpu } = {}) {
  fs.rmSync(timeFile, { force: true });
  const wrapped = HAVE_GNU_TIME ? { cmd: GNU_TIME, args: ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args] } : { cmd, args };
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const busy0 = machineBusySeconds();
    const self0 = process.cpuUsage();
    const server0 = serverCpu ? serverCpu() : 0;
    const child = spawn(wrapped.cmd, wrapped.args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    currentChild = child;
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => {
      if (stdout.length < 1e6) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      if (stderr.length < 2e5) stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutSeconds * 1000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${error.message}`, wall: NaN, user: NaN, sys: NaN, rssKB: NaN, other: NaN, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (currentChild === child) currentChild = undefined;
      const hrWall = Number(process.hrtime.bigint() - started) / 1e9;
      const busy = machineBusySeconds() - busy0;
      const self = process.cpuUsage(self0);
      const server = serverCpu ? serverCpu() - server0 : 0;
      let wall = hrWall;
      let user = NaN;
      let sys = NaN;
      let rssKB = NaN;
      try {
        const last = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop().trim().split(/\s+/).map(Number);
        if (last.length === 4 && last.every(Number.isFinite)) [wall, user, sys, rssKB] = last;
      } catch {
        // no timing (killed): keep the wall clock
      }
      const other = Math.max(0, (busy - (self.user + self.system) / 1e6 - (user || 0) - (sys || 0) - server) / hrWall);
      resolve({ code: code ?? (signal ? 128 : -1), signal, stdout, stderr, wall, hrWall, user, sys, rssKB, other, server: serverCpu ? server : NaN, timedOut });
    });
  });
}

/**
 * Measures, first waiting for a quiet machine; a run that other processes
 * disturbed (>= DISTURBED cores) is redone up to `retries` times, `before`
 * (untimed clean-up) running before every attempt. The last attempt counts.
 */
export async function measureQuietly(command, { timeFile, idleWait = 20, retries = 2, before, serverCpu, log = () => {}, label = '' }) {
  let attempts = 0;
  for (;;) {
    attempts++;
    if (before) await before();
    if (idleWait > 0) {
      const waited = await waitForIdle(idleWait);
      if (waited >= idleWait) log(`  (the machine stayed busy for ${idleWait} s; running anyway)`);
    }
    const m = await measure(command, timeFile, { serverCpu });
    m.attempts = attempts;
    if (m.code !== 0 || m.timedOut || !(m.other >= DISTURBED) || attempts > retries) return m;
    log(`  (${label}: other processes used ${m.other.toFixed(2)} cores during the run (${m.wall.toFixed(2)} s); running it again)`);
  }
}

export function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function fmt(n, digits = 2) {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

/** One line about this machine, for the reports. */
export function describeMachine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const osRelease = (() => {
    try {
      return /PRETTY_NAME="([^"]+)"/.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os.type();
    } catch {
      return os.type();
    }
  })();
  return `${os.availableParallelism()} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${osRelease}, Linux ${os.release()}, Node ${process.version}`;
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function processCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * A seeded incompressible file: the AES-256-CTR keystream of a key derived
 * from the seed (same bytes on any machine, ~1 GB/s to make). Reused while
 * its marker matches.
 */
export function ensureRandomFile(dir, sizeMiB, seed, log = () => {}) {
  const MiB = 1024 * 1024;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `random-${sizeMiB}MiB-${seed}.bin`);
  const marker = `${file}.json`;
  const want = JSON.stringify({ generator: 'aes-256-ctr keystream, key sha256("backup-automation bench s3 " + seed), iv 0', sizeMiB, seed });
  if (fs.existsSync(file) && fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === want && fs.statSync(file).size === sizeMiB * MiB) return file;
  const started = Date.now();
  const key = createHash('sha256').update(`backup-automation bench s3 ${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(8 * MiB);
  const fd = fs.openSync(file, 'w');
  try {
    for (let written = 0; written < sizeMiB * MiB; ) {
      const n = Math.min(zeros.length, sizeMiB * MiB - written);
      fs.writeSync(fd, cipher.update(zeros.subarray(0, n)));
      written += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.writeFileSync(marker, want);
  log(`made ${file} (${sizeMiB} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return file;
}
