/**
 * A throw-away OpenSSH server (Debian's /usr/sbin/sshd) on 127.0.0.1 for the
 * SFTP and rclone tests: its own config, host key and client key in a temp
 * folder, a free port, key-only login for the user running the tests (root
 * here: `PermitRootLogin prohibit-password`), the `internal-sftp` subsystem.
 * Ready when a TCP connection gets the server's `SSH-2.0-` banner; every wait
 * is bounded and fails with the sshd log. See /work/shared/TEST-SERVERS.md.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  host: '127.0.0.1';
  port: number;
  /** The user the tests log in as (the one running them). */
  user: string;
  /** The client's ed25519 private key (OpenSSH format, no passphrase). */
  privateKey: Buffer;
  privateKeyPath: string;
  /** A known_hosts file holding the `ssh-keyscan` line: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`. */
  knownHostsPath: string;
  /** That line, as written. */
  knownHostsLine: string;
  /** The host key blob (what ssh2's hostVerifier receives). */
  hostKey: Buffer;
  /** `SHA256:base64` without padding, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** An empty folder for the test's files (the server sees the same file system). */
  root: string;
  /** The sshd log file (-E), for error messages. */
  logPath: string;
  /** Kills sshd (the pid from PidFile) and removes the temp folder. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

/** `SHA256:...` fingerprint of a host key blob. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key blob of the first `HOST KEYTYPE BASE64` line of a known_hosts text. */
export function knownHostsKey(text: string): Buffer {
  const line = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
  const fields = line?.trim().split(/\s+/) ?? [];
  if (fields.length < 3) throw new Error(`not a known_hosts line: ${JSON.stringify(line)}`);
  return Buffer.from(fields[2]!, 'base64');
}

/**
 * A known_hosts file listing `sshd`'s key under `[127.0.0.1]:port`: for a
 * client that reaches the server through a proxy on `port` (another
 * [host]:port to known_hosts, the same server key). In the sshd's own temp
 * folder (removed by stop()), not in `root`.
 */
export async function knownHostsFor(sshd: Sshd, port: number): Promise<string> {
  const file = path.join(path.dirname(sshd.knownHostsPath), `known_hosts-${port}`);
  await fs.writeFile(file, `${sshd.knownHostsLine.replace(/^\S+/, `[127.0.0.1]:${port}`)}\n`);
  return file;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves with the server's identification line, or rejects (refused, closed, silent). */
function banner(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(got.split('\r\n')[0]!);
    };
    const timer = setTimeout(() => done(new Error('no banner')), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got.includes('\n')) done(got.startsWith('SSH-2.0-') ? undefined : new Error(`not an SSH banner: ${JSON.stringify(got)}`));
    });
    socket.on('error', (error) => done(error));
    socket.on('close', () => done(new Error('closed before the banner')));
  });
}

async function readLog(logPath: string): Promise<string> {
  const text = await fs.readFile(logPath, 'utf8').catch(() => '(no log)');
  return text.trim().split('\n').slice(-20).join('\n');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startSshd(): Promise<Sshd> {
  await fs.access(SSHD).catch(() => {
    throw new Error(`${SSHD} is missing: apt-get install openssh-server (tests/provision.sh installs it)`);
  });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sshd-test-'));
  const root = path.join(dir, 'root');
  await fs.mkdir(root);
  const logPath = path.join(dir, 'sshd.log');
  const pidPath = path.join(dir, 'pid');
  let pid: number | undefined;

  const stop = async (): Promise<void> => {
    const fromFile = Number.parseInt(await fs.readFile(pidPath, 'utf8').catch(() => ''), 10);
    const target = Number.isInteger(fromFile) && fromFile > 0 ? fromFile : pid;
    if (target !== undefined && isAlive(target)) {
      process.kill(target, 'SIGTERM');
      const deadline = performance.now() + 5_000;
      while (isAlive(target) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (isAlive(target)) process.kill(target, 'SIGKILL');
    }
    await fs.rm(dir, { recursive: true, force: true });
  };

  try {
    // sshd refuses to start without its privilege separation folder.
    if (process.getuid?.() === 0) await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const hostKeyPath = path.join(dir, 'hostkey');
    const privateKeyPath = path.join(dir, 'client_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'backup-test-host', '-f', hostKeyPath]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'backup-test-client', '-f', privateKeyPath]);
    const authorizedKeys = path.join(dir, 'authorized_keys');
    await fs.copyFile(`${privateKeyPath}.pub`, authorizedKeys);

    const port = await freePort();
    const configPath = path.join(dir, 'sshd_config');
    await fs.writeFile(
      configPath,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKeyPath}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        `PidFile ${pidPath}`,
        'Subsystem sftp internal-sftp',
        // Temp folders are not owned the way sshd wants.
        'StrictModes no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    try {
      await run(SSHD, ['-f', configPath, '-E', logPath], { timeout: READY_TIMEOUT_MS });
    } catch (error) {
      throw new Error(`${SSHD} -f ${configPath} failed: ${(error as Error).message}\n${await readLog(logPath)}`);
    }

    // It daemonises: ready when the pid file exists and the port answers with a banner.
    const deadline = performance.now() + READY_TIMEOUT_MS;
    let last: unknown;
    for (;;) {
      const text = await fs.readFile(pidPath, 'utf8').catch(() => '');
      if (text) pid = Number.parseInt(text, 10);
      if (pid !== undefined) {
        try {
          await banner(port, 2_000);
          break;
        } catch (error) {
          last = error;
        }
      }
      if (performance.now() > deadline) {
        throw new Error(`sshd on 127.0.0.1:${port} not ready after ${READY_TIMEOUT_MS} ms (${pid === undefined ? 'no pid file' : String(last)})\n${await readLog(logPath)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }

    const { stdout } = await run('ssh-keyscan', ['-p', String(port), '-t', 'ed25519', '127.0.0.1'], { timeout: READY_TIMEOUT_MS });
    const knownHostsLine = stdout.split('\n').find((l) => l.startsWith(`[127.0.0.1]:${port} `));
    if (!knownHostsLine) throw new Error(`ssh-keyscan printed no key line: ${JSON.stringify(stdout)}\n${await readLog(logPath)}`);
    const knownHostsPath = path.join(dir, 'known_hosts');
    await fs.writeFile(knownHostsPath, `${knownHostsLine}\n`);
    const hostKey = knownHostsKey(knownHostsLine);

    return {
      host: '127.0.0.1',
      port,
      user: os.userInfo().username,
      privateKey: await fs.readFile(privateKeyPath),
      privateKeyPath,
      knownHostsPath,
      knownHostsLine,
      hostKey,
      hostKeyFingerprint: sshFingerprint(hostKey),
      root,
      logPath,
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
