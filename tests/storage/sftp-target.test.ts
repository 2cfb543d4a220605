/**
 * The `sftp` destination's settings (schema), their resolution against this
 * machine (sftpTargetFromSettings, sftpLabel), and the mapping of SFTP
 * statuses and connection failures to BackupErrors (describeSftpError).
 */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { sftpDestinationSchema } from '../../src/config/destinations/sftp-schema.js';
import { describeIssue } from '../../src/config/schema.js';
import { SFTP_STATUS, SessionLost, describeSftpError, unreachableError } from '../../src/storage/sftp-errors.js';
import { isTemporaryName } from '../../src/storage/sftp.js';
import { defaultLoginUser, normaliseRemotePath, sftpLabel, sftpTargetFromSettings } from '../../src/storage/sftp-target.js';

const ctx = { home: '/home/me', cwd: '/work', env: { USER: 'me', SSH_AUTH_SOCK: '/run/agent.sock' } };

describe('sftpDestinationSchema', () => {
  it('accepts the minimal entry and fills the port', () => {
    expect(sftpDestinationSchema.parse({ type: 'sftp', host: 'nas.lan', path: '/volume1/backups' })).toEqual({
      type: 'sftp',
      host: 'nas.lan',
      port: 22,
      path: '/volume1/backups',
    });
  });

  it.each([
    ['a URL as host', { host: 'sftp://nas.lan' }, /not a URL/],
    ['user@host as host', { host: 'backup@nas.lan' }, /put the user name in "user"/],
    ['host:port as host', { host: 'nas.lan:2222' }, /port in "port"/],
    ['port 0', { port: 0 }, /1 to 65535/],
    ['an empty path', { path: '' }, /remote folder/],
    ['a newline in the path', { path: '/a\nb' }, /control/],
    ['a user with "@"', { user: 'a@b' }, /login name/],
    ['a passphrase instead of a variable name', { passphraseEnv: 'my secret pass' }, /NAME of an environment variable/],
    ['timeoutSeconds 0', { timeoutSeconds: 0 }, /./],
  ])('refuses %s', (_what, patch, message) => {
    const result = sftpDestinationSchema.safeParse({ type: 'sftp', host: 'nas.lan', path: '/b', ...patch });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.message).join('; ')).toMatch(message);
  });

  it('refuses unknown keys (a password never goes in the file), with the known one suggested', () => {
    const input = { type: 'sftp', host: 'nas.lan', path: '/b', password: 'x', identityfile: '~/.ssh/k' };
    const result = sftpDestinationSchema.safeParse(input);
    expect(result.success).toBe(false);
    const text = result.error!.issues.map((i) => describeIssue(i, input)).join('; ');
    expect(text).toContain('password: unknown setting');
    expect(text).toContain('identityfile: unknown setting');
  });

  it('accepts IPv6 addresses, with or without brackets', () => {
    expect(sftpDestinationSchema.parse({ type: 'sftp', host: '[::1]', path: 'b' }).host).toBe('::1');
    expect(sftpDestinationSchema.parse({ type: 'sftp', host: 'fe80::1', path: 'b' }).host).toBe('fe80::1');
  });
});

