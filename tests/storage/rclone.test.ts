/**
 * The rclone store, driving Debian's real rclone (1.60) against remotes
 * configured by environment only (tests/helpers/rclone-remotes.ts): an
 * `sftp` remote on a throw-away sshd and a `local` one. The conformance
 * suite (whole for sftp, the cases a remote changes for local), then what
 * is rclone's own: the program missing, a remote
 * not configured, Ctrl-C and close() killing rclone, hashes checked in
 * verify, stderr never shown raw, flags from the environment ignored.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BackupError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { registerSecretValue } from '../../src/log/redact.js';
import { rcloneDestinationSchema } from '../../src/config/destinations/rclone-schema.js';
import { openRcloneStore, type RcloneTarget } from '../../src/storage/rclone.js';
import { lastErrorLine, StderrTail } from '../../src/storage/rclone-errors.js';
import type { ArchiveWrite, Store, WriteOptions } from '../../src/storage/store.js';
import { cutAfter, startFaultProxy } from '../helpers/fault-proxy.js';
import { startRcloneRemotes, type RcloneRemotes } from '../helpers/rclone-remotes.js';
import { knownHostsFor } from '../helpers/sshd.js';
import { tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait-for.js';
import { storeContract } from './store-contract.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
// Every rclone call is a process (and, for sftp, an SSH session): on this shared 2-core machine
// a contract test can take tens of seconds. A bound, not a measurement.
vi.setConfig({ testTimeout: 180_000 });

let r: RcloneRemotes;
/** A client key the sshd does not accept. */
let strangerKey: string;

beforeAll(async () => {
  r = await startRcloneRemotes();
  strangerKey = path.join(r.home, 'stranger');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKey]);
}, 60_000);
afterAll(async () => {
  await r?.stop();
});

/** Where each store's folder is on this machine's disk (both remotes reach it). */
const folders = new WeakMap<Store, { target: RcloneTarget; env: Record<string, string | undefined>; dir: string }>();

function open(target: RcloneTarget, env = r.env(), dir = target.path): Store {
  const store = openRcloneStore(target, { name: 'rclone', env, home: r.home, cwd: r.root });
  folders.set(store, { target, env, dir });
  return store;
}

function freshFolder(): string {
  return path.join(r.root, `f-${randomBytes(6).toString('hex')}`);
}

async function rawNames(of: Store): Promise<string[]> {
  const names = await fs.readdir(folders.get(of)!.dir).catch(() => [] as string[]);
  return names.sort();
}

async function plant(of: Store, name: string, content: Buffer): Promise<void> {
  await fs.writeFile(path.join(folders.get(of)!.dir, name), content);
}

storeContract('rclone sftp remote (OpenSSH)', {
  create: async () => open({ remote: 'nas', path: freshFolder() }),
  sibling: async (of) => open(folders.get(of)!.target),
  rawNames,
  plant,
  // 48 MiB: every rclone call starts a process and an SSH session; memory is still checked.
  largeBytes: 48 * MiB,
  // No wrongCredentials: 'a wrong sftp key' below is that case with stronger assertions (the code and
  // rclone's reason), and each run of it waits out rclone's 10 paced connection retries (~11 s).
  missingLocation: async () => open({ remote: 'nosuch', path: freshFolder() }),
  async throughCutProxy(cutAfterBytes) {
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: r.sshd.port }, [], { raw: true });
    const cut = cutAfter(proxy, cutAfterBytes);
    const knownHosts = await knownHostsFor(r.sshd, proxy.port);
    const store = open({ remote: 'cut', path: freshFolder(), timeoutSeconds: 20 }, r.env(r.sftpRemote('cut', { PORT: String(proxy.port), KNOWN_HOSTS_FILE: knownHosts })));
    return {
      store,
      restore: cut.restore,
      close: async () => {
        cut.stop();
        await proxy.close();
      },
    };
  },
});

