/**
 * The SFTP store against a real OpenSSH sshd on 127.0.0.1 (started and
 * stopped here): the conformance suite, then what only SFTP has: the host
 * key check (unknown, changed, hashed known_hosts), key login (wrong key,
 * encrypted key with passphraseEnv, ssh-agent), a remote folder that is
 * missing or not a folder (never created), reconnecting after a dropped
 * connection, and OpenSSH's rename that never replaces.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import type { Store } from '../../src/storage/store.js';
import type { Logger } from '../../src/log/logger-types.js';
import { cutAfter, startFaultProxy } from '../helpers/fault-proxy.js';
import { tempDir } from '../helpers/fixtures.js';
import { startSftpFixture, type SftpFixture } from '../helpers/sftp-store.js';
import { knownHostsFor } from '../helpers/sshd.js';
import { storeContract, writeOptions } from './store-contract.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
let fx: SftpFixture;

beforeAll(async () => {
  fx = await startSftpFixture();
});
afterAll(async () => {
  await fx?.stop();
});

async function failure(promise: Promise<unknown>): Promise<BackupError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(BackupError);
  return error as BackupError;
}

storeContract('SFTP (OpenSSH)', {
  create: async () => fx.open(await fx.target()),
  sibling: async (of) => fx.open({ ...(await fx.target({}, { create: false })), path: fx.folderOf(of) }),
  // The server shares this file system: every name in the folder, temporary ones included.
  rawNames: async (of) => (await fs.readdir(fx.folderOf(of))).sort(),
  plant: async (of, name, content) => fs.writeFile(path.join(fx.folderOf(of), name), content),
  async wrongCredentials() {
    const [key] = await fx.newKey();
    return fx.open(await fx.target({ identityFiles: [key] }));
  },
  missingLocation: async () => fx.open(await fx.target({}, { create: false })),
  async throughCutProxy(cutAfterBytes) {
    const proxy = await startFaultProxy({ host: fx.sshd.host, port: fx.sshd.port }, [], { raw: true });
    const cut = cutAfter(proxy, cutAfterBytes);
    const store = fx.open(await fx.target({ port: proxy.port, knownHostsFile: await knownHostsFor(fx.sshd, proxy.port) }));
    return {
      store,
      restore: cut.restore,
      close: async () => {
        cut.stop();
        await proxy.close();
      },
    };
  },
  largeBytes: 96 * MiB,
});

describe('SFTP store: what only SFTP has', () => {
  it('labels itself sftp://user@host:port/path; a relative path is below the login folder', async () => {
    const target = await fx.target();
    const store = fx.open(target);
    expect(store.label).toBe(`sftp://${fx.sshd.user}@127.0.0.1:${fx.sshd.port}${target.path}`);
    expect(store.locationOf('a.zip')).toBe(`sftp://${fx.sshd.user}@127.0.0.1:${fx.sshd.port}${target.path}/a.zip`);
    expect(fx.open({ ...target, path: 'backups/host1' }).label).toBe(`sftp://${fx.sshd.user}@127.0.0.1:${fx.sshd.port}/~/backups/host1`);
  });

  it("list() and stat() give the size and the server's mtime (whole seconds); a folder is not listed, nor an archive", async () => {
    const target = await fx.target();
    const store = fx.open(target);
    try {
      const when = new Date('2026-03-04T05:06:07Z');
      await fs.writeFile(path.join(target.path, 'a.zip'), 'aaaa');
      await fs.utimes(path.join(target.path, 'a.zip'), when, when);
      await fs.mkdir(path.join(target.path, 'sub.zip'));
      expect(await store.list()).toEqual([{ name: 'a.zip', size: 4, modified: when }]);
      expect(await store.stat('a.zip')).toEqual({ name: 'a.zip', size: 4, modified: when });
      await expect(store.stat('sub.zip')).rejects.toMatchObject({ code: 'NOT_AN_ARCHIVE' });
    } finally {
      await store.close();
    }
  });
});

/** The shell command in backquotes in `message` that starts with `start` (and has `has` in it). */
function suggested(message: string, start: string, has = ''): string {
  const found = [...message.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).find((c) => c.startsWith(start) && c.includes(has));
  expect(found, `a \`${start} ...\` command in: ${message}`).toBeDefined();
  return found!;
}

