/**
 * known_hosts parsing and the host key verdict, with tables: plain names,
 * `[host]:port`, comma lists, wildcards and negation, hashed entries,
 * @revoked and @cert-authority lines, malformed lines; and the refusal
 * messages (fingerprint, file and line, the commands to fix it).
 */
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MAX_KNOWN_HOSTS_BYTES,
  checkHostKey,
  hostKeyError,
  keyBlobType,
  knownKeyTypes,
  parseKnownHosts,
  readKnownHosts,
  sshFingerprint,
} from '../../src/storage/sftp-known-hosts.js';
import { tempDir } from '../helpers/fixtures.js';

/** A key blob as SSH encodes it: string type, then key material (fake, but well-formed). */
function blob(type: string, seed = randomBytes(32)): Buffer {
  const name = Buffer.from(type);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(name.length);
  const body = Buffer.alloc(4);
  body.writeUInt32BE(seed.length);
  return Buffer.concat([head, name, body, seed]);
}

function line(hosts: string, key: Buffer, comment = ''): string {
  return `${hosts} ${keyBlobType(key)} ${key.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

function hashed(name: string, salt = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

const ED = blob('ssh-ed25519');
const ED_OTHER = blob('ssh-ed25519');
const ECDSA = blob('ecdsa-sha2-nistp256', randomBytes(65));
const RSA = blob('ssh-rsa', randomBytes(64));

describe('parseKnownHosts + checkHostKey', () => {
  it.each([
    // [what, file, host, port, presented key, expected status, line]
    ['plain name, port 22', line('nas.lan', ED), 'nas.lan', 22, ED, 'ok', 1],
    ['names match case-insensitively', line('NAS.lan', ED), 'nas.LAN', 22, ED, 'ok', 1],
    ['[host]:port for another port', line('[127.0.0.1]:2222', ED), '127.0.0.1', 2222, ED, 'ok', 1],
    ['a plain name does not cover another port', line('127.0.0.1', ED), '127.0.0.1', 2222, ED, 'unknown', undefined],
    ['[host]:port does not cover port 22', line('[nas.lan]:2222', ED), 'nas.lan', 22, ED, 'unknown', undefined],
    ['comma list, second name', line('nas,nas.lan,10.0.0.5', ED), '10.0.0.5', 22, ED, 'ok', 1],
    ['wildcard', line('*.lan', ED), 'nas.lan', 22, ED, 'ok', 1],
    ['? wildcard', line('nas?.lan', ED), 'nas1.lan', 22, ED, 'ok', 1],
    ['negation wins over a wildcard', line('*.lan,!nas.lan', ED), 'nas.lan', 22, ED, 'unknown', undefined],
    ['hashed name', line(hashed('nas.lan'), ED), 'nas.lan', 22, ED, 'ok', 1],
    ['hashed [host]:port', line(hashed('[127.0.0.1]:2222'), ED), '127.0.0.1', 2222, ED, 'ok', 1],
    ['hashed name of another host', line(hashed('other.lan'), ED), 'nas.lan', 22, ED, 'unknown', undefined],
    // OpenSSH lowercases the name before hashing it: `ssh NAS.Lan` records (and finds) nas.lan.
    ['hashed name, host typed in capitals', line(hashed('nas.lan'), ED), 'NAS.Lan', 22, ED, 'ok', 1],
    ['hashed [host]:port, host typed in capitals', line(hashed('[nas.lan]:2222'), ED), 'Nas.LAN', 2222, ED, 'ok', 1],
    ['hashed IPv6 with a port, typed in capitals', line(hashed('[fe80::abcd]:2222'), ED), 'FE80::ABCD', 2222, ED, 'ok', 1],
    ['hashed name, another port is another entry', line(hashed('[nas.lan]:2222'), ED), 'NAS.lan', 2223, ED, 'unknown', undefined],
    ['plain [host]:port, host typed in capitals', line('[nas.lan]:2222', ED), 'NAS.LAN', 2222, ED, 'ok', 1],
    ['a second key line for the host', [line('nas.lan', RSA), line('nas.lan', ED)].join('\n'), 'nas.lan', 22, ED, 'ok', 2],
    ['comments and blank lines are skipped; line numbers count them', `# mine\n\n${line('nas.lan', ED, 'root@nas')}`, 'nas.lan', 22, ED, 'ok', 3],
    ['the same type with another key: changed', `# x\n${line('nas.lan', ED_OTHER)}`, 'nas.lan', 22, ED, 'changed', 2],
    ['a hashed entry with another key: changed', line(hashed('nas.lan'), ED_OTHER), 'nas.lan', 22, ED, 'changed', 1],
    ['only another key type known: unknown (not changed)', line('nas.lan', ECDSA), 'nas.lan', 22, ED, 'unknown', undefined],
    ['the key listed for another host only: unknown', line('other.lan', ED), 'nas.lan', 22, ED, 'unknown', undefined],
    ['@revoked refuses the key even where it is listed', [line('nas.lan', ED), `@revoked ${line('*', ED)}`].join('\n'), 'nas.lan', 22, ED, 'revoked', 2],
    ['@cert-authority lines are skipped (never trust their key as a host key)', `@cert-authority ${line('*.lan', ED)}`, 'nas.lan', 22, ED, 'unknown', undefined],
    ['an unknown marker: the line is skipped', `@trusted ${line('nas.lan', ED)}`, 'nas.lan', 22, ED, 'unknown', undefined],
    ['a type field that disagrees with the blob: skipped', `nas.lan ssh-rsa ${ED.toString('base64')}`, 'nas.lan', 22, ED, 'unknown', undefined],
    ['garbage lines are skipped', `nas.lan\nnas.lan ssh-ed25519 !!!notbase64\n|2|x|y ssh-ed25519 ${ED.toString('base64')}`, 'nas.lan', 22, ED, 'unknown', undefined],
    ['CRLF line ends', `${line('nas.lan', ED)}\r\n`, 'nas.lan', 22, ED, 'ok', 1],
    ['IPv6 with a port', line('[::1]:2222', ED), '::1', 2222, ED, 'ok', 1],
  ])('%s', (_what, text, host, port, key, status, lineNo) => {
    const verdict = checkHostKey(parseKnownHosts(text), host, port, key);
    expect(verdict.status).toBe(status);
    if (lineNo !== undefined) expect((verdict as { line: number }).line).toBe(lineNo);
    if (verdict.status !== 'ok') expect(verdict.fingerprint).toBe(sshFingerprint(key));
  });

  it('knownKeyTypes: the types listed for the host (asked for first), not revoked ones', () => {
    const entries = parseKnownHosts([line('nas.lan', ECDSA), line('nas.lan', RSA), line('other', ED), `@revoked ${line('nas.lan', ED)}`].join('\n'));
    expect(knownKeyTypes(entries, 'nas.lan', 22)).toEqual(['ecdsa-sha2-nistp256', 'ssh-rsa']);
    expect(checkHostKey(entries, 'nas.lan', 22, ED_OTHER)).toMatchObject({ status: 'unknown', otherTypes: ['ecdsa-sha2-nistp256', 'ssh-rsa'] });
  });

  it('sshFingerprint is what ssh-keygen -l prints (SHA256:, base64 without padding)', () => {
    expect(sshFingerprint(Buffer.from('abc'))).toBe('SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0');
  });
});

