/**
 * A throw-away single-node Ceph (one monitor, one in-memory OSD, radosgw) as
 * the S3 server of the integration tests.
 *
 * Everything lives in one fresh temp folder and binds to 127.0.0.1 on free
 * ports; auth is off and pools keep one copy. The daemons detach, so they are
 * stopped through their pid files. A state file under os.tmpdir() lists the
 * running instances, so that a later start can kill what a killed run (whose
 * stop() never ran) left behind.
 *
 * The Debian packages come from tests/provision.sh (run by npm test). See
 * shared/S3-TESTING.md for the measured traps this file works around.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsConstants, readFileSync, rmSync } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

const execFileAsync = promisify(execFile);

/** An S3 server the tests can use, and how to get rid of it. */
export interface S3TestServer {
  /** e.g. `http://127.0.0.1:34567` (no trailing slash). */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Stops the server and removes its files; safe to call twice. */
  stop(): Promise<void>;
  /** The instance's ceph.conf, for `radosgw-admin -c` (a started Ceph only). */
  conf?: string;
}

export interface StartCephOptions {
  /** Parent of the instance's temp folder (default: os.tmpdir()). */
  baseDir?: string;
  /** Progress messages (default: silent). */
  log?: (s: string) => void;
  /** Size of the in-memory OSD (default 3 GiB; a benchmark uploading 1 GiB objects wants more). */
  memstoreBytes?: number;
}

export const CEPH_ACCESS_KEY = 'test';
export const CEPH_SECRET_KEY = 'testsecret';
export const CEPH_REGION = 'us-east-1';

/** Binaries used below, all installed by tests/provision.sh. */
const BINARIES = ['ceph-authtool', 'monmaptool', 'ceph-mon', 'ceph', 'ceph-osd', 'radosgw', 'radosgw-admin'];

/** Daemon names as Ceph knows them ($name in ceph.conf), in start order. */
const MON = 'mon.a';
const OSD = 'osd.0';
const RGW = 'client.rgw';

const STATE_FILE = path.join(os.tmpdir(), 'backup-automation-ceph-tests.json');

/** Limit for each start phase (measured: the whole start takes ~1 s). */
const PHASE_TIMEOUT_MS = 60_000;
/** Limit for one `ceph` CLI call (they take ~0.2 s). */
const CLI_TIMEOUT_MS = 20_000;
/** SIGKILL a daemon that has not exited this long after SIGTERM. */
const KILL_AFTER_MS = 5_000;

/**
 * Starts a fresh single-node Ceph with radosgw and the user test/testsecret.
 * Resolves once the S3 endpoint answers HTTP and the user exists.
 */