describe('sftpTargetFromSettings', () => {
  it('defaults: $USER, the default keys in ~/.ssh, the agent, ~/.ssh/known_hosts, 60 s', () => {
    expect(sftpTargetFromSettings({ host: 'nas.lan', path: '/volume1/backups/' }, ctx)).toEqual({
      host: 'nas.lan',
      port: 22,
      user: 'me',
      path: '/volume1/backups',
      identityFiles: ['/home/me/.ssh/id_ed25519', '/home/me/.ssh/id_ecdsa', '/home/me/.ssh/id_rsa'],
      identityExplicit: false,
      agent: '/run/agent.sock',
      knownHostsFile: '/home/me/.ssh/known_hosts',
      timeoutSeconds: 60,
    });
  });

  it('explicit settings: ~ and relative local paths expanded', () => {
    const target = sftpTargetFromSettings(
      { host: 'h', port: 2222, user: 'backup', path: '~/backups', identityFile: '~/.ssh/backup_key', knownHostsFile: 'conf/known_hosts', passphraseEnv: 'KEY_PASS', timeoutSeconds: 5 },
      { ...ctx, env: {} },
    );
    expect(target).toEqual({
      host: 'h',
      port: 2222,
      user: 'backup',
      path: 'backups',
      identityFiles: ['/home/me/.ssh/backup_key'],
      identityExplicit: true,
      passphraseEnv: 'KEY_PASS',
      knownHostsFile: '/work/conf/known_hosts',
      timeoutSeconds: 5,
    });
  });

  it('no user, no $USER / $LOGNAME and no account name: a UsageError asking for "user"', () => {
    expect(() => sftpTargetFromSettings({ host: 'h', path: 'b' }, { ...ctx, env: {}, osUser: () => undefined })).toThrow(/set "user"/);
  });

  it.each([
    ['USER first', { USER: 'alice', LOGNAME: 'bob' }, 'svc', 'alice'],
    ['LOGNAME when USER is unset', { LOGNAME: 'bob' }, 'svc', 'bob'],
    ['LOGNAME when USER is empty', { USER: '', LOGNAME: 'bob' }, 'svc', 'bob'],
    ['LOGNAME when USER is blank', { USER: '  ', LOGNAME: 'bob' }, 'svc', 'bob'],
    ['the account when neither is set (a systemd system unit)', {}, 'svc', 'svc'],
    ['the account when both are empty', { USER: '', LOGNAME: '' }, 'svc', 'svc'],
    ['nothing when the account has no name either', { USER: '' }, undefined, undefined],
  ])('default login user: %s', (_what, env, account, expected) => {
    expect(defaultLoginUser({ env, osUser: () => account })).toBe(expected);
    if (expected) expect(sftpTargetFromSettings({ host: 'h', path: 'b' }, { ...ctx, env, osUser: () => account }).user).toBe(expected);
  });

  it('default login user: without osUser, the account this process runs as', () => {
    expect(defaultLoginUser({ env: { USER: '' } })).toBe(os.userInfo().username);
  });

  it('an explicit "user" wins over the environment', () => {
    expect(sftpTargetFromSettings({ host: 'h', path: 'b', user: 'backup' }, { ...ctx, osUser: () => 'svc' }).user).toBe('backup');
  });

  it.each([
    ['/', '/'],
    ['/srv/backups/', '/srv/backups'],
    ['/srv//backups/./x', '/srv/backups/x'],
    ['backups', 'backups'],
    ['./backups/', 'backups'],
    ['~', '.'],
    ['~/', '.'],
    ['~/b/c/', 'b/c'],
    ['.', '.'],
  ])('remote path %s -> %s', (input, expected) => {
    expect(normaliseRemotePath(input)).toBe(expected);
  });

  it.each([
    [{ host: 'nas.lan', port: 22, user: 'backup', path: '/volume1/backups' }, 'sftp://backup@nas.lan:22/volume1/backups'],
    [{ host: 'nas.lan', port: 2222, user: 'backup', path: 'backups' }, 'sftp://backup@nas.lan:2222/~/backups'],
    [{ host: 'nas.lan', port: 22, user: 'backup', path: '.' }, 'sftp://backup@nas.lan:22/~'],
    [{ host: '::1', port: 22, user: 'root', path: '/b' }, 'sftp://root@[::1]:22/b'],
  ])('label %j', (target, label) => {
    expect(sftpLabel(target)).toBe(label);
  });

  it('temporary names are recognised (never listed)', () => {
    expect(['.a.zip.partial', '.a.zip.sha256.tmp-0123456789abcdef', '.backup-probe-0123456789ab'].every(isTemporaryName)).toBe(true);
    expect(['a.zip', 'a.zip.partial', '.hidden', '.a.tmp-xyz'].some(isTemporaryName)).toBe(false);
  });
});

describe('describeSftpError', () => {
  const base = { action: 'write', where: 'sftp://backup@nas:22/b/a.zip', user: 'backup', server: 'nas' };
  const status = (code: number, message: string) => Object.assign(new Error(message), { code });

  it.each([
    ['PERMISSION_DENIED', status(SFTP_STATUS.PERMISSION_DENIED, 'Permission denied'), 'STORE_ACCESS_DENIED', /account "backup" may not write there/],
    ['FAILURE (a full disk says only this)', status(SFTP_STATUS.FAILURE, 'Failure'), 'SFTP_FAILED', /full disk or quota/],
    ['NO_SUCH_FILE', status(SFTP_STATUS.NO_SUCH_FILE, 'No such file'), 'SFTP_FAILED', /does not exist/],
    ['OP_UNSUPPORTED', status(SFTP_STATUS.OP_UNSUPPORTED, 'Operation unsupported'), 'SFTP_FAILED', /does not support/],
    ['CONNECTION_LOST', status(SFTP_STATUS.CONNECTION_LOST, 'Connection lost'), 'SFTP_CONNECTION_LOST', /dropped/],
    ['a lost session', new SessionLost('the SSH connection closed'), 'SFTP_CONNECTION_LOST', /connection dropped/],
    ['a timed-out session', new SessionLost('no answer', 10_000), 'SFTP_CONNECTION_LOST', /did not answer for 10 s.*timeoutSeconds/],
    ['another status', status(5, 'Bad message'), 'SFTP_FAILED', /status 5.*Bad message/],
    ['control characters from the server are not printed', status(SFTP_STATUS.FAILURE, 'disk\x1b[31m full\n'), 'SFTP_FAILED', /disk \[31m full\)/],
  ])('%s', (_what, error, code, message) => {
    const mapped = describeSftpError(error, base);
    expect(mapped.code).toBe(code);
    expect(mapped.message).toMatch(message);
    expect(mapped.message).not.toMatch(/[\x00-\x1f]/);
  });

  it('a missing named file on the read side is NOT_FOUND; an aborted caller is CANCELLED', () => {
    expect(describeSftpError(status(2, 'No such file'), { ...base, missingIsNotFound: true }).code).toBe('NOT_FOUND');
    const controller = new AbortController();
    controller.abort();
    expect(describeSftpError(new SessionLost('x'), { ...base, signal: controller.signal }).code).toBe('CANCELLED');
  });

  it.each([
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', level: 'client-socket' }), /connection refused/],
    [Object.assign(new Error('getaddrinfo ENOTFOUND nas'), { code: 'ENOTFOUND', level: 'client-socket' }), /host name not found/],
    [Object.assign(new Error('Timed out while waiting for handshake'), { level: 'client-timeout' }), /no SSH handshake within 10 s/],
  ])('unreachable: %s', (error, message) => {
    const mapped = unreachableError(error, 'nas:22', 10_000);
    expect(mapped.code).toBe('SFTP_UNREACHABLE');
    expect(mapped.exitCode).toBe(1);
    expect(mapped.message).toMatch(message);
  });
});
