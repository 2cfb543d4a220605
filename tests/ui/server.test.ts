/**
 * `backup ui`'s routes doing real work: the built CLI's dashboard on a
 * project folder with real files, jobs writing real archives to a local
 * folder and to the suite's Ceph S3 (one of them through a TCP proxy that
 * stalls an upload, so a run is surely still running while the test acts).
 * What the page shows is checked against the files themselves: archives
 * opened with the system's unzip / tar, restored folders compared byte for
 * byte with the source, saved settings read back by the CLI.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, listDir, makeRichTree } from '../helpers/fixtures.js';
import { hasPartial, runCli } from '../helpers/cli.js';
import { freshBucket, getObject, listKeys, listUploads, s3Env, s3Server } from '../helpers/s3.js';
import { startFaultProxy, type FaultProxy, type FaultRequest } from '../helpers/fault-proxy.js';
import { waitFor } from '../helpers/wait-for.js';
import { startUi, UiClient, type UiProcess } from '../helpers/ui.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let root: string;
let source: string;
let bucket: string;
let proxy: FaultProxy;
let ui: UiProcess;
let client: UiClient;

/** Job ids as `backup ui` numbers them: the order of --config. */
const ZIP = '1';
const TGZ = '2';
const SLOW = '3';
const STALLS_ONCE = '4';
const EDIT = '5';

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'backup-ui-server-'));
  source = await makeRichTree(root, 'data');
  // Incompressible, so the archive needs several 8 MiB parts and the second can be stalled.
  await fs.mkdir(path.join(root, 'big'));
  await fs.writeFile(path.join(root, 'big/random.bin'), randomBytes(16 * MiB));
  bucket = await freshBucket();
  const s3 = new URL(s3Server().endpoint);
  proxy = await startFaultProxy({ host: s3.hostname, port: Number(s3.port) });
  await fs.mkdir(path.join(root, 'config'));
  const write = (file: string, settings: unknown): Promise<void> => fs.writeFile(path.join(root, 'config', file), json(settings));
  await write('zip.json', { sources: ['./data'], format: 'zip', name: 'z-{date}-{time}', destinations: [{ name: 'here', type: 'local', path: './backups-zip' }] });
  await write('tgz.json', {
    job: 'website',
    sources: ['./data'],
    format: 'tar.gz',
    name: 't-{date}-{time}',
    destinations: [
      { name: 'here', type: 'local', path: './backups-tgz' },
      { name: 'cloud', type: 's3', bucket, prefix: 'tgz/', endpoint: s3Server().endpoint },
    ],
  });
  for (const [file, prefix, timeoutSeconds] of [['slow.json', 'slow/', 60], ['stalls-once.json', 'once/', 3]] as const) {
    await write(file, {
      sources: ['./big'],
      format: 'tar.gz',
      name: `${prefix.slice(0, -1)}-{date}-{time}`,
      destinations: [
        { name: 'here', type: 'local', path: `./backups-${prefix.slice(0, -1)}` },
        { name: 'cloud', type: 's3', bucket, prefix, endpoint: proxy.url, timeoutSeconds },
      ],
    });
  }
  await write('edit.json', { sources: ['./data'], format: 'zip', name: 'e-{date}', destinations: [{ name: 'here', type: 'local', path: './backups-edit' }] });
  await fs.chmod(path.join(root, 'config/edit.json'), 0o640);
  // In a process group of its own, as a shell job: the last test presses Ctrl-C on the whole group.
  ui = await startUi(['--config', 'config/zip.json', 'config/tgz.json', 'config/slow.json', 'config/stalls-once.json', 'config/edit.json'], {
    cwd: root,
    env: s3Env(),
    ownGroup: true,
  });
  client = await UiClient.open(ui);
});

afterAll(async () => {
  const stopped = await ui?.stop();
  await proxy?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
  expect(stopped?.code, ui?.stderr()).toBe(0);
});

const isUploadPart = (n: number) => (req: FaultRequest) => req.method === 'PUT' && req.query.get('partNumber') === String(n);

/** The one backup a job's destination lists. */
async function onlyBackup(job: string, from: string): Promise<{ name: string; [key: string]: unknown }> {
  const list = await client.getJson(`/api/jobs/${job}/backups`);
  const location = list.locations.find((l: { name: string }) => l.name === from);
  expect(location.backups).toHaveLength(1);
  return location.backups[0];
}