// The local remote runs only the cases where the remote makes a difference. The store's code is
// the same for every remote (one rclone process per operation); the remote changes rclone's
// backend, so: the hash `backend features` offers (sha256 here, sha1 over sftp), which verify
// compares ('publish', 'verify-size'); `moveto --ignore-existing` as a local rename, which
// publishing and NAME_TAKEN rest on ('publish', 'name-taken', 'sidecar-taken'); lsjson's listing
// of other writes' claims and of sidecars ('reserve', 'sidecar-claim'); the exit codes of a
// missing file for cat, lsjson --stat and deletefile ('reads'). The other cases run the same
// rcat / deletefile / cat calls as over sftp above: abort and Ctrl-C on this remote are also
// checked by 'rclone local remote: processes, hashes, overwrites' and the faulty-rclone tests
// below (they use it); the lifecycle code sits above the Store interface; a missing remote is
// not a backend's matter.
storeContract(
  'rclone local remote',
  {
    create: async () => open({ remote: 'disk', path: freshFolder() }),
    sibling: async (of) => open(folders.get(of)!.target),
    rawNames,
    plant,
  },
  { only: ['publish', 'reserve', 'sidecar-claim', 'verify-size', 'name-taken', 'sidecar-taken', 'reads'] },
);

function options(signal = new AbortController().signal): WriteOptions {
  return { logger: silentLogger, signal };
}

async function rejection(p: Promise<unknown>): Promise<BackupError> {
  try {
    await p;
  } catch (error) {
    return error as BackupError;
  }
  throw new Error('expected a rejection');
}

/** PIDs of running processes whose command line holds every one of `parts`. */
async function processesWith(...parts: string[]): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (parts.every((p) => args.some((a) => a.includes(p)))) found.push(Number(entry));
  }
  return found;
}

describe('rclone destination settings', () => {
  it('accepts a remote and a folder, with defaults', () => {
    expect(rcloneDestinationSchema.parse({ type: 'rclone', remote: 'gdrive', path: 'backups/host1/' })).toEqual({
      type: 'rclone',
      remote: 'gdrive',
      path: 'backups/host1',
    });
    expect(rcloneDestinationSchema.parse({ type: 'rclone', remote: 'my nas', binary: '/opt/rclone', configFile: '~/rc.conf', timeoutSeconds: 30 })).toMatchObject({
      remote: 'my nas',
      path: '',
    });
    expect(rcloneDestinationSchema.parse({ type: 'rclone', remote: 'nas', path: '/' }).path).toBe('/');
  });

  it.each([
    [{ remote: 'gdrive:' }, 'without the colon'],
    [{ remote: '-v' }, 'does not start with "-"'],
    [{ remote: 'a/b' }, 'rclone remote name'],
    [{ remote: 'nas', path: 'a/../b' }, '".."'],
    [{ remote: 'nas', path: 'a\nb' }, 'control characters'],
    [{ remote: 'nas', flags: ['--dry-run'] }, 'flags'],
    [{ remote: 'nas', timeoutSeconds: 0 }, 'timeoutSeconds'],
  ])('refuses %j', (fields, message) => {
    const result = rcloneDestinationSchema.safeParse({ type: 'rclone', ...fields });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')).toContain(message);
  });
});

describe('rclone errors', () => {
  it('keeps only the last 8 KiB of stderr', () => {
    const tail = new StderrTail(8 * 1024);
    for (let i = 0; i < 1000; i++) tail.push(Buffer.from(`line ${i} ${'x'.repeat(100)}\n`));
    const text = tail.text();
    expect(text.length).toBeLessThanOrEqual(8 * 1024);
    expect(text).toContain('line 999');
    expect(text).not.toContain('line 900 ');
  });

  it('picks the "Failed to" line, drops the date and level, escapes controls and redacts secrets', () => {
    registerSecretValue('s3cr3t-t0ken-value');
    const stderr = [
      '2026/12/01 10:00:00 ERROR : a: Failed to copy: token s3cr3t-t0ken-value',
      '2026/12/01 10:00:01 NOTICE: whatever',
      '2026/12/01 10:00:02 Failed to rcat: https://user:hunter2pass@example.com/x \u001b[31mred\u0007',
      '',
    ].join('\n');
    const line = lastErrorLine(stderr);
    expect(line).toBe('Failed to rcat: https://user:[redacted]@example.com/x \\x1b[31mred\\x07');
    expect(lastErrorLine('2026/12/01 10:00:00 ERROR : s3cr3t-t0ken-value gone\n')).toBe('[redacted] gone');
  });
});