export async function startCeph(opts: StartCephOptions = {}): Promise<S3TestServer> {
  const log = opts.log ?? (() => {});
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

  await assertBinariesInstalled();
  await killLeftovers(log);

  const baseDir = opts.baseDir ?? os.tmpdir();
  await mkdir(baseDir, { recursive: true });
  const dir = await mkdtemp(path.join(baseDir, 'ceph-test-'));
  const instance = new Instance(dir);
  // Registered before any daemon starts, so that even a run killed right now
  // is cleaned up by the next one.
  await updateState((list) => [...list, instance.record()]);

  try {
    const [monPort, rgwPort] = (await freePorts(2)) as [number, number];
    const fsid = randomUUID();
    const conf = cephConf(dir, fsid, monPort, rgwPort, opts.memstoreBytes ?? 3 * 1024 ** 3);
    for (const sub of ['mon', 'osd', 'rgw', 'run', 'log', 'crash']) await mkdir(path.join(dir, sub));
    await writeFile(instance.conf, conf);
    const c = ['-c', instance.conf];

    // Monitor. With a non-default port the monmap entry must be protocol v2,
    // matching `mon host = v2:...` in ceph.conf, or every client hangs.
    const monKeyring = path.join(dir, 'mon.keyring');
    await run('ceph-authtool', ['--create-keyring', monKeyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    const monmap = path.join(dir, 'monmap');
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, monmap]);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', monKeyring]);
    await instance.startDaemon(MON, 'ceph-mon', [...c, '-i', 'a']);
    await waitFor('the monitor to answer', () => instance.ceph(['mon', 'stat']).then(() => true), instance, MON);
    log(`ceph: monitor up on port ${monPort} (${elapsed()})`);

    // OSD: registered in the osdmap and placed in the CRUSH map by hand
    // (`osd crush update on start = false`), then started.
    const osdUuid = randomUUID();
    const osdId = (await instance.ceph(['osd', 'create', osdUuid])).trim();
    if (osdId !== '0') throw new Error(`ceph: expected OSD id 0, got ${JSON.stringify(osdId)}`);
    await instance.ceph(['osd', 'crush', 'add', OSD, '1.0', 'root=default', 'host=localhost']);
    await run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    await instance.startDaemon(OSD, 'ceph-osd', [...c, '-i', '0']);
    await waitFor(
      'the OSD to be up',
      async () => JSON.parse(await instance.ceph(['osd', 'stat', '-f', 'json'])).num_up_osds === 1,
      instance,
      OSD,
    );
    log(`ceph: OSD up (${elapsed()})`);

    // radosgw creates its pools on start and only then serves HTTP.
    await instance.startDaemon(RGW, 'radosgw', [...c, '-n', RGW]);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitFor('radosgw to answer HTTP', () => answersHttp(endpoint), instance, RGW);
    log(`ceph: radosgw answers on ${endpoint} (${elapsed()})`);

    await run('radosgw-admin', [
      ...c,
      'user', 'create',
      '--uid=test',
      '--display-name=test',
      `--access-key=${CEPH_ACCESS_KEY}`,
      `--secret-key=${CEPH_SECRET_KEY}`,
    ]);
    // A second storage class, so tests can see one applied: Ceph knows only
    // STANDARD until told otherwise, and radosgw reads placement at start.
    const placement = ['--placement-id', 'default-placement', '--storage-class', 'STANDARD_IA'];
    await run('radosgw-admin', [...c, 'zonegroup', 'placement', 'add', '--rgw-zonegroup', 'default', ...placement]);
    await run('radosgw-admin', [...c, 'zone', 'placement', 'add', '--rgw-zone', 'default', ...placement, '--data-pool', 'default.rgw.buckets.data']);
    await instance.restartDaemon(RGW, 'radosgw', [...c, '-n', RGW]);
    await waitFor('radosgw to answer HTTP again', () => answersHttp(endpoint), instance, RGW);
    log(`ceph: ready (${elapsed()})`);

    return {
      endpoint,
      accessKeyId: CEPH_ACCESS_KEY,
      secretAccessKey: CEPH_SECRET_KEY,
      region: CEPH_REGION,
      stop: () => instance.stop(),
      conf: instance.conf,
    };
  } catch (err) {
    await instance.stop().catch(() => {});
    throw err;
  }
}

/**
 * The S3 server given by S3_TEST_ENDPOINT (+ S3_TEST_ACCESS_KEY,
 * S3_TEST_SECRET_KEY, S3_TEST_REGION; its stop() does nothing), else a fresh
 * Ceph from startCeph().
 */
export async function s3TestServer(opts: StartCephOptions = {}): Promise<S3TestServer> {
  const endpoint = process.env.S3_TEST_ENDPOINT;
  if (endpoint) {
    return {
      endpoint: endpoint.replace(/\/+$/, ''),
      accessKeyId: process.env.S3_TEST_ACCESS_KEY || CEPH_ACCESS_KEY,
      secretAccessKey: process.env.S3_TEST_SECRET_KEY || CEPH_SECRET_KEY,
      region: process.env.S3_TEST_REGION || CEPH_REGION,
      stop: async () => {},
    };
  }
  return startCeph(opts);
}

