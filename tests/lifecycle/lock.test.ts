/**
 * The job lock against real processes: other runs are child Node processes
 * running the same lock module (src/lifecycle/lock.ts, transpiled as is into
 * a temp folder, since Node 20 cannot run TypeScript), killed with SIGKILL
 * when a test needs a run that died. Nothing is mocked; no timing asserts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackupError, CancelledError, LockedError, UsageError } from '../../src/errors.js';
import { acquireLock, isOwnerAlive, type LockOwner } from '../../src/lifecycle/lock.js';
import type { Logger } from '../../src/log/logger-types.js';
import { tempDir } from '../helpers/fixtures.js';
import { itAsRoot } from '../helpers/root.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HOLDER = path.join(ROOT, 'tests/helpers/hold-lock.mjs');
const HOST = os.hostname();
const NOBODY = 65534;

// ---- the lock module for child processes ---------------------------------------------------

let moduleDir: string;
let lockModule: string;

beforeAll(async () => {
  moduleDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-module-'));
  await fs.chmod(moduleDir, 0o755); // a child running as nobody imports it too
  for (const rel of ['src/lifecycle/lock.ts', 'src/errors.ts', 'src/log/logger-types.ts', 'src/fs/read-small-file.ts']) {
    const source = await fs.readFile(path.join(ROOT, rel), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: rel,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const out = path.join(moduleDir, rel.replace(/\.ts$/, '.js'));
    await fs.mkdir(path.dirname(out), { recursive: true, mode: 0o755 });
    await fs.writeFile(out, outputText, { mode: 0o644 });
  }
  await fs.writeFile(path.join(moduleDir, 'package.json'), '{ "type": "module" }\n');
  lockModule = path.join(moduleDir, 'src/lifecycle/lock.js');
});

afterAll(async () => {
  await fs.rm(moduleDir, { recursive: true, force: true });
});

// ---- other runs: child processes --------------------------------------------------------------

interface Event {
  event: 'held' | 'error' | 'warn' | 'info' | 'released' | 'error-log';
  owner?: LockOwner;
  takenOver?: LockOwner | null;
  code?: string;
  exitCode?: number;
  message?: string;
}

interface Run {
  child: ChildProcess;
  pid: number;
  events: Event[];
  /** The first event named one of `names` (already seen or still to come). */
  until(...names: Event['event'][]): Promise<Event>;
  exited: Promise<void>;
  release(): Promise<void>;
  kill(): Promise<void>;
}

const runs: Run[] = [];

afterEach(async () => {
  await Promise.all(runs.splice(0).map((run) => run.kill()));
});

function startRun(options: { file: string; host?: string; command?: string; wait?: boolean | number; pollMs?: number; asUser?: number }): Run {
  const { asUser, ...rest } = options;
  const lockOptions = { host: HOST, command: 'backup run (child)', ...rest };
  const child = spawn(process.execPath, [HOLDER, lockModule, JSON.stringify(lockOptions)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    ...(asUser === undefined ? {} : { uid: asUser, gid: asUser }),
  });
  const events: Event[] = [];
  const listeners: Array<() => void> = [];
  let done = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    events.push(JSON.parse(line) as Event);
    for (const listener of listeners) listener();
  });
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      done = true;
      for (const listener of listeners) listener();
      resolve();
    });
  });
  const run: Run = {
    child,
    pid: child.pid!,
    events,
    exited,
    until: (...names) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = events.find((e) => names.includes(e.event));
          if (found) resolve(found);
          else if (done) reject(new Error(`the child exited without ${names.join('/')}: ${JSON.stringify(events)}`));
        };
        listeners.push(check);
        check();
      }),
    release: async () => {
      child.stdin!.write('release\n');
      await run.until('released');
      await exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  runs.push(run);
  return run;
}

/** A logger that keeps what it was told; `onInfo` runs on each info(). */
function recorder(onInfo?: () => void): Logger & { warns: string[]; infos: string[] } {
  const warns: string[] = [];
  const infos: string[] = [];
  return {
    warns,
    infos,
    debug: () => undefined,
    info: (message) => {
      infos.push(message);
      onInfo?.();
    },
    warn: (message) => void warns.push(message),
    error: (message) => void warns.push(message),
  };
}

async function lockFile(): Promise<string> {
  return path.join(await tempDir(), 'job.lock');
}

async function readOwner(file: string): Promise<LockOwner> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as LockOwner;
}

// ---- tests --------------------------------------------------------------------------------

