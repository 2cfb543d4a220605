/**
 * Publish: sidecars first, the archive's final name last. When a sidecar
 * cannot be written, the archive is not published (no complete archive
 * without its sidecars, which prune could never manage) and nothing of the
 * run is left; the other destinations still get theirs.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { LocalDestination } from '../../src/storage/local.js';
import type { ArchiveWrite, SidecarFile } from '../../src/storage/store.js';
import { publishAll } from '../../src/backup/publish.js';
import type { Manifest } from '../../src/backup/manifest.js';
import type { BackupError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { symlinkSync } from 'node:fs';
import { listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

/** A real local folder where another program puts `name` just before the sidecars are written. */
class Planted extends LocalDestination {
  constructor(
    dir: string,
    private readonly plant: (dir: string) => Promise<void>,
  ) {
    super(dir);
  }

  override async writeSidecars(files: readonly SidecarFile[]): Promise<void> {
    await this.plant(this.dir);
    return super.writeSidecars(files);
  }
}

async function written(dest: LocalDestination, data: Buffer): Promise<void> {
  await dest.prepare();
  expect(await dest.reserve('x.tar.gz')).toBe(true);
  await pipeline(Readable.from([data]), await dest.open());
}

const manifest = (destinations: Manifest['destinations']): Manifest => ({ archive: 'x.tar.gz', destinations }) as Manifest;

describe('publish: sidecars before the archive', () => {
  it.each([
    ['a folder with the manifest name', (dir: string) => fs.mkdir(path.join(dir, 'x.tar.gz.manifest.json'))],
    [
      'a read-only file with the manifest name',
      async (dir: string) => {
        await fs.writeFile(path.join(dir, 'x.tar.gz.manifest.json'), 'theirs');
        await fs.chmod(path.join(dir, 'x.tar.gz.manifest.json'), 0o444);
      },
    ],
  ])('%s appears: that archive is not published, nothing of it is left, the other folder gets the backup', async (_name, plant) => {
    const root = await tempDir();
    const data = randomBytes(100_000);
    const info = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
    const bad = new Planted(path.join(root, 'bad'), plant);
    const good = new LocalDestination(path.join(root, 'good'));
    await written(bad, data);
    await written(good, data);
    const failures = new Map<ArchiveWrite, BackupError>();
    const published = await publishAll({
      destinations: [bad, good],
      nameOf: (d) => (d === bad ? 'bad' : 'good'),
      failures,
      fileName: 'x.tar.gz',
      info,
      manifest,
      logger: silentLogger,
      signal: new AbortController().signal,
    });
    expect([...published.keys()]).toEqual([good]);
    expect(failures.get(bad)?.message).toMatch(/x\.tar\.gz\.manifest\.json: something of that name appeared during the backup; it was not replaced, and the archive was not published/);
    // No archive without sidecars, no partial, no .sha256 left behind; what was planted is untouched.
    expect(await listDir(bad.dir)).toEqual(['x.tar.gz.manifest.json']);
    expect(await listDir(good.dir)).toEqual(['x.tar.gz', 'x.tar.gz.manifest.json', 'x.tar.gz.sha256']);
    const goodManifest = JSON.parse(await fs.readFile(path.join(good.dir, 'x.tar.gz.manifest.json'), 'utf8')) as Manifest;
    expect(goodManifest.destinations).toEqual([
      { name: 'bad', kind: 'local', location: bad.dir, ok: false, error: expect.stringMatching(/not published/) },
      { name: 'good', kind: 'local', location: path.join(good.dir, 'x.tar.gz'), ok: true },
    ]);
  });
});

describe('sidecars are written without predictable temporary names', () => {
  it('symlinks planted at NAME.sha256.tmp-PID / NAME.manifest.json.tmp-PID neither stop the run nor touch their target', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const out = path.join(root, 'out');
    await fs.mkdir(out, { mode: 0o700 });
    const victim = path.join(root, 'victim.txt');
    await fs.writeFile(victim, 'precious\n');
    const archive = path.join(out, 'data.tar.gz');
    const plant = (pid: number): void => {
      for (const sidecar of ['.sha256', '.manifest.json']) {
        try {
          symlinkSync(victim, `${archive}${sidecar}.tmp-${pid}`);
        } catch {
          // already planted by the guess
        }
      }
    };
    // The names used to be NAME.sha256.tmp-PID (opened 'wx'): a guess of pids, and the run's own once it exists.
    for (let pid = 2; pid < 400; pid++) plant(pid);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'data', '-f', 'tar.gz', '--json'], { cwd: root, onSpawn: (child) => plant(child.pid!) });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(parseJsonResult(run).ok).toBe(true);
    expect(await fs.readFile(victim, 'utf8')).toBe('precious\n');
    for (const sidecar of ['.sha256', '.manifest.json']) {
      const stat = await fs.lstat(archive + sidecar);
      expect(stat.isFile()).toBe(true);
      expect(stat.mode & 0o777).toBe(0o600);
    }
    expect((await fs.readFile(`${archive}.sha256`, 'utf8')).endsWith('  data.tar.gz\n')).toBe(true);
  });
});