/**
 * Creates a bucket `warmup-<random>`, puts one small object and deletes both: on a
 * fresh Ceph the first CreateBucket (~3 s) and PutObject (~2 s) create pools,
 * which should not happen inside a test's timeout.
 */
export async function warmUp(
  endpoint: string,
  creds: { accessKeyId: string; secretAccessKey: string; region?: string },
): Promise<void> {
  const client = new S3Client({
    endpoint,
    region: creds.region ?? CEPH_REGION,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const Bucket = `warmup-${randomUUID().slice(0, 8)}`; // several runs may share one server (S3_TEST_ENDPOINT)
  const Key = 'warmup.txt';
  try {
    try {
      await client.send(new CreateBucketCommand({ Bucket }));
    } catch (err) {
      // Left over from an interrupted warm-up against a long-lived server.
      if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
    }
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'warm-up\n' }));
    await client.send(new DeleteObjectCommand({ Bucket, Key }));
    await client.send(new DeleteBucketCommand({ Bucket }));
  } finally {
    client.destroy();
  }
}

/** One running (or starting) Ceph: its folder, daemons and how to stop them. */
class Instance {
  readonly conf: string;
  private readonly pids = new Map<string, number>();
  private stopping: Promise<void> | undefined;
  /** Kills the daemons if the process exits without stop() (e.g. a crash). */
  private readonly onExit = () => this.killSync();

  constructor(readonly dir: string) {
    this.conf = path.join(dir, 'ceph.conf');
    process.once('exit', this.onExit);
  }

  record(): StateRecord {
    return { owner: process.pid, ownerStart: procStartTime(process.pid), dir: this.dir, pids: [...this.pids.values()] };
  }

  /** Runs the `ceph` CLI against this cluster and returns its stdout. */
  async ceph(args: string[]): Promise<string> {
    return run('ceph', ['-c', this.conf, '--connect-timeout', '10', ...args], CLI_TIMEOUT_MS);
  }