describe('one run at a time', () => {
  it('a second process is refused while the first holds the lock, and the lock is left as it was', async () => {
    const file = await lockFile();
    const first = startRun({ file, command: 'backup run --config config/settings.json' });
    const held = await first.until('held', 'error');
    expect(held).toMatchObject({ event: 'held', owner: { pid: first.pid, host: HOST, command: 'backup run --config config/settings.json' } });
    const before = await fs.readFile(file, 'utf8');

    const second = acquireLock({ file, host: HOST, command: 'backup run' });
    await expect(second).rejects.toBeInstanceOf(LockedError);
    const error = (await second.catch((e: unknown) => e)) as LockedError;
    expect(error).toMatchObject({ code: 'LOCKED', exitCode: 1, file, holder: { pid: first.pid, host: HOST } });
    expect(error.message).toContain(`pid ${first.pid} on this host (${HOST})`);
    expect(error.message).toContain(`running since ${held.owner!.started}`);
    expect(error.message).toContain('command: backup run --config config/settings.json');
    expect(error.message).toContain('Nothing was done.');
    expect(error.message).toContain('--wait');
    expect(await fs.readFile(file, 'utf8')).toBe(before);

    await first.release();
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('the other way round: a child process is refused while this process holds the lock', async () => {
    const file = await lockFile();
    const lock = await acquireLock({ file, host: HOST, command: 'backup run (parent)' });
    const child = startRun({ file });
    const event = await child.until('held', 'error');
    expect(event).toMatchObject({ event: 'error', code: 'LOCKED', exitCode: 1 });
    expect(event.message).toContain(`pid ${process.pid}`);
    expect(event.message).toContain('command: backup run (parent)');
    await child.exited;
    expect(child.child.exitCode).toBe(1);
    expect((await readOwner(file)).pid).toBe(process.pid);
    await lock.release();
  });

  it('several acquireLock calls racing in one process: exactly one gets the lock', async () => {
    const file = await lockFile();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => acquireLock({ file, host: HOST, command: 'race' })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const r of lost) expect(r.reason).toBeInstanceOf(LockedError);
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLock>>>).value;
    expect(await readOwner(file)).toEqual(winner.owner);
    await winner.release();
  });

  it('six processes starting at once: exactly one gets the lock, the others are refused', async () => {
    const file = await lockFile();
    const contenders = Array.from({ length: 6 }, (_, i) => startRun({ file, command: `run ${i}` }));
    const outcomes = await Promise.all(contenders.map((run) => run.until('held', 'error')));
    const winners = contenders.filter((_, i) => outcomes[i]!.event === 'held');
    expect(winners).toHaveLength(1);
    expect(outcomes.filter((o) => o.event === 'error').map((o) => o.code)).toEqual(Array(5).fill('LOCKED'));
    expect((await readOwner(file)).pid).toBe(winners[0]!.pid);
    await winners[0]!.release();
  });
});