describe('SFTP store: the host key is never trusted silently', () => {
  it('an unknown host is refused with its fingerprint; the ssh-keyscan command the message gives makes it known', async () => {
    const knownHostsFile = path.join(await tempDir('sftp-kh-'), 'known_hosts');
    const store = fx.open(await fx.target({ knownHostsFile }));
    const error = await failure(store.check({ dryRun: true }));
    expect(error.code).toBe('SFTP_HOST_KEY');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(fx.sshd.hostKeyFingerprint);
    expect(error.message).toContain('does not exist yet');
    const accept = suggested(error.message, 'mkdir', '>>');
    expect(accept).toBe(`mkdir -p -m 700 ${path.dirname(knownHostsFile)} && ssh-keyscan -p ${fx.sshd.port} -t ed25519 127.0.0.1 >> ${knownHostsFile}`);
    // The check command prints the same fingerprint the message shows.
    const { stdout } = await run('sh', ['-c', suggested(error.message, 'ssh-keyscan', '| ssh-keygen -lf -')]);
    expect(stdout).toContain(fx.sshd.hostKeyFingerprint);
    await run('sh', ['-c', accept]);
    await store.check({ dryRun: false });
  });

  it('a first ~/.ssh/known_hosts, with no ~/.ssh folder yet: the accept command the message gives works as printed', async () => {
    const home = await tempDir('sftp-home-');
    const knownHostsFile = path.join(home, '.ssh', 'known_hosts');
    const store = fx.open(await fx.target({ knownHostsFile }));
    const error = await failure(store.check({ dryRun: true }));
    expect(error.code).toBe('SFTP_HOST_KEY');
    expect(error.message).toContain(`ssh -p ${fx.sshd.port} ${fx.sshd.user}@127.0.0.1`);
    await run('sh', ['-c', suggested(error.message, 'mkdir', '>>')]);
    expect((await fs.stat(path.join(home, '.ssh'))).mode & 0o777).toBe(0o700);
    await store.check({ dryRun: false });
  });

  it('a changed host key is refused (file and line, may be an attack); ssh-keygen -R then ssh-keyscan, as the message says, fixes it', async () => {
    const dir = await tempDir('sftp-kh-');
    const knownHostsFile = path.join(dir, 'known_hosts');
    const [, otherPub] = await fx.newKey();
    const otherKey = otherPub.split(' ').slice(0, 2).join(' ');
    await fs.writeFile(knownHostsFile, `# the old server\n[127.0.0.1]:${fx.sshd.port} ${otherKey}\n`);
    const store = fx.open(await fx.target({ knownHostsFile }));
    const error = await failure(store.list());
    expect(error.code).toBe('SFTP_HOST_KEY');
    expect(error.message).toMatch(/CHANGED/);
    expect(error.message).toMatch(/attack/);
    expect(error.message).toContain(`${knownHostsFile} line 2`);
    expect(error.message).toContain(fx.sshd.hostKeyFingerprint);
    const remove = suggested(error.message, 'ssh-keygen -R');
    expect(remove).toBe(`ssh-keygen -R '[127.0.0.1]:${fx.sshd.port}' -f ${knownHostsFile}`);
    await run('sh', ['-c', remove]);
    await run('sh', ['-c', suggested(error.message, 'ssh-keyscan', '>>')]);
    expect(await store.list()).toEqual([]);
  });

  it('a hashed known_hosts entry (ssh-keygen -H) is accepted; a @revoked key is refused', async () => {
    const dir = await tempDir('sftp-kh-');
    const knownHostsFile = path.join(dir, 'known_hosts');
    await fs.writeFile(knownHostsFile, `${fx.sshd.knownHostsLine}\n`);
    await run('ssh-keygen', ['-H', '-f', knownHostsFile]);
    const hashed = await fs.readFile(knownHostsFile, 'utf8');
    expect(hashed).toMatch(/^\|1\|/);
    expect(hashed).not.toContain('127.0.0.1');
    await fx.open(await fx.target({ knownHostsFile })).check({ dryRun: false });

    const key = fx.sshd.knownHostsLine.split(' ').slice(1).join(' ');
    await fs.writeFile(knownHostsFile, `${fx.sshd.knownHostsLine}\n@revoked * ${key}\n`);
    const error = await failure(fx.open(await fx.target({ knownHostsFile })).check({ dryRun: true }));
    expect(error.code).toBe('SFTP_HOST_KEY');
    expect(error.message).toContain('@revoked');
  });
});