  /**
   * Starts a daemon that detaches: the command exits once the daemon is up
   * (non-zero on failure); the daemon's pid is then read from its pid file.
   */
  async startDaemon(name: string, cmd: string, args: string[]): Promise<void> {
    const outFile = path.join(this.dir, 'log', `${name}.out`);
    const out = await open(outFile, 'a');
    try {
      const child = spawn(cmd, args, { stdio: ['ignore', out.fd, out.fd], detached: true });
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', (err) => reject(wrapSpawnError(cmd, err)));
        child.once('exit', (c) => resolve(c));
      });
      if (code !== 0) throw new Error(`${cmd} exited with ${code}:\n${await this.logTail(name)}`);
    } finally {
      await out.close();
    }
    const pidFile = this.pidFile(name);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
      if (pid > 0) {
        this.pids.set(name, pid);
        await updateState((list) => list.map((r) => (r.dir === this.dir ? this.record() : r)));
        return;
      }
      if (Date.now() > deadline) throw new Error(`${cmd} started but wrote no pid file ${pidFile}`);
      await sleep(50);
    }
  }

  /** Stops one daemon and starts it again (to make it reread its configuration). */
  async restartDaemon(name: string, cmd: string, args: string[]): Promise<void> {
    const pid = this.pids.get(name);
    if (pid !== undefined && isOurDaemon(pid, this.dir)) await terminate([pid]);
    this.pids.delete(name);
    await rm(this.pidFile(name), { force: true });
    await this.startDaemon(name, cmd, args);
  }

  /** The end of a daemon's captured output and log file, for error messages. */
  async logTail(name: string): Promise<string> {
    const parts: string[] = [];
    for (const file of [path.join(this.dir, 'log', `${name}.out`), path.join(this.dir, 'log', `${name}.log`)]) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text.trim()) parts.push(`--- ${file}\n${text.split('\n').slice(-30).join('\n')}`);
    }
    return parts.join('\n') || `(no output from ${name} in ${this.dir}/log)`;
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    process.removeListener('exit', this.onExit);
    // Read the pid files too: a daemon may have started without us knowing
    // its pid yet (a start that failed half-way).
    for (const name of [MON, OSD, RGW]) {
      const pid = Number.parseInt(await readFile(this.pidFile(name), 'utf8').catch(() => ''), 10);
      if (pid > 0 && !this.pids.has(name)) this.pids.set(name, pid);
    }
    const ours = (names: string[]) =>
      names.flatMap((n) => this.pids.get(n) ?? []).filter((pid) => isOurDaemon(pid, this.dir));
    // One at a time, in reverse start order: radosgw's shutdown unwatches
    // objects on the OSD and hangs without it; the OSD waits (~5 s) for the
    // monitor to acknowledge its shutdown. In this order all exit at once.
    for (const name of [RGW, OSD, MON]) await terminate(ours([name]));
    await rm(this.dir, { recursive: true, force: true });
    await updateState((list) => list.filter((r) => r.dir !== this.dir));
  }

  /** Last resort from the 'exit' handler: only synchronous calls work there. */
  private killSync(): void {
    for (const pid of this.pids.values()) {
      if (isOurDaemon(pid, this.dir)) signal(pid, 'SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
    // The state file keeps the record; the next start finds nothing alive
    // and drops it.
  }

  private pidFile(name: string): string {
    return path.join(this.dir, 'run', `${name}.pid`);
  }
}

/** The whole configuration; `$name` is expanded by Ceph per daemon. */
function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd crush update on start = false
pid file = ${dir}/run/$name.pid
admin socket = ${dir}/run/$name.asok
run dir = ${dir}/run
crash dir = ${dir}/crash
log file = ${dir}/log/$name.log
mon cluster log file = ${dir}/log/cluster.log
keyring = ${dir}/keyring

[mon]
mon data = ${dir}/mon
# The temp disk may be nearly full on a developer's machine; the monitor
# would shut itself down below 5 % free by default.
mon data avail crit = 0
# Each monitor change (pool create, osd create, ...) otherwise waits ~1 s for
# the next Paxos round; radosgw makes a dozen of them while it starts.
paxos propose interval = 0.01
paxos min wait = 0.01

[osd]
osd data = ${dir}/osd
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}

[client]
# Without this radosgw (auth off) retries forever:
# "get_initial_auth_request returned -13".
ms mon client mode = crc

[${RGW}]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
`;
}

// ---------------------------------------------------------------------------
// Processes

/** Runs a command to completion and returns its stdout; errors carry stderr. */
async function run(cmd: string, args: string[], timeout = PHASE_TIMEOUT_MS): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string; killed?: boolean };
    if (e.code === 'ENOENT') throw wrapSpawnError(cmd, e);
    const why = e.killed ? `timed out after ${timeout} ms` : `failed (${e.code ?? 'error'})`;
    throw new Error(`${cmd} ${args.join(' ')} ${why}:\n${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

function wrapSpawnError(cmd: string, err: NodeJS.ErrnoException): Error {
  if (err.code === 'ENOENT') return missingBinaryError([cmd]);
  return err;
}

function missingBinaryError(cmds: string[]): Error {
  return new Error(
    `Ceph is not installed: ${cmds.join(', ')} not found in PATH. ` +
      'npm test installs it through tests/provision.sh (as root, or with sudo: apt-get install ceph-mon ceph-osd radosgw ceph-common), ' +
      'or set S3_TEST_ENDPOINT to an S3 server to test against.',
  );
}

async function assertBinariesInstalled(): Promise<void> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const missing: string[] = [];
  for (const bin of BINARIES) {
    let found = false;
    for (const d of dirs) {
      if (await access(path.join(d, bin), fsConstants.X_OK).then(() => true, () => false)) {
        found = true;
        break;
      }
    }
    if (!found) missing.push(bin);
  }
  if (missing.length > 0) throw missingBinaryError(missing);
}

