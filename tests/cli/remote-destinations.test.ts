/**
 * SFTP and rclone destinations through the built CLI, from settings.json as
 * a user writes it: a run to a local folder + an SFTP server + two rclone
 * remotes (sftp and local backends), then list / verify / restore / prune
 * with --from on each; an unknown host key and a missing rclone remote are
 * refused before anything is written there while the other copies are made.
 * Real servers (OpenSSH sshd on 127.0.0.1, Debian's rclone); every copy read
 * back from its folder and compared with the source.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli, type CliRun } from '../helpers/cli.js';
import { startRcloneRemotes, type RcloneRemotes } from '../helpers/rclone-remotes.js';

let remotes: RcloneRemotes;
beforeAll(async () => {
  remotes = await startRcloneRemotes();
});
afterAll(async () => {
  await remotes?.stop();
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Project {
  root: string;
  folders: { nas: string; gdrive: string; disk: string };
  cli(args: string[]): Promise<CliRun>;
}

/** A project whose remote folders live under the sshd's root (seen by both the server and this test). */
async function project(extra: { knownHostsFile?: string; remote?: string } = {}): Promise<Project> {
  const root = await tempDir();
  await makeRichTree(root);
  const base = await fs.mkdtemp(path.join(remotes.root, 'p-'));
  const folders = { nas: path.join(base, 'nas'), gdrive: path.join(base, 'gdrive'), disk: path.join(base, 'disk') };
  // SFTP folders are never created by the tool; rclone creates its folder on a real run.
  await fs.mkdir(folders.nas);
  const settings = {
    sources: ['./data'],
    format: 'tar.gz',
    name: 'remote-{date}-{time}',
    destinations: [
      { name: 'here', type: 'local', path: './backups' },
      {
        name: 'nas',
        type: 'sftp',
        host: remotes.sshd.host,
        port: remotes.sshd.port,
        user: remotes.sshd.user,
        path: folders.nas,
        identityFile: remotes.sshd.privateKeyPath,
        knownHostsFile: extra.knownHostsFile ?? remotes.sshd.knownHostsPath,
        timeoutSeconds: 20,
      },
      { name: 'gdrive', type: 'rclone', remote: extra.remote ?? 'nas', path: folders.gdrive },
      { name: 'disk', type: 'rclone', remote: 'disk', path: folders.disk },
    ],
  };
  await fs.mkdir(path.join(root, 'config'));
  await fs.writeFile(path.join(root, 'config', 'settings.json'), JSON.stringify(settings, null, 2));
  const env = remotes.env();
  return { root, folders, cli: (args) => runCli(args, { cwd: root, env }) };
}

describe('SFTP and rclone destinations from settings.json', () => {
  it('one run to a folder, an SFTP server and two rclone remotes; list, verify, restore and prune with --from on each', async () => {
    const p = await project();
    const first = await p.cli(['run', '--json']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const result = parseJsonResult(first);
    expect(result.destinations.map((d: { name: string; type: string; ok: boolean }) => [d.name, d.type, d.ok])).toEqual([
      ['here', 'local', true],
      ['nas', 'sftp', true],
      ['gdrive', 'rclone', true],
      ['disk', 'rclone', true],
    ]);
    const name = path.basename(result.archive);
    for (const folder of Object.values(p.folders)) {
      // The archive and its two sidecars, nothing else (no hidden partial or claim left).
      expect((await fs.readdir(folder)).sort()).toEqual([name, `${name}.manifest.json`, `${name}.sha256`]);
      expect(sha256(await fs.readFile(path.join(folder, name)))).toBe(result.sha256);
      expect(await fs.readFile(path.join(folder, `${name}.sha256`), 'utf8')).toContain(result.sha256);
    }

    const listed = parseJsonResult(await p.cli(['list', '--json']));
    expect(listed.locations.map((l: { name: string; backups: Array<{ name: string }> }) => [l.name, l.backups.map((b) => b.name)])).toEqual([
      ['here', [name]],
      ['nas', [name]],
      ['gdrive', [name]],
      ['disk', [name]],
    ]);

    for (const from of ['nas', 'gdrive', 'disk']) {
      const verified = await p.cli(['verify', '--from', from, name, '--json']);
      expect(verified.code, `${from}: ${verified.stdout}${verified.stderr}`).toBe(0);
    }
    // verify records its outcome beside the archive, on the remote too.
    expect(await listDir(p.folders.nas)).toContain(`${name}.verified.json`);

    for (const from of ['nas', 'gdrive']) {
      const into = `restored-${from}`;
      const restored = await p.cli(['restore', '--from', from, name, '--to', into, '--json']);
      expect(restored.code, restored.stdout + restored.stderr).toBe(0);
      expect(await describeTree(path.join(p.root, into, 'data'))).toEqual(await describeTree(path.join(p.root, 'data')));
    }

    // A changed byte on one remote: verify from there says so (exit 1), the others still verify.
    const tampered = path.join(p.folders.disk, name);
    const bytes = await fs.readFile(tampered);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0xff;
    await fs.writeFile(tampered, bytes);
    const bad = await p.cli(['verify', '--from', 'disk', name, '--json']);
    expect(bad.code, bad.stdout + bad.stderr).toBe(1);
    expect((await p.cli(['verify', '--from', 'nas', name, '--json'])).code).toBe(0);

    await new Promise((resolve) => setTimeout(resolve, 1100)); // another second: another name
    const second = await p.cli(['run', '--json']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const secondName = path.basename(parseJsonResult(second).archive);
    const pruned = await p.cli(['prune', '--from', 'nas,gdrive', '--keep-last', '1', '--json']);
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
    for (const folder of [p.folders.nas, p.folders.gdrive]) {
      expect((await listDir(folder)).filter((f) => f.endsWith('.tar.gz'))).toEqual([secondName]);
    }
    // Not picked by --from: untouched.
    expect((await listDir(p.folders.disk)).filter((f) => f.endsWith('.tar.gz')).sort()).toEqual([name, secondName].sort());
  });

  it('an unknown SFTP host key and a missing rclone remote are refused before the run; the other copies are made, exit 1 naming both', async () => {
    const emptyKnownHosts = path.join(await tempDir(), 'known_hosts');
    await fs.writeFile(emptyKnownHosts, '');
    const p = await project({ knownHostsFile: emptyKnownHosts, remote: 'nosuchremote' });
    const run = await p.cli(['run', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const result = parseJsonResult(run);
    expect(result.destinations.map((d: { name: string; ok: boolean }) => [d.name, d.ok])).toEqual([
      ['here', true],
      ['nas', false],
      ['gdrive', false],
      ['disk', true],
    ]);
    const byName = Object.fromEntries(result.destinations.map((d: { name: string; error?: { code: string; message: string } }) => [d.name, d.error]));
    expect(byName.nas.code).toBe('SFTP_HOST_KEY');
    expect(byName.nas.message).toContain(remotes.sshd.hostKeyFingerprint);
    expect(byName.nas.message).toMatch(/ssh-keyscan/);
    expect(byName.gdrive.code).toBe('RCLONE_NO_REMOTE');
    expect(byName.gdrive.message).toMatch(/nosuchremote/);
    expect(result.error.message).toMatch(/SFTP destination "nas" .* failed/);
    // Nothing at all was written where the check failed.
    expect(await fs.readdir(p.folders.nas)).toEqual([]);
    await expect(fs.stat(p.folders.gdrive)).rejects.toThrow();
    expect((await listDir(p.folders.disk)).filter((f) => f.endsWith('.tar.gz'))).toHaveLength(1);
  });
});