const treeOf = (job: string, from: string, name: string, folder: string): Promise<any> =>
  client.getJson(`/api/jobs/${job}/tree?${new URLSearchParams({ from, name, path: folder })}`);

describe('jobs and runs', () => {
  it('lists each job with its verdict, destinations and the command for "run now"', async () => {
    const { jobs, cwd } = await client.getJson('/api/jobs');
    expect(cwd).toBe(root);
    expect(jobs.map((j: any) => [j.id, j.file, j.status.verdict, j.destinations, j.running, j.commands.run])).toEqual([
      [ZIP, 'config/zip.json', 'never run', [{ name: 'here', type: 'local' }], [], 'npx backup run --config config/zip.json'],
      [TGZ, 'config/tgz.json', 'never run', [{ name: 'here', type: 'local' }, { name: 'cloud', type: 's3' }], [], 'npx backup run --config config/tgz.json'],
      [SLOW, 'config/slow.json', 'never run', [{ name: 'here', type: 'local' }, { name: 'cloud', type: 's3' }], [], 'npx backup run --config config/slow.json'],
      [STALLS_ONCE, 'config/stalls-once.json', 'never run', [{ name: 'here', type: 'local' }, { name: 'cloud', type: 's3' }], [], 'npx backup run --config config/stalls-once.json'],
      [EDIT, 'config/edit.json', 'never run', [{ name: 'here', type: 'local' }], [], 'npx backup run --config config/edit.json'],
    ]);
    expect((await client.get('/api/jobs/9/backups')).status).toBe(404);
  });

  it('run now: progress with bytes over server-sent events, then ok; the archive opens with unzip; the verdict becomes ok', async () => {
    const started = await client.start(`/api/jobs/${ZIP}/run`);
    expect(started).toMatchObject({ kind: 'run', job: ZIP, state: 'running', command: 'npx backup run --config config/zip.json' });
    const stream = client.events(started.id);
    const done = (await stream.until((e) => e.data.state === 'done')).data;
    await stream.ended;
    const progress = stream.events.filter((e) => e.event === 'state' && e.data.progress).map((e) => e.data.progress);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toMatchObject({ phase: 'backup', done: expect.stringMatching(/^[\d.]+ (B|KiB|MiB)$/) });
    expect(done).toMatchObject({ ok: true, exitCode: 0, error: null, progress: { percent: 100, fraction: 1 } });
    const archive = path.join(root, done.result.archive);
    expect(done.result.archive).toMatch(/^backups-zip\/z-\d{8}-\d{6}\.zip$/);
    expect(sha256(await fs.readFile(archive))).toBe(done.result.sha256);
    execFileSync('unzip', ['-tq', archive]);
    expect(execFileSync('unzip', ['-p', archive, 'data/readme.txt'], { encoding: 'utf8' })).toBe('hello backup\n');
    // A page opened later still gets the outcome, and the action is listed.
    expect((await client.getJson(`/api/actions/${started.id}`)).action).toEqual(done);
    expect((await client.getJson('/api/actions')).actions.map((a: { id: string }) => a.id)).toContain(started.id);
    const { jobs } = await client.getJson('/api/jobs');
    expect(jobs[0].status.verdict).toBe('ok');
  });

  it('run now to local + S3: the tar.gz opens with tar, and both destinations list it', async () => {
    const started = await client.start(`/api/jobs/${TGZ}/run`);
    // Named as the jobs list and `backup status` name it: the settings' "job", not the file's name.
    expect(started.title).toBe('backup of website');
    expect((await client.getJson('/api/jobs')).jobs[1].name).toBe('website');
    const done = await client.finished(started.id);
    expect(done, JSON.stringify(done.error)).toMatchObject({ ok: true, exitCode: 0 });
    const name = path.basename(done.result.archive);
    const local = await fs.readFile(path.join(root, done.result.archive));
    expect(sha256(await getObject(bucket, `tgz/${name}`))).toBe(sha256(local));
    const entries = execFileSync('tar', ['-tzf', path.join(root, done.result.archive)], { encoding: 'utf8' }).split('\n');
    expect(entries).toContain('data/deep/a/b/c/d/e/f/g/h/leaf.txt');

    const list = await client.getJson(`/api/jobs/${TGZ}/backups`);
    expect(list.command).toBe('npx backup list --config config/tgz.json');
    expect(list.locations.map((l: any) => [l.name, l.kind, l.error, l.backups.map((b: any) => [b.name, b.format, b.bytes, b.files, b.sha256])])).toEqual([
      ['here', 'local', null, [[name, 'tar.gz', local.length, done.result.files, done.result.sha256]]],
      ['cloud', 's3', null, [[name, 'tar.gz', local.length, done.result.files, done.result.sha256]]],
    ]);
  });

  it('a second run while the first is running is refused by the job lock, with the reason; cancel ends the first with nothing left behind', async () => {
    // The second part of the upload hangs: the first run is surely still running while the test acts.
    proxy.setRules([{ match: isUploadPart(2), action: 'stall', afterBodyBytes: MiB, times: Infinity }]);
    const first = await client.start(`/api/jobs/${SLOW}/run`);
    const stream = client.events(first.id);
    await waitFor('the upload to stall', () => proxy.hits() > 0);
    const progressed = await stream.until((e) => e.data.progress?.phase === 'backup');
    expect(progressed.data.state).toBe('running');

    const second = await client.finished((await client.start(`/api/jobs/${SLOW}/run`)).id);
    expect(second).toMatchObject({ ok: false, exitCode: 1, error: { code: 'LOCKED' } });
    expect(second.error.message).toMatch(/running/i);
    expect(second.error.message).toContain('run --config config/slow.json');
    const { jobs } = await client.getJson('/api/jobs');
    expect(jobs[2].running.map((a: { id: string }) => a.id)).toEqual([first.id]);

    const cancel = await client.post(`/api/actions/${first.id}/cancel`);
    expect(cancel.status).toBe(200);
    // The page hears at once that it is being cancelled (the clean-up, an S3 abort, may take a while).
    expect((await stream.until((e) => e.data.state === 'cancelling')).data.exitCode).toBeNull();
    const done = (await stream.until((e) => e.data.state === 'done')).data;
    expect(done).toMatchObject({ ok: false, exitCode: 130, error: { code: 'CANCELLED' } });
    expect(await hasPartial(path.join(root, 'backups-slow'))).toBe(false);
    expect((await listDir(path.join(root, 'backups-slow'))).filter((f) => !f.startsWith('.backup-'))).toEqual([]);
    expect((await listKeys(bucket)).filter((k) => k.startsWith('slow/'))).toEqual([]);
    expect((await listUploads(bucket)).filter((u) => u.startsWith('slow/'))).toEqual([]);
    // Nothing is running any more: a second cancel has nothing to cancel.
    expect((await client.post(`/api/actions/${first.id}/cancel`)).status).toBe(409);
  });

  it('a page that goes away mid-run does not stop the run: it completes, and a page opened later sees the outcome', async () => {
    // The second part hangs once; the store gives up on it after 3 s and sends it again.
    proxy.setRules([{ match: isUploadPart(2), action: 'stall', afterBodyBytes: MiB, times: 1 }]);
    const run = await client.start(`/api/jobs/${STALLS_ONCE}/run`);
    const stream = client.events(run.id);
    await waitFor('the upload to stall', () => proxy.hits() > 0);
    stream.close();
    await stream.ended;
    expect((await client.getJson(`/api/actions/${run.id}`)).action.state).toBe('running');
    const done = await client.finished(run.id);
    expect(done, JSON.stringify(done.error)).toMatchObject({ ok: true, exitCode: 0, state: 'done' });
    const name = path.basename(done.result.archive);
    expect(sha256(await getObject(bucket, `once/${name}`))).toBe(done.result.sha256);
    expect(sha256(await fs.readFile(path.join(root, done.result.archive)))).toBe(done.result.sha256);
  });
});