describe('readKnownHosts', () => {
  it('a missing file is empty (every host unknown); a folder or a huge file is refused with SFTP_HOST_KEY', async () => {
    const dir = await tempDir('kh-');
    expect(await readKnownHosts(path.join(dir, 'none'))).toEqual({ entries: [], missing: true });
    await expect(readKnownHosts(dir)).rejects.toMatchObject({ code: 'SFTP_HOST_KEY', message: expect.stringContaining('a folder') });
    const big = path.join(dir, 'big');
    await fs.writeFile(big, '');
    await fs.truncate(big, MAX_KNOWN_HOSTS_BYTES + 1);
    await expect(readKnownHosts(big)).rejects.toMatchObject({ code: 'SFTP_HOST_KEY', message: expect.stringContaining('larger than') });
    const ok = path.join(dir, 'known_hosts');
    await fs.writeFile(ok, `${line('nas.lan', ED)}\n`);
    expect((await readKnownHosts(ok)).entries).toHaveLength(1);
  });
});

describe('hostKeyError', () => {
  const ctx = { host: 'nas.lan', port: 2222, user: 'backup', knownHostsFile: '/home/me/.ssh/known_hosts' };
  it('unknown: the fingerprint, how to check it out of band, and the exact commands to accept it', () => {
    const error = hostKeyError({ status: 'unknown', fingerprint: 'SHA256:abc', keyType: 'ssh-ed25519', otherTypes: [] }, ctx);
    expect(error).toMatchObject({ code: 'SFTP_HOST_KEY', exitCode: 2 });
    expect(error.message).toContain('SHA256:abc');
    expect(error.message).toContain('`ssh-keyscan -p 2222 -t ed25519 nas.lan >> /home/me/.ssh/known_hosts`');
    expect(error.message).toContain('`ssh -p 2222 backup@nas.lan`');
    expect(error.message).toContain('`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`');
  });

  it('a missing known_hosts: the accept command makes its folder first (a first ~/.ssh/known_hosts often has none)', () => {
    const error = hostKeyError({ status: 'unknown', fingerprint: 'SHA256:abc', keyType: 'ssh-ed25519', otherTypes: [] }, { ...ctx, missing: true });
    expect(error.message).toContain('/home/me/.ssh/known_hosts, which does not exist yet');
    expect(error.message).toContain('`mkdir -p -m 700 /home/me/.ssh && ssh-keyscan -p 2222 -t ed25519 nas.lan >> /home/me/.ssh/known_hosts`');
  });

  it('a known_hosts of its own ("knownHostsFile"): no `ssh` suggestion, which would record the key in ~/.ssh/known_hosts instead', () => {
    const error = hostKeyError({ status: 'unknown', fingerprint: 'SHA256:abc', keyType: 'ssh-ed25519', otherTypes: [] }, { ...ctx, knownHostsFile: '/etc/backup/hosts' });
    expect(error.message).toContain('`ssh-keyscan -p 2222 -t ed25519 nas.lan >> /etc/backup/hosts`');
    expect(error.message).not.toContain('`ssh -p');
  });

  it('changed: says it may be an attack, names file and line, and how to replace the key after checking', () => {
    const error = hostKeyError({ status: 'changed', fingerprint: 'SHA256:new', keyType: 'ecdsa-sha2-nistp256', line: 7 }, { ...ctx, port: 22 });
    expect(error.message).toContain('CHANGED');
    expect(error.message).toContain('attack');
    expect(error.message).toContain('/home/me/.ssh/known_hosts line 7');
    expect(error.message).toContain('SHA256:new');
    expect(error.message).toContain('`ssh-keygen -R nas.lan -f /home/me/.ssh/known_hosts`');
    expect(error.message).toContain('`ssh-keyscan -t ecdsa nas.lan >> /home/me/.ssh/known_hosts`');
  });

  it('quotes paths and [host]:port for the shell', () => {
    const error = hostKeyError(
      { status: 'changed', fingerprint: 'SHA256:x', keyType: 'ssh-rsa', line: 1 },
      { ...ctx, knownHostsFile: "/tmp/my hosts/it's" },
    );
    expect(error.message).toContain(`\`ssh-keygen -R '[nas.lan]:2222' -f '/tmp/my hosts/it'\\''s'\``);
  });
});
