/**
 * One run to a local folder, S3 (Ceph), Azure (Azurite) and SFTP (OpenSSH)
 * at once, with one of them failing mid-stream through a TCP proxy that
 * resets its connections: the others complete and verify, the failing one
 * leaves nothing under any name, exit 1 naming it. The built CLI as a
 * subprocess; every copy read back from its server.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDir, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { freshBucket, getObject, listKeys, listUploads, s3Env, s3Server } from '../helpers/s3.js';
import { startAzureFixture, type AzureFixture } from '../helpers/azure-store.js';
import { cutAfter, startFaultProxy, type FaultProxy, type ProxyCut } from '../helpers/fault-proxy.js';
import { startSftpFixture, type SftpFixture } from '../helpers/sftp-store.js';
import { knownHostsFor } from '../helpers/sshd.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let azure: AzureFixture;
let sftp: SftpFixture;
beforeAll(async () => {
  [azure, sftp] = await Promise.all([startAzureFixture(), startSftpFixture()]);
});
afterAll(async () => {
  await azure?.stop();
  await sftp?.stop();
});

type Kind = 'none' | 's3' | 'azure' | 'sftp';

/** A project with 24 MiB of random data and the destinations; `failing` goes through a proxy that resets every upload after 1 MiB. */
async function project(failing: Kind): Promise<{ root: string; bucket: string; prefix: string; nasFolder: string; proxies: FaultProxy[]; cuts: ProxyCut[] }> {
  const root = await tempDir();
  await fs.mkdir(path.join(root, 'data'), { recursive: true });
  await fs.writeFile(path.join(root, 'data', 'random.bin'), randomBytes(24 * MiB));
  await fs.writeFile(path.join(root, 'data', 'note.txt'), 'three copies, two media, one off-site\n');
  const bucket = await freshBucket();
  const prefix = `run-${path.basename(root)}/`;
  const proxies: FaultProxy[] = [];
  const through = async (url: string, isUpload: (method: string, query: URLSearchParams) => boolean): Promise<string> => {
    const u = new URL(url);
    const proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) }, [
      { match: (req) => isUpload(req.method, req.query), action: 'reset', afterBodyBytes: MiB, times: Infinity },
    ]);
    proxies.push(proxy);
    return `${proxy.url}${u.pathname === '/' ? '' : u.pathname}`;
  };
  const s3Endpoint = failing === 's3' ? await through(s3Server().endpoint, (method, query) => method === 'PUT' && query.has('partNumber')) : s3Server().endpoint;
  const azureEndpoint = failing === 'azure' ? await through(azure.azurite.endpoint, (method, query) => method === 'PUT' && query.get('comp') === 'block') : azure.azurite.endpoint;
  // SFTP is not HTTP: a raw proxy that resets every connection once 2 MiB have gone up (the
  // store's clean-up then reconnects through it, as it would after a real network cut).
  const cuts: ProxyCut[] = [];
  let sftpPort = sftp.sshd.port;
  if (failing === 'sftp') {
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: sftp.sshd.port }, [], { raw: true });
    proxies.push(proxy);
    cuts.push(cutAfter(proxy, 2 * MiB, { once: true }));
    sftpPort = proxy.port;
  }
  const nasFolder = path.join(root, 'nas');
  await fs.mkdir(nasFolder);
  const knownHosts = await knownHostsFor(sftp.sshd, sftpPort);
  const settings = {
    sources: ['./data'],
    format: 'tar.gz',
    name: 'three-{date}-{time}',
    destinations: [
      { name: 'here', type: 'local', path: './backups' },
      { name: 'cloud', type: 's3', bucket, prefix, endpoint: s3Endpoint, timeoutSeconds: 5 },
      { name: 'blob', type: 'azure', container: azure.containerName, prefix, account: azure.azurite.accountName, endpoint: azureEndpoint, timeoutSeconds: 5 },
      {
        name: 'nas',
        type: 'sftp',
        host: '127.0.0.1',
        port: sftpPort,
        user: sftp.sshd.user,
        path: nasFolder,
        identityFile: sftp.sshd.privateKeyPath,
        knownHostsFile: knownHosts,
        timeoutSeconds: 5,
      },
    ],
  };
  await fs.mkdir(path.join(root, 'config'));
  await fs.writeFile(path.join(root, 'config', 'settings.json'), JSON.stringify(settings, null, 2));
  return { root, bucket, prefix, nasFolder, proxies, cuts };
}