describe('verify', () => {
  it('a backup on the local folder and on S3 verifies ok; a flipped byte fails, and the list shows the last verification', async () => {
    const backup = await onlyBackup(TGZ, 'here');
    for (const from of ['here', 'cloud']) {
      const started = await client.start(`/api/jobs/${TGZ}/verify`, { from, name: backup.name });
      expect(started.command).toBe(`npx backup verify --config config/tgz.json --from ${from} -- ${backup.name}`);
      const done = await client.finished(started.id);
      expect(done, `${from}: ${JSON.stringify(done.error)}`).toMatchObject({ ok: true, exitCode: 0 });
    }
    expect(await onlyBackup(TGZ, 'cloud')).toMatchObject({ verifiedOk: true });

    const zip = await onlyBackup(ZIP, 'here');
    const file = path.join(root, 'backups-zip', zip.name);
    const original = await fs.readFile(file);
    const broken = Buffer.from(original);
    const at = Math.floor(broken.length / 2);
    broken[at] = broken[at]! ^ 0xff;
    await fs.writeFile(file, broken);
    try {
      const done = await client.finished((await client.start(`/api/jobs/${ZIP}/verify`, { from: 'here', name: zip.name })).id);
      expect(done).toMatchObject({ ok: false, exitCode: 1, error: { code: expect.any(String), message: expect.any(String) } });
      expect(await onlyBackup(ZIP, 'here')).toMatchObject({ verifiedOk: false });
    } finally {
      await fs.writeFile(file, original);
    }
    const again = await client.finished((await client.start(`/api/jobs/${ZIP}/verify`, { from: 'here', name: zip.name })).id);
    expect(again).toMatchObject({ ok: true, exitCode: 0 });
  });

  it('a name that is a path, or a missing one, is refused before anything runs', async () => {
    const before = (await client.getJson('/api/actions')).actions.length;
    for (const body of [{ from: 'here', name: '../secret.zip' }, { from: 'here', name: '/etc/passwd' }, { from: 'here' }, { name: 'x.zip' }]) {
      const res = await client.post(`/api/jobs/${ZIP}/verify`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await client.getJson('/api/actions')).actions.length).toBe(before);
  });
});

