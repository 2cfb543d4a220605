/**
 * `backup run` uploading to the suite's real S3 server (Ceph radosgw on
 * 127.0.0.1), as a user runs it: credentials and endpoint from the
 * environment, the archive downloaded again and compared. Network faults
 * are injected by a TCP proxy between the CLI and the server.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { describeTree, extractWithSystemTool, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli, signalWhen } from '../helpers/cli.js';
import { ListObjectVersionsCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { freshBucket, getObject, headObject, listKeys, listUploads, s3Env, s3Server, testClient } from '../helpers/s3.js';
import { startFaultProxy, type FaultProxy, type FaultRequest } from '../helpers/fault-proxy.js';
import { itAsRoot } from '../helpers/root.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const MiB = 1024 * 1024;

const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
});

async function proxy(): Promise<FaultProxy> {
  const url = new URL(s3Server().endpoint);
  const p = await startFaultProxy({ host: url.hostname, port: Number(url.port) });
  proxies.push(p);
  return p;
}

/** A source of incompressible data, so the archive needs several 8 MiB parts. */
async function bigSource(root: string, mib = 20): Promise<string> {
  const src = path.join(root, 'data');
  await fs.mkdir(src);
  await fs.writeFile(path.join(src, 'random.bin'), randomBytes(mib * MiB));
  await fs.writeFile(path.join(src, 'note.txt'), 'hello\n');
  return src;
}

const isUploadPart = (n: number) => (req: FaultRequest) => req.method === 'PUT' && req.query.get('partNumber') === String(n);

describe.each(['zip', 'tar.gz', 'tar.bz2'] as const)('upload round trip: %s', (format) => {
  it('uploads archive, .sha256 and manifest beside the local copy, in one pass, identical bytes', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const bucket = await freshBucket();
    const run = await runCli(
      ['run', '-s', 'data', '-d', 'out', '-f', format, '-n', 'nightly', '--s3-bucket', bucket, '--s3-prefix', 'host1/', '--json'],
      { cwd: root, env: s3Env() },
    );
    expect(run.code, run.stderr).toBe(0);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: true, archive: `out/nightly.${format}`, s3: { bucket, key: `host1/nightly.${format}` }, error: null });

    expect(await listKeys(bucket)).toEqual([`host1/nightly.${format}`, `host1/nightly.${format}.manifest.json`, `host1/nightly.${format}.sha256`]);
    expect(await listUploads(bucket)).toEqual([]);
    const local = await fs.readFile(path.join(root, 'out', `nightly.${format}`));
    const remote = await getObject(bucket, `host1/nightly.${format}`);
    expect(sha256(remote)).toBe(sha256(local));
    expect(sha256(remote)).toBe(result.sha256);
    expect((await getObject(bucket, `host1/nightly.${format}.sha256`)).toString()).toBe(`${result.sha256}  nightly.${format}\n`);
    const head = await headObject(bucket, `host1/nightly.${format}`);
    expect(head.Metadata?.sha256).toBe(result.sha256);
    const manifest = JSON.parse((await getObject(bucket, `host1/nightly.${format}.manifest.json`)).toString());
    expect(manifest.destinations).toEqual([
      { name: 'local', kind: 'local', location: path.join(root, 'out', `nightly.${format}`), ok: true },
      { name: 's3', kind: 's3', location: `s3://${bucket}/host1/nightly.${format}`, ok: true },
    ]);

    // What is on S3 restores with the standard tool.
    const downloaded = path.join(root, `downloaded.${format}`);
    await fs.writeFile(downloaded, remote);
    const out = path.join(root, 'restored');
    await fs.mkdir(out);
    extractWithSystemTool(downloaded, out);
    expect(await describeTree(path.join(out, 'data'))).toEqual(await describeTree(src));
  });
});