/** Retries `check` until it returns true; on timeout, fails with the daemon's log. */
async function waitFor(what: string, check: () => Promise<boolean>, instance: Instance, daemon: string): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `\nlast error: ${lastError.message}` : '';
      throw new Error(
        `ceph: timed out after ${PHASE_TIMEOUT_MS / 1000} s waiting for ${what}${detail}\n${await instance.logTail(daemon)}`,
      );
    }
    await sleep(200);
  }
}

/** True once anything answers HTTP at `endpoint` (any status). */
function answersHttp(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(endpoint, { timeout: 2000, agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Ports the kernel hands out for 127.0.0.1, all held open until all are picked. */
async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** /proc/PID/stat, or undefined when there is no such process. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The process's start time in clock ticks since boot: tells a reused pid apart. */
function procStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/**
 * Alive and not a zombie (the detached daemons are children of PID 1, which
 * in a container may never reap them).
 */
function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  if (stat) return stat[0] !== 'Z' && stat[0] !== 'X';
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function procCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** A live process started with `-c DIR/ceph.conf`: never kill a reused pid. */
function isOurDaemon(pid: number, dir: string): boolean {
  return isAlive(pid) && procCmdline(pid).includes(path.join(dir, 'ceph.conf'));
}

/** SIGTERM, then SIGKILL whatever still runs after KILL_AFTER_MS. */
async function terminate(pids: number[]): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + KILL_AFTER_MS;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(100);
  await kill(pids.filter(isAlive));
}

/** SIGKILL, and wait until gone. */
async function kill(pids: number[]): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGKILL');
  while (pids.some(isAlive)) await sleep(50);
}

// ---------------------------------------------------------------------------
// State file: instances started by live or dead test processes

interface StateRecord {
  /** The test process that started the instance. */
  owner: number;
  ownerStart: string | undefined;
  dir: string;
  pids: number[];
}

async function readState(): Promise<StateRecord[]> {
  try {
    const parsed: unknown = JSON.parse(await readFile(STATE_FILE, 'utf8'));
    return Array.isArray(parsed) ? (parsed as StateRecord[]) : [];
  } catch {
    return [];
  }
}

/** Read-modify-write; the rename makes the write atomic for readers. */
// Not locked: two test processes starting Ceph at the same instant may lose a
// record, whose leftovers then stay until a reboot. Rare enough for tests.
async function updateState(change: (list: StateRecord[]) => StateRecord[]): Promise<void> {
  const next = change(await readState());
  const tmp = `${STATE_FILE}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(next, null, 2));
  await rename(tmp, STATE_FILE);
}

function ownerAlive(record: StateRecord): boolean {
  return isAlive(record.owner) && procStartTime(record.owner) === record.ownerStart;
}

/**
 * Kills the daemons of instances whose test process is gone (killed before
 * its stop() ran) and removes their folders. Instances of live test
 * processes, e.g. a parallel run, are left alone.
 */
async function killLeftovers(log: (s: string) => void): Promise<void> {
  const dead = (await readState()).filter((r) => !ownerAlive(r));
  if (dead.length === 0) return;
  for (const record of dead) {
    const pids = new Set(record.pids.filter((pid) => isOurDaemon(pid, record.dir)));
    // Also daemons started after the record was last written.
    for (const pid of await pidsWithConf(record.dir)) pids.add(pid);
    if (pids.size > 0) log(`ceph: killing leftover daemons ${[...pids].join(', ')} of ${record.dir}`);
    // Their data is garbage: no graceful shutdown (which would take ~5 s
    // when they all go at once, see Instance.doStop).
    await kill([...pids]);
    await rm(record.dir, { recursive: true, force: true });
  }
  const deadDirs = new Set(dead.map((r) => r.dir));
  await updateState((list) => list.filter((r) => !deadDirs.has(r.dir)));
}

/** Live processes whose command line names DIR/ceph.conf. */
async function pidsWithConf(dir: string): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  return entries
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => pid !== process.pid && isOurDaemon(pid, dir));
}
