/**
 * One SSH connection with its SFTP channel (ssh2), and every request on it
 * bounded: by the caller's AbortSignal, by our timeout, and by the
 * connection's death. The only module besides sftp.ts that imports ssh2.
 *
 * ssh2 1.17.0 facts this relies on (what depends on them is checked by
 * tests/storage/sftp.test.ts: a dropped connection, the host key, logging in):
 * - When the channel closes, requests in flight get 'No response from
 *   server'; a request made AFTER that is never sent and never answered (its
 *   callback never runs). So a dead session refuses requests itself.
 * - A request cannot be cancelled in SFTP. When requests are waiting and
 *   the session has had no answer at all for the timeout (a black-holed
 *   link), we close the connection: the next call opens a new one. The
 *   clock restarts at every answer (sftp-watchdog.ts): on a slow uplink a
 *   request queued behind the channel window is answered late while the
 *   server answers the ones before it. A caller whose signal aborts stops
 *   waiting at once; the late answer is dropped (the server still acts on
 *   the request: see publish() and abort() in sftp.ts).
 * - The hostVerifier gets the raw key blob; returning false ends the
 *   handshake with 'Host denied (verification failed)' before any
 *   authentication is attempted (nothing about the user is sent).
 * - A list of auth methods (authHandler array) is tried in order; when all
 *   fail: 'All configured authentication methods failed', level
 *   'client-authentication'.
 */
import fs from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { AgentAuthMethod, ConnectConfig, ParsedKey, PublicKeyAuthMethod, SFTPWrapper } from 'ssh2';
import { BackupError, CancelledError, describeErrno, errnoCode } from '../errors.js';
import { registerSecretValue } from '../log/redact.js';
import type { Logger } from '../log/logger-types.js';
import { checkHostKey, hostKeyError, knownKeyTypes, readKnownHosts, type HostKeyVerdict } from './sftp-known-hosts.js';
import { SessionLost, unreachableError } from './sftp-errors.js';
import { hostPort, type SftpTarget } from './sftp-target.js';
import { AnswerWatchdog } from './sftp-watchdog.js';

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

/** Private key files larger than this are not keys. */
const MAX_KEY_BYTES = 64 * 1024;
/** Host key algorithms we accept, best first (no ssh-dss, no SHA-1 ssh-rsa signatures). */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];

export interface Session {
  readonly client: SshClient;
  readonly sftp: SFTPWrapper;
  readonly dead: boolean;
  /**
   * Runs one ssh2 SFTP call. Rejects with SessionLost if the connection is
   * or goes dead or the answer takes longer than the timeout (then the
   * connection is closed), with an AbortError-like CancelledError when
   * `signal` aborts, else with ssh2's error (an SFTP status in err.code).
   */
  request<T>(signal: AbortSignal | undefined, run: (sftp: SFTPWrapper, callback: (err: Error | null | undefined, value?: T) => void) => void): Promise<T>;
  /** Closes the connection (nothing more is sent); safe to call more than once. */
  end(): void;
}

class SshSession implements Session {
  dead = false;
  private deathReason: Error | undefined;
  private readonly waiters = new Set<(error: Error) => void>();
  private readonly watchdog: AnswerWatchdog;

  constructor(
    readonly client: SshClient,
    readonly sftp: SFTPWrapper,
    timeoutMs: number,
  ) {
    this.watchdog = new AnswerWatchdog(timeoutMs, () => {
      // The requests cannot be cancelled and the link may be black-holed: give the connection up.
      this.die(new SessionLost(`no answer for ${Math.round(timeoutMs / 1000)} s`, timeoutMs));
    });
    const die = (reason: Error) => this.die(reason);
    client.on('close', () => die(new SessionLost('the SSH connection closed')));
    client.on('error', (error: Error) => die(new SessionLost(error.message, undefined, { cause: error })));
    sftp.on('close', () => die(new SessionLost('the SFTP channel closed')));
    sftp.on('error', (error: Error) => die(new SessionLost(error.message, undefined, { cause: error })));
  }

  private die(reason: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.deathReason = reason;
    this.watchdog.stop();
    for (const waiter of [...this.waiters]) waiter(reason);
    this.waiters.clear();
    this.client.destroy();
  }

