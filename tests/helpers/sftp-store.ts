/**
 * SFTP stores for the tests: one throw-away OpenSSH sshd (tests/helpers/sshd.ts)
 * per test file, a fresh folder per store under its root. The server runs
 * on this machine, so what it holds is seen (and planted) with plain fs.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { openSftpStore } from '../../src/storage/sftp.js';
import type { SftpTarget } from '../../src/storage/sftp-target.js';
import type { Store } from '../../src/storage/store.js';
import { startSshd, type Sshd } from './sshd.js';

const run = promisify(execFile);

export interface SftpFixture {
  sshd: Sshd;
  /** A target on a new folder (created unless `create: false`), logging in with the test key. */
  target(overrides?: Partial<SftpTarget>, options?: { create?: boolean }): Promise<SftpTarget>;
  open(target: SftpTarget, env?: Record<string, string | undefined>): Store;
  /** The store's folder on this machine (its target's path). */
  folderOf(store: Store): string;
  /** The server's authorized_keys file (append a public key to let it in). */
  authorizedKeys: string;
  /** A new key pair in a temp folder: [private key path, public key line]. */
  newKey(passphrase?: string): Promise<[string, string]>;
  stop(): Promise<void>;
}

export async function startSftpFixture(): Promise<SftpFixture> {
  const sshd = await startSshd();
  const keys = await fs.mkdtemp(path.join(os.tmpdir(), 'sftp-keys-'));
  const opened: Store[] = [];
  const targets = new WeakMap<Store, SftpTarget>();
  return {
    sshd,
    authorizedKeys: path.join(path.dirname(sshd.privateKeyPath), 'authorized_keys'),
    async target(overrides = {}, options = {}) {
      const folder = path.join(sshd.root, `t-${randomUUID().slice(0, 8)}`);
      if (options.create !== false) await fs.mkdir(folder);
      return {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        path: folder,
        identityFiles: [sshd.privateKeyPath],
        identityExplicit: true,
        knownHostsFile: sshd.knownHostsPath,
        timeoutSeconds: 10,
        retryDelayMs: 50,
        ...overrides,
      };
    },
    open(target, env = {}) {
      const store = openSftpStore(target, { name: 'nas', env, home: os.homedir(), cwd: process.cwd() });
      opened.push(store);
      targets.set(store, target);
      return store;
    },
    folderOf: (store) => targets.get(store)!.path,
    async newKey(passphrase = '') {
      const file = path.join(keys, `key-${randomUUID().slice(0, 8)}`);
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'test', '-f', file]);
      return [file, (await fs.readFile(`${file}.pub`, 'utf8')).trim()];
    },
    async stop() {
      for (const store of opened) await store.close().catch(() => undefined);
      await sshd.stop();
      await fs.rm(keys, { recursive: true, force: true });
    },
  };
}