describe('S3 upload', () => {
  it('--no-local streams straight to S3 in several parts with the storage class; nothing local', async () => {
    const root = await tempDir();
    await bigSource(root);
    const bucket = await freshBucket();
    const run = await runCli(
      ['run', '-s', 'data', '-d', 'out', '-f', 'tar.gz', '-n', 'x', '--s3-bucket', bucket, '--s3-storage-class', 'standard_ia', '--no-local', '--json'],
      { cwd: root, env: s3Env() },
    );
    expect(run.code, run.stderr).toBe(0);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: true, archive: null, s3: { bucket, key: 'x.tar.gz' } });
    expect(await listDir(root)).not.toContain('out');
    const head = await headObject(bucket, 'x.tar.gz');
    expect(head.StorageClass).toBe('STANDARD_IA');
    expect(head.Metadata?.sha256).toBe(result.sha256);
    expect(head.ContentLength).toBe(result.bytes);
    expect(result.bytes).toBeGreaterThan(16 * MiB); // over two 8 MiB parts
    expect(sha256(await getObject(bucket, 'x.tar.gz'))).toBe(result.sha256);
    // Sidecars stay STANDARD (readable without a restore).
    expect((await headObject(bucket, 'x.tar.gz.sha256')).StorageClass ?? 'STANDARD').toBe('STANDARD');
    expect(await listUploads(bucket)).toEqual([]);
  });

  it('on a versioned bucket no hidden .partial versions or delete markers are left', async () => {
    const root = await tempDir();
    await bigSource(root, 10);
    const bucket = await freshBucket();
    const client = testClient();
    await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'v', '--s3-bucket', bucket, '--json'], { cwd: root, env: s3Env() });
    expect(run.code, run.stderr).toBe(0);
    const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    expect((versions.Versions ?? []).map((v) => v.Key).sort()).toEqual(['v.tar.gz', 'v.tar.gz.manifest.json', 'v.tar.gz.sha256']);
    expect(versions.DeleteMarkers ?? []).toEqual([]);
  });

  it('a name taken on S3 (not locally) moves both copies to the next free name', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const first = await runCli(['run', '-s', 'data', '-n', 'n', '--s3-bucket', bucket, '--no-local', '--json'], { cwd: root, env: s3Env() });
    expect(first.code, first.stderr).toBe(0);
    const second = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'n', '--s3-bucket', bucket, '--json'], { cwd: root, env: s3Env() });
    expect(second.code, second.stderr).toBe(0);
    expect(parseJsonResult(second)).toMatchObject({ archive: 'out/n-1.tar.gz', s3: { key: 'n-1.tar.gz' } });
  });

  it('a connection reset once in the middle of a part is retried; the object is identical', async () => {
    const root = await tempDir();
    await bigSource(root);
    const bucket = await freshBucket();
    const p = await proxy();
    p.setRules([{ match: isUploadPart(2), action: 'reset', afterBodyBytes: 2 * MiB, times: 1 }]);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', bucket, '--json'], {
      cwd: root,
      env: s3Env(p.url),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(p.hits()).toBe(1);
    const result = parseJsonResult(run);
    expect(sha256(await getObject(bucket, 'x.tar.gz'))).toBe(result.sha256);
    expect(sha256(await fs.readFile(path.join(root, 'out/x.tar.gz')))).toBe(result.sha256);
    expect(await listUploads(bucket)).toEqual([]);
  });

  it('a reset on every attempt: exit 1, clear error, local copy published, no parts left on S3', async () => {
    const root = await tempDir();
    await bigSource(root);
    const bucket = await freshBucket();
    const p = await proxy();
    p.setRules([{ match: isUploadPart(2), action: 'reset', afterBodyBytes: MiB, times: Infinity }]);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', bucket, '--json'], {
      cwd: root,
      env: s3Env(p.url),
    });
    expect(run.code, run.stderr).toBe(1);
    expect(p.hits()).toBeGreaterThanOrEqual(3);
    const result = parseJsonResult(run);
    expect(result.ok).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.archive).toBe('out/x.tar.gz');
    expect(result.s3).toBeNull();
    await expectLocalSafe(root, run, /^S3_/);
    expect(result.error.message).toMatch(/^S3 destination s3:\/\/\S+ failed: .*(reset|ECONNRESET)/i);
    expect(await listUploads(bucket)).toEqual([]);
    expect(await listKeys(bucket)).toEqual([]);
    // The local copy is whole, and its manifest says which destination failed.
    expect(sha256(await fs.readFile(path.join(root, 'out/x.tar.gz')))).toBe(result.sha256);
    const manifest = JSON.parse(await fs.readFile(path.join(root, 'out/x.tar.gz.manifest.json'), 'utf8'));
    expect(manifest.destinations).toEqual([
      { name: 'local', kind: 'local', location: path.join(root, 'out/x.tar.gz'), ok: true },
      { name: 's3', kind: 's3', location: `s3://${bucket}/`, ok: false, error: expect.stringMatching(/reset|ECONNRESET/i) },
    ]);
  });

  it('lost answers to CompleteMultipartUpload: HeadObject finds the object whole, the run succeeds', async () => {
    const root = await tempDir();
    await bigSource(root);
    const bucket = await freshBucket();
    const p = await proxy();
    // The server gets the whole request and starts answering (it completed the upload); every answer is lost.
    const isComplete = (req: FaultRequest) => req.method === 'POST' && req.query.has('uploadId');
    p.setRules([{ match: isComplete, action: 'drop-response', afterBodyBytes: Infinity, times: Infinity }]);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', bucket, '--json'], {
      cwd: root,
      env: s3Env(p.url),
    });
    expect(p.hits()).toBeGreaterThanOrEqual(3); // every attempt of the completion lost its answer
    expect(run.code, run.stderr).toBe(0);
    expect(await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8')).toMatch(/object is there with all \d+ bytes: treating the upload as complete/);
    const result = parseJsonResult(run);
    expect(sha256(await getObject(bucket, 'x.tar.gz'))).toBe(result.sha256);
    expect(await listKeys(bucket)).toEqual(['x.tar.gz', 'x.tar.gz.manifest.json', 'x.tar.gz.sha256']);
    expect(await listUploads(bucket)).toEqual([]);
  });

  itAsRoot('the local disk fills up while S3 gets everything: exit 1, the S3 copy is published and said to be safe', async () => {
    const root = await tempDir();
    await bigSource(root, 6);
    const bucket = await freshBucket();
    const small = path.join(root, 'small');
    await fs.mkdir(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const run = await runCli(['run', '-s', 'data', '-d', 'small', '-n', 'x', '--s3-bucket', bucket, '--json'], { cwd: root, env: s3Env() });
      expect(run.code, run.stderr).toBe(1);
      const result = parseJsonResult(run);
      expect(result).toMatchObject({ ok: false, archive: null, s3: { bucket, key: 'x.tar.gz' } });
      expect(result.error.code).toBe('DISK_FULL');
      expect(result.error.message).toMatch(/no space left.*The copy on S3 is complete: s3:\/\/.*\/x\.tar\.gz/);
      expect(await listDir(small)).toEqual([]);
      expect(sha256(await getObject(bucket, 'x.tar.gz'))).toBe(result.sha256);
      const manifest = JSON.parse((await getObject(bucket, 'x.tar.gz.manifest.json')).toString());
      expect(manifest.destinations.map((d: { kind: string; ok: boolean }) => [d.kind, d.ok])).toEqual([
        ['local', false],
        ['s3', true],
      ]);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('a stalled connection times out, is retried and the upload completes', async () => {
    const root = await tempDir();
    await bigSource(root);
    const bucket = await freshBucket();
    await fs.mkdir(path.join(root, 'config'));
    await fs.writeFile(
      path.join(root, 'config/settings.json'),
      JSON.stringify({ sources: ['data'], destination: 'out', name: 'x', s3: { bucket, timeoutSeconds: 2 } }),
    );
    const p = await proxy();
    p.setRules([{ match: isUploadPart(2), action: 'stall', afterBodyBytes: MiB, times: 1 }]);
    const run = await runCli(['run', '--json'], { cwd: root, env: s3Env(p.url) });
    expect(run.code, run.stderr).toBe(0);
    expect(p.hits()).toBe(1);
    expect(sha256(await getObject(bucket, 'x.tar.gz'))).toBe(parseJsonResult(run).sha256);
  });

  it('Ctrl-C in the middle of an upload: exit 130, no parts or objects on S3, no local partial', async () => {
    const root = await tempDir();
    await bigSource(root, 40);
    const bucket = await freshBucket();
    const p = await proxy();
    // Part 2 hangs, so the run is surely mid-upload when the signal comes.
    p.setRules([{ match: isUploadPart(2), action: 'stall', afterBodyBytes: MiB, times: Infinity }]);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', bucket, '--json'], {
      cwd: root,
      env: s3Env(p.url),
      onSpawn: signalWhen(() => p.hits() > 0, 'SIGINT'),
    });
    expect(run.code, run.stderr).toBe(130);
    expect(parseJsonResult(run)).toMatchObject({ ok: false, exitCode: 130, error: { code: 'CANCELLED' } });
    expect(await listUploads(bucket)).toEqual([]);
    expect(await listKeys(bucket)).toEqual([]);
    expect(await listDir(path.join(root, 'out'))).toEqual([]);
  });
});