describe('SFTP store: logging in', () => {
  it('a key the server does not accept: SFTP_AUTH_FAILED naming user, host, the key file (never its content) and ssh-copy-id', async () => {
    const [key] = await fx.newKey();
    const error = await failure(fx.open(await fx.target({ identityFiles: [key] })).check({ dryRun: true }));
    expect(error.code).toBe('SFTP_AUTH_FAILED');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(`"${fx.sshd.user}"`);
    expect(error.message).toContain(`[127.0.0.1]:${fx.sshd.port}`);
    expect(error.message).toContain(key);
    expect(error.message).toContain(`ssh-copy-id -i ${key}.pub -p ${fx.sshd.port} ${fx.sshd.user}@127.0.0.1`);
    const secret = (await fs.readFile(key, 'utf8')).split('\n')[1]!;
    expect(error.message).not.toContain(secret);
  });

  it('an encrypted key: refused without passphraseEnv, with a wrong passphrase, or with the variable unset; used with the right one', async () => {
    const [key, pub] = await fx.newKey('correct horse battery');
    await fs.appendFile(fx.authorizedKeys, `${pub}\n`);
    const target = await fx.target({ identityFiles: [key] });
    const none = await failure(fx.open(target).check({ dryRun: true }));
    expect(none.code).toBe('SFTP_AUTH_FAILED');
    expect(none.message).toMatch(/encrypted.*passphraseEnv/);
    const unset = await failure(fx.open({ ...target, passphraseEnv: 'SFTP_KEY_PASS' }, {}).check({ dryRun: true }));
    expect(unset.message).toContain('SFTP_KEY_PASS, which is not set');
    const wrong = await failure(fx.open({ ...target, passphraseEnv: 'SFTP_KEY_PASS' }, { SFTP_KEY_PASS: 'wrong passphrase' }).check({ dryRun: true }));
    expect(wrong.code).toBe('SFTP_AUTH_FAILED');
    expect(wrong.message).toContain('could not be decrypted');
    expect(wrong.message).not.toContain('wrong passphrase');
    await fx.open({ ...target, passphraseEnv: 'SFTP_KEY_PASS' }, { SFTP_KEY_PASS: 'correct horse battery' }).check({ dryRun: false });
  });

  it('no key at all (no default key file, no agent): SFTP_AUTH_FAILED saying how to make one', async () => {
    const home = await tempDir('sftp-home-');
    const error = await failure(
      fx.open(await fx.target({ identityFiles: [path.join(home, '.ssh/id_ed25519')], identityExplicit: false })).check({ dryRun: true }),
    );
    expect(error.code).toBe('SFTP_AUTH_FAILED');
    expect(error.message).toContain('ssh-keygen -t ed25519');
  });

  it('logs in with a key held by ssh-agent (SSH_AUTH_SOCK), no key file', async () => {
    const dir = await tempDir('sftp-agent-');
    const socket = path.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !(await fs.stat(socket).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 20));
      await run('ssh-add', [fx.sshd.privateKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      const store = fx.open(await fx.target({ identityFiles: [], identityExplicit: false, agent: socket }));
      await store.check({ dryRun: false });
      await store.close();
    } finally {
      agent.kill();
    }
  });
});