describe('the archive tree', () => {
  it('a zip (central directory) and a tar.gz on local and S3: one folder at a time, folders first, paths as restore matches them', async () => {
    const zip = await onlyBackup(ZIP, 'here');
    const tgz = await onlyBackup(TGZ, 'here');
    for (const [job, from, name] of [[ZIP, 'here', zip.name], [TGZ, 'here', tgz.name], [TGZ, 'cloud', tgz.name]] as const) {
      const top = await treeOf(job, from, name, '');
      expect(top.entries.map((e: any) => [e.name, e.path, e.kind]), `${from} ${name}`).toEqual([['data', 'data', 'dir']]);
      const data = await treeOf(job, from, name, 'data');
      const names = data.entries.map((e: any) => e.name);
      const kinds = data.entries.map((e: any) => e.kind);
      // Folders first, each group by name.
      const firstNonDir = kinds.findIndex((k: string) => k !== 'dir');
      expect(kinds.slice(firstNonDir).every((k: string) => k !== 'dir'), names.join(', ')).toBe(true);
      expect(names.slice(0, firstNonDir)).toEqual(['bin', 'deep', 'empty-folder', `${'long-folder-name-'.repeat(5)}`, 'ünïcödé']);
      expect(names.slice(firstNonDir)).toEqual(['binary.bin', 'empty-file', 'link-to-readme', 'readme.txt', 'spaced name with  two spaces.txt', 'zeros.bin']);
      expect(data.entries.find((e: any) => e.name === 'binary.bin')).toEqual({ name: 'binary.bin', path: 'data/binary.bin', kind: 'file', size: 300_000, files: 1 });
      expect(data.entries.find((e: any) => e.name === 'link-to-readme').kind).toBe('symlink');
      const deep = data.entries.find((e: any) => e.name === 'deep');
      expect(deep).toEqual({ name: 'deep', path: 'data/deep', kind: 'dir', size: 5, files: 1 });
      const leaf = await treeOf(job, from, name, 'data/deep/a/b/c/d/e/f/g/h');
      expect(leaf.entries).toEqual([{ name: 'leaf.txt', path: 'data/deep/a/b/c/d/e/f/g/h/leaf.txt', kind: 'file', size: 5, files: 1 }]);
    }
    const notAFolder = await client.get(`/api/jobs/${ZIP}/tree?${new URLSearchParams({ from: 'here', name: zip.name, path: 'data/readme.txt' })}`);
    expect(notAFolder.status).toBe(400);
    expect(notAFolder.json().error.message).toBe('data/readme.txt is not a folder in this backup.');
    const gone = await client.get(`/api/jobs/${ZIP}/tree?${new URLSearchParams({ from: 'here', name: 'z-20000101-000000.zip', path: '' })}`);
    expect(gone.status).toBeGreaterThanOrEqual(400);
    expect(gone.status).toBeLessThan(500);
  });
});