describe('rclone itself missing or misconfigured', () => {
  it('binary "/nonexistent/rclone": RCLONE_NOT_FOUND, saying how to install it', async () => {
    const store = open({ remote: 'disk', path: freshFolder(), binary: '/nonexistent/rclone' });
    try {
      const error = await rejection(store.check({ dryRun: true }));
      expect(error).toBeInstanceOf(BackupError);
      expect(error.code).toBe('RCLONE_NOT_FOUND');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain('/nonexistent/rclone');
      expect(error.message).toContain('apt install rclone');
      expect(error.message).toContain('"binary"');
      await expect(store.list()).rejects.toMatchObject({ code: 'RCLONE_NOT_FOUND' });
    } finally {
      await store.close();
    }
  });

  it('rclone not on PATH: RCLONE_NOT_FOUND', async () => {
    const store = open({ remote: 'disk', path: freshFolder() }, r.env({ PATH: await tempDir() }));
    try {
      const error = await rejection(store.check({ dryRun: false }));
      expect(error.code).toBe('RCLONE_NOT_FOUND');
      expect(error.message).toContain('"rclone" is not on PATH');
    } finally {
      await store.close();
    }
  });

  it('a remote rclone does not know: RCLONE_NO_REMOTE naming `rclone config` and the variable', async () => {
    const store = open({ remote: 'nosuch', path: 'backups' });
    try {
      const error = await rejection(store.check({ dryRun: true }));
      expect(error.code).toBe('RCLONE_NO_REMOTE');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain('no remote named "nosuch"');
      expect(error.message).toContain('rclone config');
      expect(error.message).toContain('RCLONE_CONFIG_NOSUCH_TYPE');
      expect(error.message).toContain('/dev/null (RCLONE_CONFIG)');
      // rcat (the claim a write makes first, before any listing) says the same.
      const write = store.beginWrite(options());
      const claim = await rejection(write.reserve('a.zip'));
      expect(claim.code).toBe('RCLONE_NO_REMOTE');
      await write.close();
    } finally {
      await store.close();
    }
  });

  it('a remote of a type rclone does not know: RCLONE_NO_REMOTE', async () => {
    const store = open({ remote: 'odd', path: 'x' }, r.env({ RCLONE_CONFIG_ODD_TYPE: 'nosuchbackend' }));
    try {
      const error = await rejection(store.check({ dryRun: true }));
      expect(error.code).toBe('RCLONE_NO_REMOTE');
      expect(error.message).toContain('"nosuchbackend"');
    } finally {
      await store.close();
    }
  });

  it('a wrong sftp key: RCLONE_FAILED with the exit code and rclone\'s reason', async () => {
    const store = open({ remote: 'wrong', path: freshFolder() }, r.env(r.sftpRemote('wrong', { KEY_FILE: strangerKey })));
    try {
      const error = await rejection(store.check({ dryRun: false }));
      expect(error).toBeInstanceOf(BackupError);
      expect(error.code).toBe('RCLONE_FAILED');
      expect(error.message).toMatch(/rclone lsjson for wrong:\S+ failed \(exit 1: an error not otherwise categorised\): .*unable to authenticate/);
    } finally {
      await store.close();
    }
  });

  it('an sftp server whose key is not the pinned one, or missing from known_hosts: refused, RCLONE_FAILED naming knownhosts', async () => {
    const knownHosts = path.join(r.home, `known_hosts-${randomBytes(4).toString('hex')}`);
    // Another key (the stranger's) under this server's [host]:port: a changed or spoofed host.
    const otherKey = (await fs.readFile(`${strangerKey}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    // One connection attempt: rclone's 10 paced low-level retries (~11 s) would change nothing here.
    const env = r.env({ ...r.sftpRemote('pinned', { KNOWN_HOSTS_FILE: knownHosts }), RCLONE_LOW_LEVEL_RETRIES: '1' });
    for (const [content, said] of [
      [`[127.0.0.1]:${r.sshd.port} ${otherKey}\n`, 'knownhosts: key mismatch'],
      ['', 'knownhosts: key is unknown'],
    ] as const) {
      await fs.writeFile(knownHosts, content);
      const store = open({ remote: 'pinned', path: freshFolder() }, env);
      try {
        const error = await rejection(store.check({ dryRun: true }));
        expect(error).toBeInstanceOf(BackupError);
        expect(error.code).toBe('RCLONE_FAILED');
        expect(error.message).toContain(said);
      } finally {
        await store.close();
      }
    }
  });

  it("stderr with a secret or control characters is never shown raw", async () => {
    const dir = await tempDir();
    const fake = path.join(dir, 'rclone');
    // A stand-in that fails the way a hostile server's message could make rclone fail.
    await fs.writeFile(
      fake,
      '#!/bin/sh\nprintf "2026/12/01 10:00:00 Failed to lsjson: pass=topsecretpassword99 \\033]0;owned\\007 \\033[2J https://me:pw12345678@host/\\n" >&2\nexit 7\n',
      { mode: 0o755 },
    );
    const store = open({ remote: 'disk', path: freshFolder(), binary: fake }, r.env({ RCLONE_CONFIG_DISK_PASS: 'topsecretpassword99' }));
    try {
      const error = await rejection(store.check({ dryRun: true }));
      expect(error.code).toBe('RCLONE_FAILED');
      expect(error.message).toContain('exit 7: a fatal error');
      expect(error.message).not.toContain('topsecretpassword99');
      expect(error.message).not.toContain('pw12345678');
      // eslint-disable-next-line no-control-regex
      expect(error.message).not.toMatch(/[\u0000-\u001f]/);
      expect(error.message).toContain('\\x1b]0;owned\\x07');
    } finally {
      await store.close();
    }
  });

  it('flags from the environment that change what rclone does are not passed on', async () => {
    const store = open({ remote: 'disk', path: freshFolder() }, r.env({ RCLONE_EXCLUDE: '*.sha256', RCLONE_DRY_RUN: 'true', RCLONE_VERBOSE: '2' }));
    try {
      await store.check({ dryRun: false });
      await store.writeText('a.sha256', 'x\n');
      expect((await store.list()).map((f) => f.name)).toEqual(['a.sha256']);
    } finally {
      await store.close();
    }
  });
});

describe.each([
  ['sftp', 'nas'],
  ['local', 'disk'],
])('rclone %s remote: processes, hashes, overwrites', (_kind, remote) => {
  it('Ctrl-C mid-write kills rclone rcat and leaves nothing', async () => {
    const dir = freshFolder();
    const store = open({ remote, path: dir });
    try {
      await store.check({ dryRun: false });
      const controller = new AbortController();
      const write = store.beginWrite(options(controller.signal));
      expect(await write.reserve('x.tar.gz')).toBe(true);
      const sink = await write.open(controller.signal);
      let sent = 0;
      const source = new Readable({
        read() {
          sent += MiB;
          this.push(randomBytes(MiB));
        },
      });
      const piping = pipeline(source, sink, { signal: controller.signal });
      const pids = await waitFor('rclone rcat running', async () => {
        const found = await processesWith('rcat', dir);
        return found.length > 0 && sent >= 4 * MiB ? found : undefined;
      });
      controller.abort(new Error('Ctrl-C'));
      await expect(piping).rejects.toThrow();
      await write.abort();
      await write.close();
      expect(await processesWith('rcat', dir)).toEqual([]);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
      expect(await fs.readdir(dir)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('close() kills a read in progress', async () => {
    const dir = freshFolder();
    const store = open({ remote, path: dir });
    await store.check({ dryRun: false });
    await fs.writeFile(path.join(dir, 'big.bin'), randomBytes(8 * MiB));
    const stream = await store.openRead('big.bin');
    // Not consumed: rclone cat blocks on the full pipe.
    await waitFor('rclone cat running', async () => ((await processesWith('cat', `${dir}/big.bin`)).length > 0 ? true : undefined));
    const closed = rejection(new Promise((resolve, reject) => {
      stream.on('error', reject);
      stream.on('end', resolve);
      stream.resume();
      void store.close();
    }));
    expect((await closed).code).toBe('RCLONE_FAILED');
    expect(await processesWith('cat', `${dir}/big.bin`)).toEqual([]);
  });

  it("verify compares the remote's hash with the bytes sent: a same-size change is caught", async () => {
    const dir = freshFolder();
    const store = open({ remote, path: dir });
    try {
      await store.check({ dryRun: false });
      const write = store.beginWrite(options());
      expect(await write.reserve('h.zip')).toBe(true);
      const data = randomBytes(100_000);
      await pipeline(Readable.from([data]), await write.open());
      // Someone changes the uploaded bytes, keeping the size.
      const [temp] = (await fs.readdir(dir)).filter((n) => n.startsWith('.h.zip.partial-'));
      const changed = Buffer.from(data);
      changed[500] = changed[500]! ^ 0xff;
      await fs.writeFile(path.join(dir, temp!), changed);
      const { createHash } = await import('node:crypto');
      const error = await rejection(write.verify({ sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length }));
      expect(error.code).toBe('VERIFY_FAILED');
      // sftp offers md5/sha1 (md5sum/sha1sum run on the server), the local backend sha256.
      expect(error.message).toContain(remote === 'nas' ? "remote's sha1" : "remote's sha256");
      await write.close();
      expect(await fs.readdir(dir)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('rclone 1.60 facts: `moveto --immutable` still replaces the target; `--ignore-existing` leaves both', async () => {
    const dir = freshFolder();
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'theirs'), 'theirs, longer\n');
    await fs.writeFile(path.join(dir, 'ours'), 'ours\n');
    const env = r.env() as NodeJS.ProcessEnv;
    await run('rclone', ['moveto', '--ignore-existing', `${remote}:${dir}/ours`, `${remote}:${dir}/theirs`], { env });
    expect((await fs.readdir(dir)).sort()).toEqual(['ours', 'theirs']);
    expect(await fs.readFile(path.join(dir, 'theirs'), 'utf8')).toBe('theirs, longer\n');
    await run('rclone', ['moveto', '--immutable', `${remote}:${dir}/ours`, `${remote}:${dir}/theirs`], { env });
    expect(await fs.readdir(dir)).toEqual(['theirs']);
    expect(await fs.readFile(path.join(dir, 'theirs'), 'utf8')).toBe('ours\n');
  });

  it('list() hides temporary names and probes; a missing folder is DESTINATION_NOT_FOUND, created by check()', async () => {
    const dir = freshFolder();
    const store = open({ remote, path: dir });
    try {
      await expect(store.list()).rejects.toMatchObject({ code: 'DESTINATION_NOT_FOUND' });
      await store.check({ dryRun: true });
      await expect(fs.stat(dir)).rejects.toThrow();
      await store.check({ dryRun: false });
      expect((await fs.stat(dir)).isDirectory()).toBe(true);
      await fs.writeFile(path.join(dir, '.a.zip.partial-0123456789ab'), 'x');
      await fs.writeFile(path.join(dir, '.backup-probe-0123456789ab'), 'x');
      await fs.writeFile(path.join(dir, '.hidden-of-someone'), 'x');
      expect((await store.list()).map((f) => f.name)).toEqual(['.hidden-of-someone']);
      // Another write's temporary name keeps the name reserved.
      const write = store.beginWrite(options());
      expect(await write.reserve('a.zip')).toBe(false);
      await write.close();
    } finally {
      await store.close();
    }
  });
});

/**
 * The real rclone behind a wrapper that injects faults (chosen by variables
 * in the store's environment; markers in FAKE_DIR tell the test how far it got):
 * - FAKE_ARCHIVE_MOVE=after: the archive's moveto moves, then hangs (killed by Ctrl-C or the timeout
 *   after the move happened); =before: it hangs without moving; =done: it moves (marker "moved");
 *   =slow: it waits FAKE_SLOW_SECONDS, then moves.
 * - FAKE_STAT_FAIL=once|always: once the archive was moved, lsjson fails (the first time, or every time).
 * - FAKE_FAIL_MANIFEST_MOVE=1: the manifest's moveto fails (the .sha256's, run at the same time, moves).
 */
async function faultyRclone(): Promise<{ binary: string; markers: string }> {
  const dir = await tempDir();
  const markers = path.join(dir, 'markers');
  await fs.mkdir(markers);
  const binary = path.join(dir, 'rclone');
  const script = `#!/bin/sh
op=$1
for a; do last=$a; done
if [ "$op" = moveto ]; then
  case "$last" in
    *.manifest.json)
      if [ -n "$FAKE_FAIL_MANIFEST_MOVE" ]; then echo "2026/12/01 10:00:00 ERROR : Failed to moveto: injected" >&2; exit 1; fi ;;
    *.sha256) ;;
    *)
      if [ "$FAKE_ARCHIVE_MOVE" = before ]; then touch "$FAKE_DIR/moving"; exec sleep 600; fi
      if [ "$FAKE_ARCHIVE_MOVE" = slow ]; then sleep "$FAKE_SLOW_SECONDS"; fi
      if [ "$FAKE_ARCHIVE_MOVE" = done ]; then
        /usr/bin/rclone "$@" || exit $?
        touch "$FAKE_DIR/moved"
        exit 0
      fi
      if [ "$FAKE_ARCHIVE_MOVE" = after ]; then
        /usr/bin/rclone "$@" || exit $?
        touch "$FAKE_DIR/moved"
        exec sleep 600
      fi ;;
  esac
fi
if [ "$op" = lsjson ] && [ -e "$FAKE_DIR/moved" ]; then
  if [ "$FAKE_STAT_FAIL" = always ] || { [ "$FAKE_STAT_FAIL" = once ] && [ ! -e "$FAKE_DIR/failed" ]; }; then
    touch "$FAKE_DIR/failed"
    echo "2026/12/01 10:00:00 ERROR : Failed to lsjson: injected" >&2
    exit 1
  fi
fi
exec /usr/bin/rclone "$@"
`;
  await fs.writeFile(binary, script, { mode: 0o755 });
  return { binary, markers };
}

function recordingLogger(): { logger: WriteOptions['logger']; lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') }, lines };
}

describe('rclone: a write stopped while its files are being moved to their final names', () => {
  const NAME = 'p.tar.gz';
  const FINALS = [NAME, `${NAME}.manifest.json`, `${NAME}.sha256`];

  /** reserve, upload, verify and the sidecars; the archive is not published yet. */
  async function upToPublish(write: ArchiveWrite, bytes = 64 * 1024) {
    expect(await write.reserve(NAME)).toBe(true);
    const data = randomBytes(bytes);
    await pipeline(Readable.from([data]), await write.open());
    const { createHash } = await import('node:crypto');
    const info = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
    await write.verify(info);
    await write.writeSidecars([
      { name: `${NAME}.sha256`, content: `${info.sha256}  ${NAME}\n` },
      { name: `${NAME}.manifest.json`, content: '{}\n' },
    ]);
    return info;
  }

  async function setUp(env: Record<string, string>, timeoutSeconds?: number) {
    const fake = await faultyRclone();
    const dir = freshFolder();
    const store = open({ remote: 'disk', path: dir, binary: fake.binary, timeoutSeconds }, r.env({ FAKE_DIR: fake.markers, ...env }));
    await store.check({ dryRun: false });
    return { store, dir, markers: fake.markers };
  }

  it('Ctrl-C after the move happened (moveto killed): the archive is kept with both sidecars', async () => {
    const { store, dir, markers } = await setUp({ FAKE_ARCHIVE_MOVE: 'after' });
    const { logger, lines } = recordingLogger();
    try {
      const controller = new AbortController();
      const write = store.beginWrite({ logger, signal: controller.signal });
      const info = await upToPublish(write);
      const publishing = write.publish(info);
      await waitFor('the archive moved', async () => ((await fs.readdir(markers)).includes('moved') ? true : undefined));
      controller.abort(new Error('Ctrl-C'));
      expect((await rejection(publishing)).code).toBe('CANCELLED');
      await write.abort();
      await write.close();
      expect(await fs.readdir(dir).then((n) => n.sort())).toEqual(FINALS);
      expect(lines.join('\n')).toMatch(/warn: .*p\.tar\.gz was published before the write was stopped/);
    } finally {
      await store.close();
    }
  });

  it('Ctrl-C before the move (moveto killed): nothing is left', async () => {
    const { store, dir, markers } = await setUp({ FAKE_ARCHIVE_MOVE: 'before' });
    try {
      const controller = new AbortController();
      const write = store.beginWrite(options(controller.signal));
      const info = await upToPublish(write);
      expect((await fs.readdir(dir)).filter((n) => FINALS.includes(n)).sort()).toEqual(FINALS.slice(1));
      const publishing = write.publish(info);
      await waitFor('the archive moving', async () => ((await fs.readdir(markers)).includes('moving') ? true : undefined));
      controller.abort(new Error('Ctrl-C'));
      expect((await rejection(publishing)).code).toBe('CANCELLED');
      await write.close();
      expect(await fs.readdir(dir)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('the timeout kills moveto after the move happened: the archive is kept with both sidecars', async () => {
    // 5 s: every rclone call of this write is bounded by it (a loaded machine starts rclone slowly).
    const { store, dir } = await setUp({ FAKE_ARCHIVE_MOVE: 'after' }, 5);
    try {
      const write = store.beginWrite(options());
      const info = await upToPublish(write);
      const error = await rejection(write.publish(info));
      expect(error.code).toBe('RCLONE_FAILED');
      expect(error.message).toContain('moveto');
      await write.close();
      expect(await fs.readdir(dir).then((n) => n.sort())).toEqual(FINALS);
    } finally {
      await store.close();
    }
  });

  it('the check after the move fails once: abort() finds the archive published and deletes nothing', async () => {
    const { store, dir } = await setUp({ FAKE_ARCHIVE_MOVE: 'done', FAKE_STAT_FAIL: 'once' });
    const { logger, lines } = recordingLogger();
    try {
      const write = store.beginWrite({ logger, signal: new AbortController().signal });
      const info = await upToPublish(write);
      expect((await rejection(write.publish(info))).code).toBe('RCLONE_FAILED');
      await write.close();
      expect(await fs.readdir(dir).then((n) => n.sort())).toEqual(FINALS);
      expect(lines.join('\n')).toMatch(/warn: .*p\.tar\.gz was published before the write was stopped/);
    } finally {
      await store.close();
    }
  });

  it('whether the archive was published cannot be told: the sidecars are kept and named in the log', async () => {
    const { store, dir } = await setUp({ FAKE_ARCHIVE_MOVE: 'done', FAKE_STAT_FAIL: 'always' });
    const { logger, lines } = recordingLogger();
    try {
      const write = store.beginWrite({ logger, signal: new AbortController().signal });
      const info = await upToPublish(write);
      expect((await rejection(write.publish(info))).code).toBe('RCLONE_FAILED');
      await write.close();
      expect(await fs.readdir(dir).then((n) => n.sort())).toEqual(FINALS);
      const log = lines.join('\n');
      expect(log).toMatch(/error: Could not tell whether .*p\.tar\.gz was published.*sidecars were kept: .*p\.tar\.gz\.sha256/);
      expect(log).toContain('p.tar.gz.manifest.json');
    } finally {
      await store.close();
    }
  });

  it("the archive's move may take longer than timeoutSeconds (an allowance by its size): it is published", async () => {
    // moveto takes 6 s, more than the 4 s limit of every other call; 16 MiB allow 4 + 16 s.
    const { store, dir } = await setUp({ FAKE_ARCHIVE_MOVE: 'slow', FAKE_SLOW_SECONDS: '6' }, 4);
    try {
      const write = store.beginWrite(options());
      const info = await upToPublish(write, 16 * MiB);
      expect((await write.publish(info)).fileName).toBe(NAME);
      await write.close();
      expect(await fs.readdir(dir).then((n) => n.sort())).toEqual(FINALS);
    } finally {
      await store.close();
    }
  });

  it("a sidecar's move fails after the other sidecar was moved: abort() deletes the moved one too", async () => {
    const { store, dir } = await setUp({ FAKE_FAIL_MANIFEST_MOVE: '1' });
    try {
      const write = store.beginWrite(options());
      const error = await rejection(upToPublish(write));
      expect(error.code).toBe('RCLONE_FAILED');
      // The .sha256 reached its final name; nobody has been told.
      expect(await fs.readdir(dir)).toContain(`${NAME}.sha256`);
      await write.close();
      expect(await fs.readdir(dir)).toEqual([]);
      expect((await store.list()).map((f) => f.name)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe('rclone: secrets in backend options from the environment', () => {
  it.each([
    ['RCLONE_S3_SECRET_ACCESS_KEY', 'wJalrXUtnFEMIK7MDENGbPxRfiCYzz1', 'wJalrXUtnFEMIK7MDENGbPxRfiCYzz1'],
    ['RCLONE_B2_KEY', 'K001b2applicationkeyvalue77', 'K001b2applicationkeyvalue77'],
    ['RCLONE_WEBDAV_PASS', 'webdav-obscured-pass-991', 'webdav-obscured-pass-991'],
    ['RCLONE_SFTP_KEY_PEM', '-----BEGIN OPENSSH PRIVATE KEY-----b3BlbnNzaC1rZXk', '-----BEGIN OPENSSH PRIVATE KEY-----b3BlbnNzaC1rZXk'],
    ['RCLONE_AZUREBLOB_SAS_URL', 'https://sashost5.blob.core.windows.net/c?sv=2022-11-02&sp=rw&sig=SaSsIgNaTuRe55', 'https://sashost5.blob.core.windows.net/c?sv=2022-11-02&sp=rw&sig=SaSsIgNaTuRe55'],
    [
      'RCLONE_DRIVE_TOKEN',
      '{"access_token":"ya29.driveAccessToken8812","token_type":"Bearer","refresh_token":"1//driveRefresh4471","expiry":"2030-01-01T00:00:00Z"}',
      'ya29.driveAccessToken8812',
    ],
  ])("%s's value, printed by rclone on stderr, never reaches the error message", async (variable, value, printed) => {
    const dir = await tempDir();
    const fake = path.join(dir, 'rclone');
    await fs.writeFile(fake, '#!/bin/sh\nprintf "2026/12/01 10:00:00 ERROR : Failed to lsjson: auth with %s refused\\n" "$FAKE_ECHO" >&2\nexit 1\n', { mode: 0o755 });
    const store = open({ remote: 'disk', path: freshFolder(), binary: fake }, r.env({ [variable]: value, FAKE_ECHO: printed }));
    try {
      const error = await rejection(store.check({ dryRun: true }));
      expect(error.code).toBe('RCLONE_FAILED');
      expect(error.message).toContain('auth with [redacted] refused');
      expect(error.message).not.toContain(printed);
      expect(error.message).not.toContain('sashost5');
    } finally {
      await store.close();
    }
  });
});