  request<T>(signal: AbortSignal | undefined, run: (sftp: SFTPWrapper, callback: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
    if (signal?.aborted) return Promise.reject(new CancelledError(undefined, { cause: signal.reason }));
    if (this.dead) return Promise.reject(this.deathReason instanceof SessionLost ? this.deathReason : new SessionLost('the SSH connection is closed'));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, value?: T) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(onDeath);
        if (error) reject(error);
        else resolve(value as T);
      };
      const onAbort = () => finish(new CancelledError(undefined, { cause: signal?.reason }));
      const onDeath = (reason: Error) => finish(reason instanceof SessionLost ? reason : new SessionLost(reason.message, undefined, { cause: reason }));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(onDeath);
      let answered = false;
      this.watchdog.sent();
      try {
        run(this.sftp, (err, value) => {
          if (!answered) {
            answered = true;
            this.watchdog.answered();
          }
          if (err && /No response from server/.test(err.message)) {
            // ssh2 fails the requests in flight this way when the channel closes.
            const lost = new SessionLost(this.deathReason?.message ?? 'the SSH connection closed', undefined, { cause: err });
            finish(lost);
            this.die(lost);
          } else finish(err ?? undefined, value);
        });
      } catch (error) {
        // Thrown before anything was sent (ssh2 checks arguments and extensions first).
        if (!answered) {
          answered = true;
          this.watchdog.answered();
        }
        finish(error as Error);
      }
    });
  }

  end(): void {
    if (this.dead) return;
    this.die(new SessionLost('the connection was closed by this program'));
  }
}

/** A private key to offer, and what the user calls it in messages (its path, never its content). */
interface KeyMethod {
  label: string;
  method: PublicKeyAuthMethod | AgentAuthMethod;
}

function authFailed(message: string, cause?: unknown): BackupError {
  return new BackupError(message, { code: 'SFTP_AUTH_FAILED', cause });
}

/**
 * The key files that exist (all of them when `identityFile` was set, else an
 * error), parsed with the passphrase from `passphraseEnv`; then the agent,
 * only when `identityFile` was not set.
 * A default key that is encrypted without a passphrase given is skipped
 * (the agent may hold it) with a debug note; an explicit one is an error.
 */
async function authMethods(target: SftpTarget, env: Record<string, string | undefined>, logger: Logger): Promise<KeyMethod[]> {
  const passphrase = target.passphraseEnv ? env[target.passphraseEnv] : undefined;
  if (target.passphraseEnv && passphrase === undefined) {
    throw authFailed(`"passphraseEnv" names ${target.passphraseEnv}, which is not set in the environment (or .env): set it to the key's passphrase.`);
  }
  if (passphrase) registerSecretValue(passphrase);
  const methods: KeyMethod[] = [];
  for (const file of target.identityFiles) {
    let data: Buffer;
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile() || stat.size > MAX_KEY_BYTES) throw Object.assign(new Error('not a private key file'), { code: 'EINVAL' });
      data = await fs.readFile(file);
    } catch (error) {
      if (!target.identityExplicit && errnoCode(error) === 'ENOENT') continue;
      throw authFailed(`Cannot read the SSH key ${file} ("identityFile"): ${describeErrno(error)}.`, error);
    }
    const parsed = utils.parseKey(data, passphrase);
    if (parsed instanceof Error) {
      const encrypted = /passphrase|encrypted|decrypt|integrity/i.test(parsed.message);
      if (encrypted && passphrase === undefined) {
        if (!target.identityExplicit) {
          logger.debug(`The SSH key ${file} is encrypted and no "passphraseEnv" is set: skipped (an ssh-agent may hold it).`);
          continue;
        }
        throw authFailed(
          `The SSH key ${file} is encrypted: set "passphraseEnv" to the name of an environment variable holding its passphrase, or load it into ssh-agent (\`ssh-add ${file}\`) and leave "identityFile" out.`,
          parsed,
        );
      }
      if (encrypted) throw authFailed(`The SSH key ${file} could not be decrypted with the passphrase in ${target.passphraseEnv}: is it the right one?`, parsed);
      if (!target.identityExplicit) {
        logger.debug(`${file} is not a private key ssh2 can use (${parsed.message}): skipped.`);
        continue;
      }
      throw authFailed(`${file} ("identityFile") is not a private key this tool can use: ${parsed.message}. Use an OpenSSH or PEM private key (ed25519, ecdsa or rsa).`, parsed);
    }
    const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey;
    methods.push({ label: file, method: { type: 'publickey', username: target.user, key } });
  }
  // An explicit "identityFile" is the only key offered, as OpenSSH's IdentitiesOnly: a user who
  // configured a restricted key (a chrooted backup account) must not be logged in, possibly as
  // someone with more rights, by whatever else the agent holds. Without it: default keys + agent.
  if (target.agent && !target.identityExplicit) methods.push({ label: `the ssh-agent at ${target.agent}`, method: { type: 'agent', username: target.user, agent: target.agent } });
  return methods;
}