describe('restore', () => {
  it('one folder of a zip, and one of a tar.gz on S3: the files are byte-identical to the source', async () => {
    const zip = await onlyBackup(ZIP, 'here');
    const tgz = await onlyBackup(TGZ, 'cloud');
    for (const [job, from, name, folder, to] of [
      [ZIP, 'here', zip.name, 'data/ünïcödé', 'restored-zip'],
      [TGZ, 'cloud', tgz.name, 'data/bin', 'restored-tgz'],
    ] as const) {
      const started = await client.start(`/api/jobs/${job}/restore`, { from, name, to, paths: [folder] });
      const done = await client.finished(started.id);
      expect(done, JSON.stringify(done.error)).toMatchObject({ ok: true, exitCode: 0 });
      expect(await listDir(path.join(root, to))).toEqual(['data']);
      expect(await listDir(path.join(root, to, 'data'))).toEqual([path.basename(folder)]);
      expect(await describeTree(path.join(root, to, folder))).toEqual(await describeTree(path.join(root, folder)));
    }
  });

  it('into a folder that is not empty, without overwrite: refused, nothing changed; with overwrite: restored', async () => {
    const zip = await onlyBackup(ZIP, 'here');
    const target = path.join(root, 'restored-zip/data/ünïcödé/日本語 ファイル.txt');
    await fs.writeFile(target, 'changed since\n');
    const refused = await client.finished((await client.start(`/api/jobs/${ZIP}/restore`, { from: 'here', name: zip.name, to: 'restored-zip', paths: ['data/ünïcödé'] })).id);
    expect(refused).toMatchObject({ ok: false, exitCode: expect.any(Number), error: { code: expect.any(String), message: expect.stringMatching(/overwrite/i) } });
    expect(refused.exitCode).not.toBe(0);
    expect(await fs.readFile(target, 'utf8')).toBe('changed since\n');

    const overwritten = await client.finished(
      (await client.start(`/api/jobs/${ZIP}/restore`, { from: 'here', name: zip.name, to: 'restored-zip', paths: ['data/ünïcödé'], overwrite: true })).id,
    );
    expect(overwritten, JSON.stringify(overwritten.error)).toMatchObject({ ok: true, exitCode: 0 });
    expect(await fs.readFile(target, 'utf8')).toBe('unicode ✓\n');
  });

  it('preview: the equivalent command line, and nothing runs', async () => {
    const zip = await onlyBackup(ZIP, 'here');
    const before = (await client.getJson('/api/actions')).actions.length;
    const res = await client.post(`/api/jobs/${ZIP}/restore`, { from: 'here', name: zip.name, to: 'preview target', paths: ['data/deep', 'data/spaced name with  two spaces.txt', 'data/bin'], preview: true });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({
      command: `npx backup restore --config config/zip.json --from here --to 'preview target' --include /data/deep '/data/spaced name with  two spaces.txt' /data/bin -- ${zip.name}`,
    });
    expect((await client.getJson('/api/actions')).actions.length).toBe(before);
    await expect(fs.stat(path.join(root, 'preview target'))).rejects.toThrow(/ENOENT/);
    // The command shown does what the page would have done.
    const run = await runCli(['restore', '--config', 'config/zip.json', '--from', 'here', '--to', 'preview target', '--include', '/data/deep', '/data/spaced name with  two spaces.txt', '/data/bin', '--', zip.name], { cwd: root, env: s3Env() });
    expect(run.code, run.stderr).toBe(0);
    expect(await listDir(path.join(root, 'preview target/data'))).toEqual(['bin', 'deep', 'spaced name with  two spaces.txt']);
  });

  it('more picked paths than one command line can carry: 400 saying so, nothing started', async () => {
    const zip = await onlyBackup(ZIP, 'here');
    const before = (await client.getJson('/api/actions')).actions.length;
    const paths = Array.from({ length: 2000 }, (_, i) => `data/${String(i).padStart(1500, 'x')}`);
    const res = await client.post(`/api/jobs/${ZIP}/restore`, { from: 'here', name: zip.name, to: 'too-many', paths });
    expect(res.status).toBe(400);
    expect(res.json().error.message).toMatch(/^paths: 2000 paths are too long for one command line \(\d+ bytes\): pick the folders that hold them/);
    expect((await client.getJson('/api/actions')).actions.length).toBe(before);
  });
});