describe('stale locks', () => {
  it('the lock of a process that was killed (SIGKILL) is taken over with a warning naming it', async () => {
    const file = await lockFile();
    const dead = startRun({ file });
    const { owner } = await dead.until('held');
    await dead.kill();
    expect(() => process.kill(dead.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(isOwnerAlive(owner!, HOST)).toBe(false);

    const logger = recorder();
    const lock = await acquireLock({ file, host: HOST, command: 'backup run', logger });
    expect(lock.takenOver).toMatchObject({ pid: dead.pid, started: owner!.started, procStart: owner!.procStart });
    expect(logger.warns).toHaveLength(1);
    expect(logger.warns[0]).toContain(`pid ${dead.pid}`);
    expect(logger.warns[0]).toContain(`started ${owner!.started}`);
    expect(logger.warns[0]).toContain(`process start time ${owner!.procStart}`);
    expect(logger.warns[0]).toContain('no longer exists');
    expect(await readOwner(file)).toEqual(lock.owner);
    await lock.release();
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('six processes finding the same stale lock: exactly one takes it over, the others are refused', async () => {
    const file = await lockFile();
    const dead = startRun({ file });
    await dead.until('held');
    await dead.kill();

    const contenders = Array.from({ length: 6 }, (_, i) => startRun({ file, command: `run ${i}` }));
    const outcomes = await Promise.all(contenders.map((run) => run.until('held', 'error')));
    const winners = contenders.filter((_, i) => outcomes[i]!.event === 'held');
    expect(winners).toHaveLength(1);
    expect(outcomes.find((o) => o.event === 'held')!.takenOver).toMatchObject({ pid: dead.pid });
    expect(outcomes.filter((o) => o.event === 'error').map((o) => o.code)).toEqual(Array(5).fill('LOCKED'));
    // The stale lock was removed once, by the winner.
    await Promise.all(contenders.filter((run) => run !== winners[0]).map((run) => run.exited));
    expect(contenders.flatMap((run) => run.events).filter((e) => e.event === 'warn')).toHaveLength(1);
    expect((await readOwner(file)).pid).toBe(winners[0]!.pid);
    expect(await fs.readdir(path.dirname(file))).toEqual(['job.lock']); // no guard file left
    await winners[0]!.release();
  });

  it('several acquireLock calls in one process finding the same stale lock: exactly one gets it', async () => {
    const file = await lockFile();
    const dead = startRun({ file });
    await dead.until('held');
    await dead.kill();
    for (let round = 0; round < 5; round++) {
      const logger = recorder();
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireLock({ file, host: HOST, command: 'race', logger })));
      const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(won).toHaveLength(1);
      expect(won[0]!.takenOver).toMatchObject({ pid: dead.pid });
      expect(logger.warns).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LockedError);
      expect(await readOwner(file)).toEqual(won[0]!.owner);
      // Leave the dead run's record behind again for the next round.
      await fs.writeFile(file, JSON.stringify(won[0]!.takenOver));
    }
  });

  it('a pid that now belongs to another process (its start time differs) is stale', async () => {
    const file = await lockFile();
    const probe = await acquireLock({ file, host: HOST, command: 'probe' });
    const me = probe.owner;
    await probe.release();
    expect(me.procStart).toMatch(/^\d+$/);
    expect(isOwnerAlive(me, HOST)).toBe(true);

    // A run with this very pid, long ago: the pid has been reused by this process since.
    const reused: LockOwner = { pid: process.pid, host: HOST, started: '2020-01-01T00:00:00.000Z', command: 'backup run', procStart: String(Number(me.procStart) - 1) };
    expect(isOwnerAlive(reused, HOST)).toBe(false);
    await fs.writeFile(file, JSON.stringify(reused));
    const logger = recorder();
    const lock = await acquireLock({ file, host: HOST, command: 'backup run', logger });
    expect(lock.takenOver).toEqual(reused);
    expect(logger.warns).toHaveLength(1);
    expect(logger.warns[0]).toContain(`pid ${process.pid} now belongs to another process`);
    expect(logger.warns[0]).toContain(`process start time ${reused.procStart}`);
    await lock.release();
  });

  describe.each([
    ['empty', ''],
    ['half written', '{"pid": 12'],
    ['not a lock record', '{"hello": "world"}'],
  ])('a lock file that is %s', (_name, content) => {
    it('and new is treated as held (a run may be writing it)', async () => {
      const file = await lockFile();
      await fs.writeFile(file, content);
      const error = (await acquireLock({ file, host: HOST, command: 'x' }).catch((e: unknown) => e)) as LockedError;
      expect(error).toBeInstanceOf(LockedError);
      expect(error.holder).toBeUndefined();
      expect(error.message).toContain('not readable yet');
      expect(error.message).toContain(`rm '${file}'`);
      expect(await fs.readFile(file, 'utf8')).toBe(content);
    });

    it('and older than a minute is stale: taken over with a warning', async () => {
      const file = await lockFile();
      await fs.writeFile(file, content);
      const twoMinutesAgo = new Date(Date.now() - 120_000);
      await fs.utimes(file, twoMinutesAgo, twoMinutesAgo);
      const logger = recorder();
      const lock = await acquireLock({ file, host: HOST, command: 'x', logger });
      expect(lock.takenOver).toBeUndefined();
      expect(logger.warns).toHaveLength(1);
      expect(logger.warns[0]).toContain('empty or not a lock record');
      expect(await readOwner(file)).toEqual(lock.owner);
      await lock.release();
    });
  });

  it('a lock from another host is never taken over, even once that process is gone', async () => {
    const file = await lockFile();
    const remote = startRun({ file, host: 'backup-b', command: 'backup run on b' });
    const { owner } = await remote.until('held');
    const content = await fs.readFile(file, 'utf8');
    await remote.kill(); // gone, but only host backup-b could know

    expect(isOwnerAlive(owner!, 'backup-a')).toBeUndefined();
    const error = (await acquireLock({ file, host: 'backup-a', command: 'x' }).catch((e: unknown) => e)) as LockedError;
    expect(error).toBeInstanceOf(LockedError);
    expect(error).toMatchObject({ code: 'LOCKED', exitCode: 1, holder: { pid: remote.pid, host: 'backup-b' } });
    expect(error.message).toContain(`pid ${remote.pid} on host backup-b`);
    expect(error.message).toContain('command: backup run on b');
    expect(error.message).toContain('Nothing was done.');
    expect(error.message).toContain('if it is gone on backup-b, delete the lock file');
    expect(error.message).toContain(`rm '${file}'`);
    expect(await fs.readFile(file, 'utf8')).toBe(content);
  });
});

describe('waiting', () => {
  it('wait: true gets the lock once the holder releases it, and says once that it waits', async () => {
    const file = await lockFile();
    const holder = startRun({ file });
    await holder.until('held');
    const logger = recorder(() => void holder.child.stdin!.write('release\n'));
    const lock = await acquireLock({ file, host: HOST, command: 'waiter', wait: true, pollMs: 20, logger });
    expect(logger.infos).toHaveLength(1);
    expect(logger.infos[0]).toContain(`pid ${holder.pid}`);
    expect(await holder.until('released')).toBeTruthy();
    expect(await readOwner(file)).toEqual(lock.owner);
    await lock.release();
  });

  it('wait: N seconds gives up with a LockedError that says how long it waited', async () => {
    const file = await lockFile();
    const holder = await acquireLock({ file, host: HOST, command: 'holder' });
    const logger = recorder();
    const error = (await acquireLock({ file, host: HOST, command: 'x', wait: 0.2, pollMs: 20, logger }).catch((e: unknown) => e)) as LockedError;
    expect(error).toBeInstanceOf(LockedError);
    expect(error.message).toContain(`Waited 0.2 s for the lock ${file}; it is still held by pid ${process.pid}`);
    expect(error.message).toContain('Nothing was done.');
    expect(logger.infos).toHaveLength(1);
    await holder.release();
  });

  it('Ctrl-C while waiting throws the abort reason', async () => {
    const file = await lockFile();
    const holder = await acquireLock({ file, host: HOST, command: 'holder' });
    const controller = new AbortController();
    const reason = new CancelledError();
    const logger = recorder(() => controller.abort(reason));
    await expect(acquireLock({ file, host: HOST, command: 'x', wait: true, pollMs: 50, signal: controller.signal, logger })).rejects.toBe(reason);
    // Already cancelled: throws before touching the file.
    await holder.release();
    await expect(acquireLock({ file, host: HOST, command: 'x', signal: controller.signal })).rejects.toBe(reason);
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a negative wait is a usage error', async () => {
    const file = await lockFile();
    await expect(acquireLock({ file, host: HOST, command: 'x', wait: -1 })).rejects.toBeInstanceOf(UsageError);
  });
});

describe('release', () => {
  it('is idempotent', async () => {
    const file = await lockFile();
    const logger = recorder();
    const lock = await acquireLock({ file, host: HOST, command: 'x', logger });
    await Promise.all([lock.release(), lock.release()]);
    await lock.release();
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(logger.warns).toEqual([]);
  });

  it('does not remove a lock that another run has taken since', async () => {
    const file = await lockFile();
    const first = startRun({ file });
    await first.until('held');
    // Someone deletes the lock by hand (the first run looked hung) and a new run takes it.
    await fs.rm(file);
    const second = await acquireLock({ file, host: HOST, command: 'second' });
    await first.release();
    expect(first.events.find((e) => e.event === 'warn')?.message).toContain(`is no longer this run's (now pid ${process.pid} on ${HOST}); left it in place`);
    expect(await readOwner(file)).toEqual(second.owner);
    await second.release();
  });
});

describe('a lock that cannot be created', () => {
  it('because its folder does not exist: a BackupError that says so', async () => {
    const file = path.join(await tempDir(), 'missing', 'job.lock');
    const error = (await acquireLock({ file, host: HOST, command: 'x' }).catch((e: unknown) => e)) as BackupError;
    expect(error).toBeInstanceOf(BackupError);
    expect(error).not.toBeInstanceOf(LockedError);
    expect(error).toMatchObject({ code: 'LOCK_FAILED', exitCode: 1 });
    expect(error.message).toContain(`its folder ${path.dirname(file)} does not exist`);
  });

  itAsRoot('because the folder is not writable (run as nobody): permission denied, in plain words', async () => {
    const dir = await tempDir(); // root's, mode 0755
    const file = path.join(dir, 'job.lock');
    const run = startRun({ file, asUser: NOBODY });
    const event = await run.until('held', 'error');
    expect(event).toMatchObject({ event: 'error', name: 'BackupError', code: 'LOCK_FAILED', exitCode: 1 });
    expect(event.message).toContain(`Cannot create the lock file ${file}: permission denied`);
    expect(event.message).toContain('[EACCES]');
  });
});

describe('what someone else put at the lock names (a backup folder other users can write to)', () => {
  /** A stale lock record at `file`: a run of this host that died. */
  async function plantStaleLock(file: string): Promise<void> {
    const dead = startRun({ file });
    await dead.until('held');
    await dead.kill();
  }

  /** A file to protect: its content and time must not change. */
  async function victim(): Promise<{ file: string; unchanged(): Promise<void> }> {
    const file = path.join(await tempDir(), 'victim');
    await fs.writeFile(file, 'precious\n');
    const old = new Date('2020-01-01T00:00:00Z');
    await fs.utimes(file, old, old);
    return {
      file,
      unchanged: async () => {
        const stat = await fs.stat(file);
        expect(stat.atime).toEqual(old); // not even read (checked before this reads it)
        expect(stat.mtime).toEqual(old);
        expect(await fs.readFile(file, 'utf8')).toBe('precious\n');
      },
    };
  }

  it('a symlink planted at the takeover guard: refused with LOCK_FAILED, the victim untouched and unread, the link left', async () => {
    const file = await lockFile();
    await plantStaleLock(file);
    const target = await victim();
    await fs.symlink(target.file, `${file}.takeover`);
    const error = (await acquireLock({ file, host: HOST, command: 'x' }).catch((e: unknown) => e)) as BackupError;
    expect(error).toMatchObject({ code: 'LOCK_FAILED', exitCode: 1 });
    expect(error.message).toContain(`The lock file ${file}.takeover is a symbolic link, which this tool never creates`);
    expect(error.message).toContain(`rm '${file}.takeover'`);
    await target.unchanged();
    expect((await fs.lstat(`${file}.takeover`)).isSymbolicLink()).toBe(true);
  });

  it('a symlink planted at the lock itself (to a file, or dangling): refused, nothing followed', async () => {
    const target = await victim();
    for (const to of [target.file, path.join(path.dirname(target.file), 'does-not-exist')]) {
      const file = await lockFile();
      await fs.symlink(to, file);
      const error = (await acquireLock({ file, host: HOST, command: 'x' }).catch((e: unknown) => e)) as BackupError;
      expect(error).toMatchObject({ code: 'LOCK_FAILED' });
      expect(error.message).toContain('is a symbolic link');
      await expect(fs.stat(path.join(path.dirname(target.file), 'does-not-exist'))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    await target.unchanged();
  });

  it('a FIFO at the lock path: a clear error at once, not a hang', async () => {
    const file = await lockFile();
    execFileSync('mkfifo', [file]);
    const error = (await acquireLock({ file, host: HOST, command: 'x' }).catch((e: unknown) => e)) as BackupError;
    expect(error).toMatchObject({ code: 'LOCK_FAILED' });
    expect(error.message).toContain(`The lock file ${file} is a FIFO (named pipe), which this tool never creates`);
  });

  it('a folder at the lock path: a clear error', async () => {
    const file = await lockFile();
    await fs.mkdir(file);
    const error = (await acquireLock({ file, host: HOST, command: 'x' }).catch((e: unknown) => e)) as BackupError;
    expect(error).toMatchObject({ code: 'LOCK_FAILED' });
    expect(error.message).toContain('is a folder');
  });

  it('a huge old file at the lock path is read no further than a lock record can be, and taken over as a broken lock', async () => {
    const file = await lockFile();
    const handle = await fs.open(file, 'w');
    await handle.truncate(3 * 1024 * 1024 * 1024); // sparse: 3 GiB of zeros that cost no disk
    await handle.close();
    const old = new Date(Date.now() - 3_600_000);
    await fs.utimes(file, old, old);
    const logger = recorder();
    const lock = await acquireLock({ file, host: HOST, command: 'x', logger });
    expect(logger.warns[0]).toContain('empty or not a lock record');
    expect(await readOwner(file)).toEqual(lock.owner);
    await lock.release();
  });

  it('leaves no temporary file behind and creates the lock exclusively', async () => {
    const file = await lockFile();
    await plantStaleLock(file);
    const lock = await acquireLock({ file, host: HOST, command: 'x' });
    expect(await fs.readdir(path.dirname(file))).toEqual(['job.lock']);
    await lock.release();
  });
});