describe('one run to local + S3 + Azure + SFTP', () => {
  it.each<[Kind, string]>([
    ['none', 'every destination gets the same verified archive'],
    ['s3', 'S3 cut mid-stream: local and Azure complete, no object and no multipart upload left on S3, exit 1'],
    ['azure', 'Azure cut mid-stream: local and S3 complete, nothing committed on Azure, exit 1'],
    ['sftp', 'SFTP cut mid-stream: the others complete, nothing left in the SFTP folder, exit 1'],
  ])('%s failing: %s', async (failing) => {
    const { root, bucket, prefix, nasFolder, proxies, cuts } = await project(failing);
    try {
      const run = await runCli(['run', '--json'], { cwd: root, env: { ...s3Env(), ...azure.keyEnv() } });
      const result = parseJsonResult(run);
      expect(run.code, run.stderr).toBe(failing === 'none' ? 0 : 1);
      const outcomes = Object.fromEntries(result.destinations.map((d: { name: string; ok: boolean }) => [d.name, d.ok]));
      expect(outcomes).toEqual({ here: true, cloud: failing !== 's3', blob: failing !== 'azure', nas: failing !== 'sftp' });
      const name = path.basename(result.archive);
      const local = await fs.readFile(path.join(root, 'backups', name));
      expect(sha256(local)).toBe(result.sha256);

      const s3Keys = (await listKeys(bucket)).filter((k) => k.startsWith(prefix));
      const blobs = await azure.rawNames(prefix);
      if (failing === 's3') {
        expect(s3Keys).toEqual([]);
        expect(await listUploads(bucket)).toEqual([]);
        expect(result.error.message).toMatch(/S3 destination "cloud" .* failed/);
      } else {
        expect(s3Keys.sort()).toEqual([`${prefix}${name}`, `${prefix}${name}.manifest.json`, `${prefix}${name}.sha256`]);
        expect(sha256(await getObject(bucket, `${prefix}${name}`))).toBe(result.sha256);
      }
      if (failing === 'azure') {
        expect(blobs).toEqual([]);
        expect(result.error.message).toMatch(/Azure destination "blob" .* failed/);
      } else {
        expect(blobs).toEqual([`${prefix}${name}`, `${prefix}${name}.manifest.json`, `${prefix}${name}.sha256`]);
        const downloaded = await azure.container.getBlobClient(`${prefix}${name}`).downloadToBuffer();
        expect(sha256(downloaded)).toBe(result.sha256);
      }
      // The SFTP folder: the three files, or nothing at all (not even a hidden partial).
      const nasFiles = (await fs.readdir(nasFolder)).sort();
      if (failing === 'sftp') {
        expect(nasFiles).toEqual([]);
        expect(result.error.message).toMatch(/SFTP destination "nas" .* failed/);
      } else {
        expect(nasFiles).toEqual([name, `${name}.manifest.json`, `${name}.sha256`]);
        expect(sha256(await fs.readFile(path.join(nasFolder, name)))).toBe(result.sha256);
      }
      // The local manifest records how every destination went.
      const manifest = JSON.parse(await fs.readFile(path.join(root, 'backups', `${name}.manifest.json`), 'utf8'));
      expect(Object.fromEntries(manifest.destinations.map((d: { name: string; ok: boolean }) => [d.name, d.ok]))).toEqual(outcomes);
      expect((await listDir(path.join(root, 'backups'))).filter((f) => f.endsWith('.partial'))).toEqual([]);

      // Each surviving copy verifies from its own destination.
      for (const from of ['here', 'cloud', 'blob', 'nas'].filter((n) => outcomes[n])) {
        const verify = await runCli(['verify', '--from', from, name, '--json'], { cwd: root, env: { ...s3Env(), ...azure.keyEnv() } });
        expect(verify.code, `${from}: ${verify.stdout}${verify.stderr}`).toBe(0);
      }
    } finally {
      for (const cut of cuts) cut.stop();
      for (const proxy of proxies) await proxy.close();
    }
  });
});