/**
 * An S3 that cannot be used must never cost the local copy: the local
 * archive is published with its sidecars (`sha256sum -c` passes), the run
 * exits 1, and the result names the failed destination.
 */
async function expectLocalSafe(root: string, run: Awaited<ReturnType<typeof runCli>>, code: string | RegExp): Promise<Record<string, any>> {
  expect(run.code, run.stderr).toBe(1);
  const result = parseJsonResult(run);
  expect(result).toMatchObject({ ok: false, exitCode: 1, archive: 'out/x.tar.gz', s3: null });
  expect(result.error.code).toMatch(code);
  expect(result.error.message).toMatch(/^S3 destination s3:\/\/\S+ failed: .*The local copy is complete and verified: .*out\/x\.tar\.gz\.$/);
  expect(result.destinations).toEqual([
    { name: 'local', type: 'local', ok: true, location: path.join(root, 'out/x.tar.gz'), bytes: result.bytes, error: null },
    { name: 's3', type: 's3', ok: false, location: expect.stringMatching(/^s3:\/\//), bytes: 0, error: { code: expect.stringMatching(code), message: expect.any(String) } },
  ]);
  expect((await listDir(path.join(root, 'out'))).filter((f) => !f.startsWith('.backup-'))).toEqual(['x.tar.gz', 'x.tar.gz.manifest.json', 'x.tar.gz.sha256']);
  execFileSync('sha256sum', ['-c', 'x.tar.gz.sha256'], { cwd: path.join(root, 'out') });
  const manifest = JSON.parse(await fs.readFile(path.join(root, 'out/x.tar.gz.manifest.json'), 'utf8'));
  expect(manifest.destinations.map((d: { kind: string; ok: boolean }) => [d.kind, d.ok]).sort()).toEqual([
    ['local', true],
    ['s3', false],
  ]);
  return result;
}

describe('S3 errors against the real server: the local copy is still made', () => {
  it('a wrong secret key: exit 1, says the secret is wrong, the local backup is complete', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', bucket, '--json'], {
      cwd: root,
      env: { ...s3Env(), AWS_SECRET_ACCESS_KEY: 'wrong-secret' },
    });
    const result = await expectLocalSafe(root, run, 'S3_BAD_CREDENTIALS');
    expect(result.error.message).toMatch(/secret access key is wrong/);
    expect(run.stderr + JSON.stringify(result)).not.toContain('wrong-secret');
    expect(await listKeys(bucket)).toEqual([]);
  });

  it('a bucket that does not exist: exit 1 naming it, the local backup is complete', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', 'no-such-bucket-here', '--json'], { cwd: root, env: s3Env() });
    const result = await expectLocalSafe(root, run, 'S3_NO_SUCH_BUCKET');
    expect(result.error.message).toContain('Bucket "no-such-bucket-here" does not exist');
  });

  it('an endpoint where nothing listens (127.0.0.1:1): exit 1, says it cannot connect, the local backup is complete', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', 'b', '--json'], { cwd: root, env: s3Env('http://127.0.0.1:1') });
    const result = await expectLocalSafe(root, run, 'S3_UNREACHABLE');
    expect(result.error.message).toMatch(/connection refused/);
  });

  it('no credentials at all: exit 1, says where credentials come from, the local backup is complete', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const env = { ...s3Env(), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', HOME: root, AWS_EC2_METADATA_DISABLED: 'true' };
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', 'b', '--json'], { cwd: root, env });
    const result = await expectLocalSafe(root, run, 'S3_NO_CREDENTIALS');
    expect(result.error.message).toMatch(/AWS_ACCESS_KEY_ID/);
  });

  it('the human output names the failed destination and where the backup is', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', 'no-such-bucket-here'], { cwd: root, env: s3Env() });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^Backup failed: S3 destination s3:\/\/no-such-bucket-here\/ failed: .*does not exist/m);
    expect(run.stdout).toMatch(/^ {2}local: complete .*out\/x\.tar\.gz$/m);
    expect(run.stdout).toMatch(/^ {2}s3: FAILED s3:\/\/no-such-bucket-here\/$/m);
  });

  it('--no-local and no such bucket: exit 1 naming it, nothing written anywhere', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', 'no-such-bucket-here', '--no-local', '--json'], { cwd: root, env: s3Env() });
    expect(run.code).toBe(1);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: false, archive: null, s3: null, error: { code: 'S3_NO_SUCH_BUCKET' } });
    expect(result.destinations).toEqual([
      { name: 's3', type: 's3', ok: false, location: 's3://no-such-bucket-here/', bytes: 0, error: { code: 'S3_NO_SUCH_BUCKET', message: expect.any(String) } },
    ]);
    expect(await listDir(root)).not.toContain('out');
  });

  it('--no-local and the connection cut mid-upload on every attempt: exit 1, no parts, no objects, nothing local', async () => {
    const root = await tempDir();
    await bigSource(root);
    const bucket = await freshBucket();
    const p = await proxy();
    p.setRules([{ match: isUploadPart(2), action: 'reset', afterBodyBytes: MiB, times: Infinity }]);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--s3-bucket', bucket, '--no-local', '--json'], { cwd: root, env: s3Env(p.url) });
    expect(run.code, run.stderr).toBe(1);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({ ok: false, archive: null, s3: null });
    expect(result.destinations).toMatchObject([{ name: 's3', type: 's3', ok: false, error: { message: expect.stringMatching(/reset|ECONNRESET/i) } }]);
    expect(await listUploads(bucket)).toEqual([]);
    expect(await listKeys(bucket)).toEqual([]);
    expect(await listDir(root)).not.toContain('out');
  });

  it('Ctrl-C while S3 does not answer at all: exit 130 at once, not after the retries', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    // A server that accepts connections and never says a word.
    let connected!: () => void;
    const asked = new Promise<void>((resolve) => (connected = resolve));
    const silent = net.createServer(() => connected());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      // Without the signal reaching the SDK this run would take minutes (5 attempts x 30 s idle
      // timeout) and outlive the test's timeout; with it, it ends as cancelled. The signal
      // comes once the run has connected: it is waiting for an answer.
      let signalled = false;
      const run = await runCli(['run', '-s', 'data', '-d', 'out', '--s3-bucket', 'b', '--json'], {
        cwd: root,
        env: s3Env(`http://127.0.0.1:${port}`),
        onSpawn: (child) => {
          void asked.then(() => (signalled = child.kill('SIGINT')));
        },
      });
      expect(signalled, run.stderr).toBe(true);
      expect(run.code, run.stderr).toBe(130);
      expect(parseJsonResult(run).error.code).toBe('CANCELLED');
    } finally {
      silent.close();
    }
  });

  it('credentials in an endpoint URL never reach the output or the log', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const p = await proxy();
    await p.close();
    const endpoint = p.url.replace('http://', 'http://admin:hunter2@');
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--s3-bucket', 'b', '--s3-endpoint', endpoint, '--json'], { cwd: root, env: s3Env() });
    expect(run.code).toBe(1);
    const log = await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8');
    const manifests = (await listDir(path.join(root, 'out'))).filter((f) => f.endsWith('.manifest.json'));
    expect(manifests).toHaveLength(1);
    const manifest = await fs.readFile(path.join(root, 'out', manifests[0]!), 'utf8');
    expect(run.stdout + run.stderr + log + manifest).not.toContain('hunter2');
    expect(run.stdout).toContain('admin:[redacted]@');
  });

});
