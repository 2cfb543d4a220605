/**
 * The SSH server's host key checked against a known_hosts file, as
 * OpenSSH's `ssh` does (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): never
 * trusted silently. A key listed for the host: go on. The host listed with
 * another key of the same type: refused (it may be an attack). The host not
 * listed (or only with keys of other types): refused, with the fingerprint
 * and the command that accepts it once the user checked it.
 *
 * Lines understood: `HOSTS KEYTYPE BASE64 [comment]` where HOSTS is a comma
 * list of names / `[name]:port` / patterns with `*` `?` and `!negation`, or
 * one hashed name `|1|SALT|HASH` (HMAC-SHA1 of the name, `HashKnownHosts`).
 * `@revoked` lines refuse their key for the hosts named; `@cert-authority`
 * lines are skipped (host certificates are not supported: such a host is
 * "unknown" unless its plain key is listed too). Malformed lines are skipped.
 */
import path from 'node:path';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BackupError, describeErrno } from '../errors.js';
import { SmallFileError, readSmallFile } from '../fs/read-small-file.js';
import { hostPort } from './sftp-target.js';

/** A known_hosts file larger than this is refused (a real one is a few kB to a few MB). */
export const MAX_KNOWN_HOSTS_BYTES = 16 * 1024 * 1024;

export interface KnownHostEntry {
  /** 1-based line number, for messages. */
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** Plain patterns (comma list split), or undefined for a hashed entry. */
  patterns?: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'ok'; line: number }
  | { status: 'changed'; fingerprint: string; keyType: string; line: number }
  | { status: 'revoked'; fingerprint: string; keyType: string; line: number }
  | { status: 'unknown'; fingerprint: string; keyType: string; otherTypes: string[] };

/** `SHA256:base64` without padding, as `ssh-keygen -l` prints it. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside a key blob (its first SSH string), or '?' if it is not one. */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return '?';
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return '?';
  return blob.toString('latin1', 4, 4 + length);
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      if (fields[0] === '@revoked') marker = 'revoked';
      else if (fields[0] === '@cert-authority') marker = 'cert-authority';
      else continue; // an unknown marker: never treat its key as trusted
      fields = fields.slice(1);
    }
    if (fields.length < 3) continue;
    const [hosts, keyType, base64] = fields as [string, string, string];
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    const key = Buffer.from(base64, 'base64');
    // The blob names its own type; a line whose type field disagrees is malformed.
    if (keyBlobType(key) !== keyType) continue;
    const entry: KnownHostEntry = { line: index + 1, keyType, key, ...(marker ? { marker } : {}) };
    if (hosts.startsWith('|1|')) {
      const parts = hosts.split('|');
      if (parts.length !== 4) continue;
      const salt = Buffer.from(parts[2]!, 'base64');
      const hash = Buffer.from(parts[3]!, 'base64');
      if (salt.length !== 20 || hash.length !== 20) continue;
      entry.hashed = { salt, hash };
    } else if (hosts.startsWith('|')) {
      continue; // another hash format
    } else {
      entry.patterns = hosts.split(',').filter((p) => p !== '');
      if (entry.patterns.length === 0) continue;
    }
    entries.push(entry);
  }
  return entries;
}

/** OpenSSH's `*` / `?` wildcards, case-insensitive. */
function wildcardMatch(pattern: string, name: string): boolean {
  const source = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(name.toLowerCase());
}

/** Whether an entry names `name` (`host` or `[host]:port`): a negated pattern that matches wins. */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const mac = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return timingSafeEqual(mac, entry.hashed.hash);
  }
  let matched = false;
  for (const pattern of entry.patterns ?? []) {
    if (pattern.startsWith('!')) {
      if (wildcardMatch(pattern.slice(1), name)) return false;
    } else if (wildcardMatch(pattern, name)) matched = true;
  }
  return matched;
}

/**
 * The entries that name this host and port (plain keys and @revoked;
 * @cert-authority skipped). The host name is lowercased first, as OpenSSH
 * does before it looks it up: that matters for hashed entries, whose HMAC
 * is of the lowercased name (`ssh NAS.lan` records and finds `nas.lan`).
 */
export function entriesFor(entries: readonly KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = hostPort(host.toLowerCase(), port);
  return entries.filter((entry) => entry.marker !== 'cert-authority' && entryMatches(entry, name));
}