describe('settings', () => {
  it('GET: the file as it is, editable, with its version', async () => {
    const text = await fs.readFile(path.join(root, 'config/edit.json'), 'utf8');
    const view = await client.getJson(`/api/jobs/${EDIT}/settings`);
    expect(view).toEqual({
      file: 'config/edit.json',
      text,
      version: sha256(Buffer.from(text)),
      editable: true,
      why: null,
      problems: [],
      // Quoted by the server like every command it shows.
      commands: { scheduleInstall: 'npx backup schedule install --config config/edit.json', notifyTest: 'npx backup notify test --config config/edit.json' },
    });
  });

  it('a broken field: 422 with each problem at its JSON path, in the words the CLI uses; the file is unchanged', async () => {
    const view = await client.getJson(`/api/jobs/${EDIT}/settings`);
    const broken = JSON.parse(view.text);
    broken.threads = 0;
    broken.destinations[0].pth = './x';
    broken.destinations[0].size = 1;
    const text = json(broken);
    const res = await client.post(`/api/jobs/${EDIT}/settings`, { text, version: view.version });
    expect(res.status).toBe(422);
    const { ok, problems } = res.json();
    expect(ok).toBe(false);
    expect(problems.map((p: { path: string }) => p.path).sort()).toEqual(['destinations[0].pth', 'destinations[0].size', 'threads']);
    expect(await fs.readFile(path.join(root, 'config/edit.json'), 'utf8')).toBe(view.text);
    expect(problems.find((p: { path: string }) => p.path === 'threads').message).toBe('threads: expected a whole number from 1 to 256');
    expect(problems.find((p: { path: string }) => p.path === 'destinations[0].pth').message).toBe('destinations[0].pth: unknown setting (did you mean "path"?)');
    expect(problems.find((p: { path: string }) => p.path === 'destinations[0].size').message).toBe('destinations[0].size: unknown setting');
    // The CLI names the first problem it finds: given each breakage alone, it says what the page says.
    const alone = [
      { ...JSON.parse(view.text), threads: 0 },
      { ...JSON.parse(view.text), destinations: [{ ...JSON.parse(view.text).destinations[0], pth: './x' }] },
    ];
    for (const settings of alone) {
      await fs.writeFile(path.join(root, 'config/broken.json'), json(settings));
      const cli = await runCli(['run', '--config', 'config/broken.json', '--dry-run'], { cwd: root, env: s3Env() });
      expect(cli.code).toBe(2);
      const page = await client.post(`/api/jobs/${EDIT}/settings`, { text: json(settings), version: view.version });
      expect(page.status).toBe(422);
      const [problem] = page.json().problems;
      expect(cli.stderr).toContain(`config/broken.json: ${problem.message}\n`);
    }

    const notJson = await client.post(`/api/jobs/${EDIT}/settings`, { text: '{ "sources": [', version: view.version });
    expect(notJson.status).toBe(422);
    expect(notJson.json().problems).toEqual([{ path: null, message: expect.any(String) }]);
  });

  it('saved over a file that changed since the page read it: 409, the other change kept', async () => {
    const view = await client.getJson(`/api/jobs/${EDIT}/settings`);
    const other = view.text.replace('"e-{date}"', '"other-{date}"');
    await fs.writeFile(path.join(root, 'config/edit.json'), other);
    const res = await client.post(`/api/jobs/${EDIT}/settings`, { text: view.text.replace('"e-{date}"', '"mine-{date}"'), version: view.version });
    expect(res.status).toBe(409);
    expect(res.json().problems[0].message).toMatch(/changed since this page read it/);
    expect(await fs.readFile(path.join(root, 'config/edit.json'), 'utf8')).toBe(other);
  });

  it('a good save is written whole (same mode, no temporary file left) and the CLI uses it', async () => {
    const view = await client.getJson(`/api/jobs/${EDIT}/settings`);
    const settings = JSON.parse(view.text);
    settings.name = 'saved-from-the-page';
    settings.format = 'tar.gz';
    const text = json(settings);
    const file = path.join(root, 'config/edit.json');
    const inodeBefore = (await fs.stat(file)).ino;
    const res = await client.post(`/api/jobs/${EDIT}/settings`, { text, version: view.version });
    expect(res.status).toBe(200);
    // Replaced by a rename (a reader sees the old file or the new one, never half of it), not rewritten in place.
    expect((await fs.stat(file)).ino).not.toBe(inodeBefore);
    expect(res.json()).toEqual({ ok: true, version: sha256(Buffer.from(text)) });
    expect(await fs.readFile(file, 'utf8')).toBe(text);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o640);
    expect(await listDir(path.join(root, 'config'))).toEqual(['broken.json', 'edit.json', 'slow.json', 'stalls-once.json', 'tgz.json', 'zip.json']);
    const run = await runCli(['run', '--config', 'config/edit.json', '--json'], { cwd: root, env: s3Env() });
    expect(run.code, run.stderr).toBe(0);
    expect(await listDir(path.join(root, 'backups-edit'))).toContain('saved-from-the-page.tar.gz');
    // The page's next read is the new version.
    expect((await client.getJson(`/api/jobs/${EDIT}/settings`)).version).toBe(sha256(Buffer.from(text)));
  });
});