describe('SFTP store: the remote folder', () => {
  it('a missing folder is DESTINATION_NOT_FOUND and is never created, dry run or not; a folder below a file too', async () => {
    const target = await fx.target({}, { create: false });
    for (const dryRun of [true, false]) {
      const error = await failure(fx.open(target).check({ dryRun }));
      expect(error.code).toBe('DESTINATION_NOT_FOUND');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(`mkdir -p '${target.path}'`);
    }
    await expect(fs.stat(target.path)).rejects.toMatchObject({ code: 'ENOENT' });
    const file = path.join(fx.sshd.root, `file-${randomBytes(4).toString('hex')}`);
    await fs.writeFile(file, 'x');
    expect((await failure(fx.open({ ...target, path: path.join(file, 'sub') }).check({ dryRun: true }))).code).toBe('DESTINATION_NOT_FOUND');
    expect((await failure(fx.open({ ...target, path: file }).check({ dryRun: true }))).code).toBe('DESTINATION_NOT_DIR');
    expect((await failure(fx.open(target).list())).code).toBe('DESTINATION_NOT_FOUND');
  });

  it('a folder the account may not write in (/sys/kernel: EACCES even for root): the dry run passes, the real check says so', async () => {
    const store = fx.open(await fx.target({ path: '/sys/kernel' }, { create: false }));
    await store.check({ dryRun: true });
    const error = await failure(store.check({ dryRun: false }));
    expect(error.code).toBe('STORE_ACCESS_DENIED');
    expect(error.message).toContain(`The account "${fx.sshd.user}" may not write there`);
  });

  it('an SSH server that is not there: SFTP_UNREACHABLE (exit 1), quickly', async () => {
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: 9 }, [], { raw: true });
    const port = proxy.port;
    await proxy.close();
    const error = await failure(fx.open(await fx.target({ port })).check({ dryRun: true }));
    expect(error.code).toBe('SFTP_UNREACHABLE');
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain('connection refused');
  });
});

describe('SFTP store: a dropped connection', () => {
  it('reads reconnect; a write cut mid-stream fails with SFTP_CONNECTION_LOST and its abort leaves nothing', async () => {
    const proxy = await startFaultProxy({ host: fx.sshd.host, port: fx.sshd.port }, [], { raw: true });
    try {
      const target = await fx.target({ port: proxy.port, knownHostsFile: await knownHostsFor(fx.sshd, proxy.port) });
      const store: Store = fx.open(target);
      await fs.writeFile(path.join(target.path, 'old.zip'), 'old archive');
      expect((await store.list()).map((f) => f.name)).toEqual(['old.zip']);
      proxy.resetAll();
      expect((await store.list()).map((f) => f.name)).toEqual(['old.zip']);
      proxy.resetAll();
      expect(await store.readText('old.zip', 100)).toBe('old archive');

      const write = store.beginWrite(writeOptions());
      expect(await write.reserve('new.zip')).toBe(true);
      const sink = await write.open();
      const before = proxy.clientBytes();
      const done = new Promise<unknown>((resolve) => sink.once('error', resolve));
      const piece = randomBytes(MiB);
      for (let i = 0; i < 64 && !sink.destroyed; i++) {
        if (!sink.write(piece)) await new Promise((r) => sink.once('drain', r).once('close', r));
        if (proxy.clientBytes() - before > 3 * MiB) proxy.resetAll();
      }
      const error = (await done) as BackupError;
      expect(error).toBeInstanceOf(BackupError);
      expect(error.code).toBe('SFTP_CONNECTION_LOST');
      expect((await fs.readdir(target.path)).sort()).toEqual(['.new.zip.partial', 'old.zip']);
      await write.abort();
      await write.close();
      expect(await fs.readdir(target.path)).toEqual(['old.zip']);
    } finally {
      await proxy.close();
    }
  });
});

/** A logger that keeps what it is given. */
function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
}

/**
 * The store's live ssh2 SFTP channel, with `method` wrapped: `after` runs
 * right after the request was handed to ssh2 (sent), before any answer can
 * be read. White-box, but the only exact way to make "the answer was lost".
 */