/** Key types known for the host: the server is asked for one of these first (as `ssh` does). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  return [...new Set(entriesFor(entries, host, port).filter((e) => !e.marker).map((e) => e.keyType))];
}

export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const keyType = keyBlobType(key);
  const fingerprint = sshFingerprint(key);
  const mine = entriesFor(entries, host, port);
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', fingerprint, keyType, line: revoked.line };
  const plain = mine.filter((e) => !e.marker);
  const same = plain.find((e) => e.key.equals(key));
  if (same) return { status: 'ok', line: same.line };
  const sameType = plain.find((e) => e.keyType === keyType);
  if (sameType) return { status: 'changed', fingerprint, keyType, line: sameType.line };
  return { status: 'unknown', fingerprint, keyType, otherTypes: [...new Set(plain.map((e) => e.keyType))] };
}

/** The parsed file; a missing file is an empty one (every host unknown). */
export async function readKnownHosts(file: string): Promise<{ entries: KnownHostEntry[]; missing: boolean }> {
  let read;
  try {
    read = await readSmallFile(file, { maxBytes: MAX_KNOWN_HOSTS_BYTES });
  } catch (error) {
    const detail =
      error instanceof SmallFileError
        ? error.reason === 'too-large'
          ? `it is larger than ${MAX_KNOWN_HOSTS_BYTES / 1024 / 1024} MiB`
          : error.reason === 'not-regular'
            ? `it is ${error.detail}, not a file`
            : describeErrno(error.cause)
        : describeErrno(error);
    throw new BackupError(`Cannot read the known_hosts file ${file}: ${detail}. Fix it, or set "knownHostsFile" to another file.`, {
      code: 'SFTP_HOST_KEY',
      cause: error,
    });
  }
  if (!read) return { entries: [], missing: true };
  return { entries: parseKnownHosts(read.text), missing: false };
}

export interface HostKeyErrorContext {
  host: string;
  port: number;
  user: string;
  knownHostsFile: string;
  /** The file did not exist. */
  missing?: boolean;
}

function quote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The refusal: what was seen, why it is refused, and the exact commands to check and accept the key. */
export function hostKeyError(verdict: Exclude<HostKeyVerdict, { status: 'ok' }>, ctx: HostKeyErrorContext): BackupError {
  const name = hostPort(ctx.host, ctx.port);
  const file = quote(ctx.knownHostsFile);
  const portFlag = ctx.port === 22 ? '' : `-p ${ctx.port} `;
  // ssh-keyscan -t and the host key file take the short name: ed25519, ecdsa, rsa.
  const short = verdict.keyType.replace(/^ssh-|-sha2-nistp\d+$/g, '');
  const scan = `ssh-keyscan ${portFlag}-t ${short} ${quote(ctx.host)}`;
  const check = `Compare the fingerprint with the server's own (on the server: \`ssh-keygen -lf /etc/ssh/ssh_host_${short}_key.pub\`), or with \`${scan} | ssh-keygen -lf -\` from a network you trust`;
  // A first known_hosts often has no folder either (no ~/.ssh yet): `>>` alone would fail there.
  const mkdir = ctx.missing ? `mkdir -p -m 700 ${quote(path.dirname(ctx.knownHostsFile))} && ` : '';
  // ssh itself records the key in ~/.ssh/known_hosts (making the folder): offered only when that is the file used.
  const viaSsh = /(^|\/)\.ssh\/known_hosts$/.test(ctx.knownHostsFile)
    ? ` (or connect once with \`ssh ${portFlag}${quote(ctx.user)}@${quote(ctx.host)}\` and answer "yes")`
    : '';
  const accept = `then accept it with \`${mkdir}${scan} >> ${file}\`${viaSsh}`;
  if (verdict.status === 'changed') {
    return new BackupError(
      `The SSH host key of ${name} has CHANGED: the server presented ${verdict.keyType} ${verdict.fingerprint}, but ${ctx.knownHostsFile} line ${verdict.line} holds another ${verdict.keyType} key for it. ` +
        'This may be an attack (someone between you and the server), or the server was reinstalled or its key replaced. Nothing was sent. ' +
        `If you have verified that the new key is right: \`ssh-keygen -R ${quote(name)} -f ${file}\` removes the old one; ${check}; ${accept}.`,
      { code: 'SFTP_HOST_KEY' },
    );
  }
  if (verdict.status === 'revoked') {
    return new BackupError(
      `The SSH host key ${verdict.keyType} ${verdict.fingerprint} presented by ${name} is marked @revoked in ${ctx.knownHostsFile} line ${verdict.line}: refused. Ask the server's administrator for its current key.`,
      { code: 'SFTP_HOST_KEY' },
    );
  }
  const where = ctx.missing ? `${ctx.knownHostsFile}, which does not exist yet` : ctx.knownHostsFile;
  const others = verdict.otherTypes.length > 0 ? ` (only keys of other types are known for it: ${verdict.otherTypes.join(', ')})` : '';
  return new BackupError(
    `The SSH host key of ${name} is not in ${where}${others}: the server presented ${verdict.keyType} ${verdict.fingerprint}, and an unknown key is never trusted. ` +
      `${check}; ${accept}.`,
    { code: 'SFTP_HOST_KEY' },
  );
}
