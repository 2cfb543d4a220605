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
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import type { Store } from '../../src/storage/store.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { tempDir } from '../helpers/fixtures.js';
import { startSftpFixture, type SftpFixture } from '../helpers/sftp-store.js';
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
    let cut = false;
    let restored = false;
    // Once cut, every connection (new ones too) is reset until restore().
    const watch = setInterval(() => {
      if (!cut && proxy.clientBytes() >= cutAfterBytes) cut = true;
      if (cut && !restored) proxy.resetAll();
    }, 5);
    // The proxy's port is another [host]:port for known_hosts: the same key, listed under it.
    const knownHostsFile = path.join(await tempDir('sftp-kh-'), 'known_hosts');
    await fs.writeFile(knownHostsFile, fx.sshd.knownHostsLine.replace(`:${fx.sshd.port} `, `:${proxy.port} `) + '\n');
    const store = fx.open(await fx.target({ port: proxy.port, knownHostsFile }));
    return {
      store,
      restore: () => {
        restored = true;
      },
      close: async () => {
        clearInterval(watch);
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
    expect(error.message).toContain(`ssh -p ${fx.sshd.port} ${fx.sshd.user}@127.0.0.1`);
    const accept = suggested(error.message, 'ssh-keyscan', '>>');
    expect(accept).toBe(`ssh-keyscan -p ${fx.sshd.port} -t ed25519 127.0.0.1 >> ${knownHostsFile}`);
    // The check command prints the same fingerprint the message shows.
    const { stdout } = await run('sh', ['-c', suggested(error.message, 'ssh-keyscan', '| ssh-keygen -lf -')]);
    expect(stdout).toContain(fx.sshd.hostKeyFingerprint);
    await run('sh', ['-c', accept]);
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
      const knownHostsFile = path.join(await tempDir('sftp-kh-'), 'known_hosts');
      await fs.writeFile(knownHostsFile, fx.sshd.knownHostsLine.replace(`:${fx.sshd.port} `, `:${proxy.port} `) + '\n');
      const target = await fx.target({ port: proxy.port, knownHostsFile });
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