async function afterSending(store: Store, method: 'open' | 'rename', when: (remotePath: string) => boolean, after: () => void): Promise<void> {
  const session = await (store as unknown as { current: Promise<{ sftp: Record<string, (...args: unknown[]) => unknown> }> }).current;
  const sftp = session.sftp;
  const original = sftp[method]!.bind(sftp);
  sftp[method] = (...args: unknown[]) => {
    const result = original(...args);
    if (when(args[0] as string)) after();
    return result;
  };
}

/**
 * A raw TCP proxy to the sshd whose server-to-client bytes can be dropped
 * (`hold`: the client never sees the answers), whose connections can be
 * cut, and which can refuse new connections.
 */
async function holdingProxy(): Promise<{ port: number; hold(): void; cut(): void; refuse(on: boolean): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let holding = false;
  let refusing = false;
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (refusing) return void client.destroy();
    const upstream = net.connect(fx.sshd.port, fx.sshd.host);
    upstream.on('error', () => undefined);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (!holding) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hold: () => {
      holding = true;
    },
    cut: () => {
      holding = false;
      for (const s of sockets) s.destroy();
    },
    refuse: (on) => {
      refusing = on;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out waiting');
}

const exists = (file: string) => fs.stat(file).then(() => true, () => false);

/** reserve + upload + verify + both sidecars: a write ready to publish. */
async function readyToPublish(store: Store, name: string, data: Buffer, options = writeOptions()) {
  const write = store.beginWrite(options);
  expect(await write.reserve(name)).toBe(true);
  const sink = await write.open();
  await new Promise<void>((resolve, reject) => sink.end(data, () => resolve()).once('error', reject));
  const info = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
  await write.verify(info);
  await write.writeSidecars([
    { name: `${name}.sha256`, content: `${info.sha256}  ${name}\n` },
    { name: `${name}.manifest.json`, content: '{}\n' },
  ]);
  return { write, info };
}

describe('SFTP store: a publish whose answer was lost', () => {
  it('Ctrl-C right after the RENAME was sent: publish() is CANCELLED, the server renamed; abort() sees it landed and keeps the archive and both sidecars', async () => {
    const target = await fx.target();
    const store = fx.open(target);
    const logger = capturingLogger();
    const controller = new AbortController();
    const data = randomBytes(200_000);
    const { write, info } = await readyToPublish(store, 'a.tar.gz', data, writeOptions(controller.signal, { logger }));
    await afterSending(store, 'rename', () => true, () => controller.abort());
    const error = await failure(write.publish(info));
    expect(error.code).toBe('CANCELLED');
    await write.abort();
    await write.close();
    expect((await fs.readdir(target.path)).sort()).toEqual(['a.tar.gz', 'a.tar.gz.manifest.json', 'a.tar.gz.sha256']);
    expect(await fs.readFile(path.join(target.path, 'a.tar.gz'))).toEqual(data);
    expect(await fs.readFile(path.join(target.path, 'a.tar.gz.sha256'), 'utf8')).toBe(`${info.sha256}  a.tar.gz\n`);
    expect(logger.lines.join('\n')).toMatch(/a\.tar\.gz was published/);
  });

  it('the connection drops after the server renamed and the reconnect fails: abort() on a working link keeps all; with the server unreachable it deletes nothing and names the leftovers', async () => {
    const proxy = await holdingProxy();
    try {
      const target = await fx.target({ port: proxy.port, knownHostsFile: await knownHostsFor(fx.sshd, proxy.port), maxTries: 2 });
      for (const reachableAtAbort of [true, false]) {
        const store = fx.open(target);
        const logger = capturingLogger();
        const name = `b-${reachableAtAbort}.tar.gz`;
        const { write, info } = await readyToPublish(store, name, randomBytes(100_000), writeOptions(undefined, { logger }));
        proxy.hold();
        const publishing = write.publish(info).then(() => undefined, (e: unknown) => e);
        await until(() => exists(path.join(target.path, name)));
        proxy.refuse(true);
        proxy.cut();
        expect(await publishing).toBeInstanceOf(BackupError);
        proxy.refuse(!reachableAtAbort);
        await write.abort();
        proxy.refuse(false);
        expect((await fs.readdir(target.path)).filter((n) => n.startsWith(name)).sort()).toEqual([name, `${name}.manifest.json`, `${name}.sha256`]);
        const said = logger.lines.join('\n');
        if (reachableAtAbort) expect(said).toContain(`${name} was published`);
        else expect(said).toMatch(new RegExp(`Could not tell whether .*${name} was published.*nothing was deleted.*${name}\\.sha256`));
        await store.close();
      }
      expect((await fs.readdir(target.path)).filter((n) => n.startsWith('.'))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('SFTP store: an exclusive create whose answer was lost', () => {
  it("reserve's .NAME.partial created by the server after Ctrl-C: abort() removes it (the name is not blocked)", async () => {
    const target = await fx.target();
    const store = fx.open(target);
    await store.list(); // connected
    const controller = new AbortController();
    const write = store.beginWrite(writeOptions(controller.signal));
    await afterSending(store, 'open', (p) => p.endsWith('.c.tar.gz.partial'), () => controller.abort());
    expect((await failure(write.reserve('c.tar.gz'))).code).toBe('CANCELLED');
    await until(() => exists(path.join(target.path, '.c.tar.gz.partial')));
    await write.abort();
    await write.close();
    expect(await fs.readdir(target.path)).toEqual([]);
    const again = store.beginWrite(writeOptions());
    expect(await again.reserve('c.tar.gz')).toBe(true);
    await again.abort();
  });

  it("a sidecar created by the server after Ctrl-C: abort() removes it; a sidecar someone else made (NAME_TAKEN) is never removed", async () => {
    const target = await fx.target();
    const store = fx.open(target);
    const controller = new AbortController();
    const write = store.beginWrite(writeOptions(controller.signal));
    expect(await write.reserve('d.tar.gz')).toBe(true);
    const data = Buffer.from('archive bytes');
    const sink = await write.open();
    await new Promise<void>((resolve) => sink.end(data, () => resolve()));
    const info = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
    await write.verify(info);
    await afterSending(store, 'open', (p) => p.endsWith('d.tar.gz.sha256'), () => controller.abort());
    expect((await failure(write.writeSidecars([{ name: 'd.tar.gz.sha256', content: 'x\n' }]))).code).toBe('CANCELLED');
    await until(() => exists(path.join(target.path, 'd.tar.gz.sha256')));
    await write.abort();
    await write.close();
    expect(await fs.readdir(target.path)).toEqual([]);

    const other = store.beginWrite(writeOptions());
    expect(await other.reserve('e.tar.gz')).toBe(true);
    const otherSink = await other.open();
    await new Promise<void>((resolve) => otherSink.end(data, () => resolve()));
    await other.verify(info);
    await fs.writeFile(path.join(target.path, 'e.tar.gz.sha256'), 'not ours\n');
    expect((await failure(other.writeSidecars([{ name: 'e.tar.gz.sha256', content: 'x\n' }]))).code).toBe('NAME_TAKEN');
    await other.abort();
    expect(await fs.readdir(target.path)).toEqual(['e.tar.gz.sha256']);
    expect(await fs.readFile(path.join(target.path, 'e.tar.gz.sha256'), 'utf8')).toBe('not ours\n');
  });
});

describe('SFTP store: an explicit identityFile is the only key offered', () => {
  it('the agent holds the key the server accepts, identityFile names another: refused (agent keys are offered only without identityFile)', async () => {
    const dir = await tempDir('sftp-agent-');
    const socket = path.join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !(await exists(socket)); i++) await new Promise((r) => setTimeout(r, 20));
      await run('ssh-add', [fx.sshd.privateKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      const [otherKey] = await fx.newKey();
      const error = await failure(fx.open(await fx.target({ identityFiles: [otherKey], identityExplicit: true, agent: socket })).check({ dryRun: true }));
      expect(error.code).toBe('SFTP_AUTH_FAILED');
      expect(error.message).toContain(otherKey);
      expect(error.message).not.toContain('ssh-agent');
      // Without identityFile the same agent logs in.
      await fx.open(await fx.target({ identityFiles: [otherKey], identityExplicit: false, agent: socket })).check({ dryRun: true });
    } finally {
      agent.kill();
    }
  });
});