describe('the log', () => {
  it('the tail of logs/backup.log, filtered by level', async () => {
    const all = await client.getJson(`/api/jobs/${ZIP}/log`);
    expect(all).toMatchObject({ file: 'logs/backup.log', truncated: false, problem: null });
    const levels = new Set(all.entries.map((e: { level: string }) => e.level));
    // The runs above logged info; the refused and cancelled runs and the failed verify, errors.
    expect(levels.has('info')).toBe(true);
    expect(levels.has('error')).toBe(true);
    expect(all.entries.some((e: any) => e.level === 'info' && /^backup complete/.test(e.message))).toBe(true);
    for (const level of ['info', 'warn', 'error'] as const) {
      const rank = ['debug', 'info', 'warn', 'error'];
      const filtered = await client.getJson(`/api/jobs/${ZIP}/log?level=${level}`);
      const expected = all.entries.filter((e: { level: string }) => rank.indexOf(e.level) >= rank.indexOf(level));
      // Lines logged between the two reads (none are expected: nothing runs now) would only add.
      expect(filtered.entries.slice(0, expected.length)).toEqual(expected);
      expect(filtered.entries.every((e: { level: string }) => rank.indexOf(e.level) >= rank.indexOf(level))).toBe(true);
    }
    const errors = await client.getJson(`/api/jobs/${ZIP}/log?level=error`);
    expect(errors.entries.length).toBeLessThan(all.entries.length);
    expect(errors.entries.some((e: { message: string }) => /LOCKED|already running|running/i.test(e.message))).toBe(true);
  });
});

describe('stopping the dashboard', () => {
  it('Ctrl-C in its terminal (SIGINT to the whole process group) while a run is going: the run is cancelled once, cleans up, and the dashboard exits 0', async () => {
    proxy.setRules([{ match: isUploadPart(2), action: 'stall', afterBodyBytes: MiB, times: Infinity }]);
    const hitsBefore = proxy.hits();
    const run = await client.start(`/api/jobs/${SLOW}/run`);
    await waitFor('the upload to stall', () => proxy.hits() > hitsBefore);
    expect((await client.getJson(`/api/actions/${run.id}`)).action.state).toBe('running');
    // The run is in a process group of its own: the terminal's SIGINT reaches only the dashboard,
    // which cancels it once (a second SIGINT would have made it leave without cleaning up).
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => ui.child.once('close', (code, signal) => resolve({ code, signal })));
    process.kill(-ui.child.pid!, 'SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(ui.stdout()).toMatch(/Stopping: cancelling what the page started\.\.\.\n$/);
    expect(await hasPartial(path.join(root, 'backups-slow'))).toBe(false);
    expect((await listKeys(bucket)).filter((k) => k.startsWith('slow/'))).toEqual([]);
    expect((await listUploads(bucket)).filter((u) => u.startsWith('slow/'))).toEqual([]);
    // Its own record says it was cancelled (after the one refused by the lock and the one cancelled from the page).
    const history = (await fs.readFile(path.join(root, 'logs/history.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(history.filter((r) => r.type === 'end' && r.job.endsWith('config/slow.json')).map((r) => r.outcome)).toEqual(['failed', 'cancelled', 'cancelled']);
  });
});
