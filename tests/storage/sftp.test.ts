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