function hostKeyAlgorithms(known: string[]): string[] {
  const preferred = known.flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256'] : [type])).filter((a) => HOST_KEY_ALGORITHMS.includes(a));
  return [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])];
}

export interface ConnectOptions {
  target: SftpTarget;
  env: Record<string, string | undefined>;
  logger: Logger;
  /** Ends the attempt (close() of the store). */
  signal: AbortSignal;
}

/** Connects, checks the host key, logs in and opens the SFTP channel; every failure is a BackupError. */
export async function connectSftp({ target, env, logger, signal }: ConnectOptions): Promise<Session> {
  const timeoutMs = target.timeoutSeconds * 1000;
  const server = hostPort(target.host, target.port);
  const login = `${target.user}@${target.host}`;
  const { entries, missing } = await readKnownHosts(target.knownHostsFile);
  const methods = await authMethods(target, env, logger);
  if (methods.length === 0) {
    throw authFailed(
      `No SSH key to log in to ${server} as "${target.user}": none of ${target.identityFiles.join(', ')} exists and SSH_AUTH_SOCK (an ssh-agent) is not set. ` +
        `Create a key (\`ssh-keygen -t ed25519\`) and install it on the server (\`ssh-copy-id -i ~/.ssh/id_ed25519.pub ${target.port === 22 ? '' : `-p ${target.port} `}${login}\`), or set "identityFile".`,
    );
  }
  let verdict: HostKeyVerdict | undefined;
  const client = new Client();
  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: target.user,
    readyTimeout: timeoutMs,
    // A dead link is noticed within about a minute even when no request is waiting.
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    algorithms: { serverHostKey: hostKeyAlgorithms(knownKeyTypes(entries, target.host, target.port)) as never },
    hostVerifier: (key: Buffer) => {
      verdict = checkHostKey(entries, target.host, target.port, key);
      return verdict.status === 'ok';
    },
    authHandler: methods.map((m) => m.method),
  };
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (error?: unknown) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      client.off('ready', onReady);
      if (error) {
        client.destroy();
        reject(error);
      } else resolve();
    };
    const onAbort = () => finish(new CancelledError(undefined, { cause: signal.reason }));
    const onReady = () => finish();
    client.once('ready', onReady);
    client.on('error', (error: Error & { level?: string }) => {
      if (done) return;
      if (verdict && verdict.status !== 'ok') {
        finish(hostKeyError(verdict, { host: target.host, port: target.port, user: target.user, knownHostsFile: target.knownHostsFile, missing }));
      } else if (error.level === 'client-authentication') {
        const pub = methods.find((m) => m.method.type === 'publickey')?.label;
        finish(
          authFailed(
            `The SSH server ${server} accepted none of the keys offered for the user "${target.user}" (tried: ${methods.map((m) => m.label).join(', ')}). ` +
              `Install the public key on the server for that user (\`ssh-copy-id -i ${pub ?? '~/.ssh/id_ed25519'}.pub ${target.port === 22 ? '' : `-p ${target.port} `}${login}\`), or check "user" and "identityFile".`,
            error,
          ),
        );
      } else finish(unreachableError(error, server, timeoutMs));
    });
    client.once('close', () => finish(unreachableError(new Error('the server closed the connection before login'), server, timeoutMs)));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      client.connect(config);
    } catch (error) {
      finish(unreachableError(error, server, timeoutMs));
    }
  });
  // Errors after this point end the session (SshSession listens); never an unhandled 'error'.
  client.on('error', () => undefined);
  let sftp: SFTPWrapper;
  try {
    sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SessionLost(`no SFTP channel within ${Math.round(timeoutMs / 1000)} s`, timeoutMs)), timeoutMs);
      const onClose = () => reject(new SessionLost('the SSH connection closed while opening the SFTP channel'));
      client.once('close', onClose);
      client.sftp((err, channel) => {
        clearTimeout(timer);
        client.off('close', onClose);
        if (err) reject(new BackupError(`The SSH server ${server} has no SFTP service for "${target.user}" (${err.message}): enable the sftp subsystem in sshd_config (\`Subsystem sftp internal-sftp\`).`, { code: 'SFTP_FAILED', cause: err }));
        else resolve(channel);
      });
    });
  } catch (error) {
    client.destroy();
    if (error instanceof SessionLost) throw new BackupError(`Could not open the SFTP channel on ${server}: ${error.message}.`, { code: 'SFTP_CONNECTION_LOST', cause: error });
    throw error;
  }
  logger.debug(`Connected to ${server} as ${target.user} (SFTP).`);
  return new SshSession(client, sftp, timeoutMs);
}

