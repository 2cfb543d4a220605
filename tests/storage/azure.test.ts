/**
 * The Azure Blob store against a real Azurite on 127.0.0.1 (started and
 * stopped here): the write life cycle (staged blocks invisible until the
 * If-None-Match commit), bounded memory, never replacing a name, abort,
 * the read side, credentials (key, SAS, connection string), and faults
 * (wrong key, missing container, a cut connection).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { redactText } from '../../src/log/redact.js';
import { blockSizeFor, MAX_BLOCKS, MIN_BLOCK_SIZE, type AzureTarget } from '../../src/storage/azure.js';
import { azureDestinationSchema } from '../../src/config/destinations/azure-schema.js';
import { describeAzureError, type AzureErrorContext } from '../../src/storage/azure-errors.js';
import type { ArchiveWrite, Store, WriteOptions } from '../../src/storage/store.js';
import { randomSource } from '../helpers/fixtures.js';
import { cutAfter, startFaultProxy } from '../helpers/fault-proxy.js';
import { startStallProxy } from '../helpers/azure-stall-proxy.js';
import { waitFor } from '../helpers/wait-for.js';
import { startAzureFixture, type AzureFixture } from '../helpers/azure-store.js';
import { storeContract } from './store-contract.js';

const MiB = 1024 * 1024;
let fx: AzureFixture;

beforeAll(async () => {
  fx = await startAzureFixture();
});
afterAll(async () => {
  await fx?.stop();
});

/** The conformance suite. Each store's target, to see its location with the SDK directly. */
const targets = new WeakMap<Store, AzureTarget>();
function opened(target: AzureTarget, env?: Record<string, string | undefined>): Store {
  const store = fx.open(target, env);
  targets.set(store, target);
  return store;
}

storeContract('Azure Blob (Azurite)', {
  create: async () => opened(fx.target()),
  sibling: async (of) => opened(targets.get(of)!),
  // Committed blobs under the prefix. Uncommitted blocks are not names: invisible to every
  // reader, undeletable, dropped by Azure after 7 days (an aborted write leaves only those).
  rawNames: async (of) => {
    const prefix = targets.get(of)!.prefix;
    return (await fx.rawNames(prefix)).map((n) => n.slice(prefix.length));
  },
  plant: async (of, name, content) => {
    await fx.container.getBlockBlobClient(targets.get(of)!.prefix + name).upload(content, content.length);
  },
  wrongCredentials: async () => opened(fx.target(), { AZURE_STORAGE_KEY: randomBytes(64).toString('base64') }),
  missingLocation: async () => opened(fx.target({ container: 'missing-container' })),
  async throughCutProxy(cutAfterBytes) {
    const port = Number(new URL(fx.azurite.endpoint).port);
    // HTTP mode, so that a cut can be kept up: every request after the cut is reset, until restore().
    const proxy = await startFaultProxy({ host: '127.0.0.1', port });
    const cut = cutAfter(proxy, cutAfterBytes);
    const store = opened(fx.target({ endpoint: `${proxy.url}/devstoreaccount1`, timeoutSeconds: 10 }));
    return {
      store,
      restore: cut.restore,
      close: async () => {
        cut.stop();
        await proxy.close();
      },
    };
  },
});

function options(extra: Partial<WriteOptions> = {}): WriteOptions {
  return { logger: silentLogger, signal: new AbortController().signal, ...extra };
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function rejection(p: Promise<unknown>): Promise<BackupError> {
  try {
    await p;
  } catch (error) {
    return error as BackupError;
  }
  throw new Error('expected a rejection');
}

async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `data` as archive `name` up to (not including) publish. */
async function stage(store: Store, name: string, data: Buffer, extra: Partial<WriteOptions> = {}): Promise<ArchiveWrite> {
  const write = store.beginWrite(options(extra));
  expect(await write.reserve(name)).toBe(true);
  await pipeline(Readable.from([data]), await write.open());
  await write.verify({ sha256: sha256(data), bytes: data.length });
  await write.writeSidecars([
    { name: `${name}.sha256`, content: `${sha256(data)}  ${name}\n` },
    { name: `${name}.manifest.json`, content: '{}' },
  ]);
  return write;
}

describe('block size', () => {
  it.each([
    [undefined, 0, MIN_BLOCK_SIZE],
    [1024, 0, MIN_BLOCK_SIZE],
    [100 * 1024 * MiB, 0, MIN_BLOCK_SIZE], // 100 GiB / 45,000 = 2.3 MiB: the minimum
    [1024 * 1024 * MiB, 0, 24 * MiB], // 1 TiB: 23.3 MiB, rounded up to whole MiB
    [undefined, 10_000, 2 * MIN_BLOCK_SIZE],
    [undefined, 49_999, 16 * MIN_BLOCK_SIZE],
    [200 * 1024 * 1024 * MiB, 0, 4000 * MiB], // beyond Azure's limit per block: capped
  ])('expected %s bytes, block %i: %i bytes', (expected, index, size) => {
    expect(blockSizeFor(index, expected)).toBe(size);
  });

  it('an archive 10% over its estimate still fits in 50,000 blocks', () => {
    const expected = 3 * 1024 * 1024 * MiB;
    let total = 0;
    for (let i = 0; i < MAX_BLOCKS; i++) total += blockSizeFor(i, expected);
    expect(total).toBeGreaterThan(expected * 1.1);
  });
});

describe('settings schema', () => {
  it('accepts the README example, defaults the prefix and normalises the tier', () => {
    const parsed = azureDestinationSchema.parse({ name: 'blob', type: 'azure', account: 'mystorage', container: 'backups', tier: 'cool' });
    expect(parsed).toEqual({ name: 'blob', type: 'azure', account: 'mystorage', container: 'backups', tier: 'Cool', prefix: '' });
    // The settings are the target, less name and type (what open-store.ts passes on).
    const { name: _name, type: _type, ...rest } = parsed;
    const target: AzureTarget = rest;
    expect(target.container).toBe('backups');
  });

  it.each([
    [{ container: 'Backups' }, 'container', 'lowercase'],
    [{ container: 'a/b' }, 'container', 'no slashes'],
    [{ account: 'https://x.blob.core.windows.net' }, 'account', 'storage account name'],
    [{ tier: 'Glacier' }, 'tier', 'Hot, Cool, Cold, Archive'],
    [{ key: 'abc' }, '', 'Unrecognized key'],
    [{ keyEnv: 'not a name' }, 'keyEnv', 'NAME of an environment variable'],
  ])('refuses %j with a message at %s', (extra, path, words) => {
    const result = azureDestinationSchema.safeParse({ name: 'blob', type: 'azure', container: 'backups', ...extra });
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path.join('.')).toBe(path);
    expect(issue.message).toContain(words);
  });
});

describe('error messages (pure)', () => {
  const ctx: AzureErrorContext = {
    action: 'stage a block of',
    where: 'azure://acct/backups/host1/a.zip',
    container: 'backups',
    account: 'acct',
    endpoint: 'https://acct.blob.core.windows.net',
    credentials: 'account "acct" with the account key in AZURE_STORAGE_KEY',
    write: true,
  };
  const rest = (statusCode: number | undefined, code: string, message = code) => Object.assign(new Error(message), { name: 'RestError', statusCode, code });

  it.each([
    [rest(403, 'AuthenticationFailed', 'Server failed to authenticate the request.\nRequestId:1'), 'STORE_ACCESS_DENIED', 1, /refused to stage a block of .*AZURE_STORAGE_KEY.*Storage Blob Data Contributor/],
    [rest(403, 'AuthorizationPermissionMismatch'), 'STORE_ACCESS_DENIED', 1, /HTTP 403 AuthorizationPermissionMismatch/],
    [rest(404, 'ContainerNotFound'), 'DESTINATION_NOT_FOUND', 2, /Container "backups" does not exist .*az storage container create --name backups --account-name acct/],
    [rest(undefined, 'ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'), 'DESTINATION_FAILED', 1, /Cannot reach Azure Blob at https:\/\/acct.* connection refused/],
    [rest(undefined, 'ENOTFOUND', 'getaddrinfo ENOTFOUND acct.blob.core.windows.net'), 'DESTINATION_FAILED', 1, /host name not found \(check the account name/],
    [rest(503, 'ServerBusy'), 'DESTINATION_FAILED', 1, /kept failing \(HTTP 503 ServerBusy\)/],
    [rest(409, 'BlobArchived'), 'DESTINATION_FAILED', 1, /Archive tier .*rehydrated/],
    [Object.assign(new Error('x'), { name: 'CredentialUnavailableError' }), 'USAGE', 2, /No usable Azure credentials .*az login/],
    [rest(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.\nRequestId:2'), 'DESTINATION_FAILED', 1, /InvalidHeaderValue \(HTTP 400\): The value for one of the HTTP headers is not in the correct format\.$/],
  ])('%s -> %s', (error, code, exit, message) => {
    const described = describeAzureError(error, ctx);
    expect(described.code).toBe(code);
    expect(described.exitCode).toBe(exit);
    expect(described.message).toMatch(message);
  });

  it('an abort is a cancellation only when our signal was aborted; our timeout says so', () => {
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    const controller = new AbortController();
    controller.abort();
    expect(describeAzureError(abort, { ...ctx, signal: controller.signal }).code).toBe('CANCELLED');
    expect(describeAzureError(abort, { ...ctx, timedOutAfterMs: 60_000 }).message).toMatch(/did not answer .* for 60 s/);
    expect(describeAzureError(abort, { ...ctx, write: false }).code).toBe('STORE_FAILED');
  });
});

describe('Azure store: writing an archive', () => {
  it('streams 64 MiB in blocks with bounded buffering, invisible until the commit, then readable with its SHA-256 and tier', async () => {
    const target = fx.target({ tier: 'Cool' });
    const store = fx.open(target);
    await store.check({ dryRun: false });
    const size = 64 * MiB;
    const source = randomSource(size);
    let acknowledged = 0;
    let mostAhead = 0;
    const metadata = { 'backup-tool': 'backup-automation/1.2.3', host: 'héte' };
    const write = store.beginWrite(options({ expectedBytes: size, metadata, onProgress: (n) => (acknowledged = n) }));
    expect(await write.reserve('big.tar.gz')).toBe(true);
    source.stream.on('data', () => (mostAhead = Math.max(mostAhead, source.produced() - acknowledged)));
    await pipeline(source.stream, await write.open());
    const digest = source.digest();
    expect(acknowledged).toBe(size);
    // Backpressure: never more than (4 in flight + 1 filling) blocks, plus the streams' buffers, ahead of Azure.
    expect(mostAhead).toBeLessThanOrEqual(5 * MIN_BLOCK_SIZE + 4 * MiB);
    expect(mostAhead).toBeLessThan(size);

    await write.verify({ sha256: digest, bytes: size });
    await write.writeSidecars([{ name: 'big.tar.gz.sha256', content: `${digest}  big.tar.gz\n` }]);
    // Before the commit: the sidecar is there, the archive is not (not listed, not readable).
    expect(await fx.rawNames(target.prefix)).toEqual([`${target.prefix}big.tar.gz.sha256`]);
    expect((await store.list()).map((f) => f.name)).toEqual(['big.tar.gz.sha256']);
    expect(await store.stat('big.tar.gz')).toBeUndefined();

    const committed = await write.publish({ sha256: digest, bytes: size });
    expect(committed).toEqual({ fileName: 'big.tar.gz', location: `azure://devstoreaccount1/${fx.containerName}/${target.prefix}big.tar.gz` });
    await write.close();
    expect((await store.list()).map((f) => [f.name, f.size]).sort()).toEqual([
      ['big.tar.gz', size],
      ['big.tar.gz.sha256', Buffer.byteLength(`${digest}  big.tar.gz\n`)],
    ]);
    const props = await fx.container.getBlockBlobClient(`${target.prefix}big.tar.gz`).getProperties();
    // Metadata names are C# identifiers at Azure, values ASCII.
    expect(props.metadata).toEqual({ sha256: digest, backup_tool: 'backup-automation/1.2.3', host: 'h%C3%A9te' });
    expect(props.accessTier).toBe('Cool');
    expect(props.contentType).toBe('application/gzip');
    const back = createHash('sha256');
    for await (const chunk of await store.openRead('big.tar.gz')) back.update(chunk as Buffer);
    expect(back.digest('hex')).toBe(digest);
    // The sidecar stays in the default tier (readable even when the archive is archived).
    expect((await fx.container.getBlockBlobClient(`${target.prefix}big.tar.gz.sha256`).getProperties()).accessTier).not.toBe('Cool');
  });

  it('an empty archive is published too', async () => {
    const store = fx.open(fx.target());
    const write = await stage(store, 'empty.zip', Buffer.alloc(0));
    await write.publish({ sha256: sha256(''), bytes: 0 });
    expect(await store.stat('empty.zip')).toMatchObject({ size: 0 });
  });

  it('reserve() is false when the archive or a sidecar exists, or another write holds the name', async () => {
    const target = fx.target();
    const store = fx.open(target);
    await fx.container.getBlockBlobClient(`${target.prefix}a.zip`).upload('x', 1);
    await fx.container.getBlockBlobClient(`${target.prefix}b.zip.manifest.json`).upload('x', 1);
    expect(await store.beginWrite(options()).reserve('a.zip')).toBe(false);
    expect(await store.beginWrite(options()).reserve('b.zip')).toBe(false);

    const first = store.beginWrite(options());
    expect(await first.reserve('c.zip')).toBe(true);
    const sibling = fx.open(target);
    expect(await sibling.beginWrite(options()).reserve('c.zip')).toBe(false);
    // Nothing visible was created by reserving.
    expect(await fx.rawNames(target.prefix)).toEqual([`${target.prefix}a.zip`, `${target.prefix}b.zip.manifest.json`]);
  });

  it('publish never replaces a blob that appeared meanwhile, and the failed write leaves nothing', async () => {
    const target = fx.target();
    const store = fx.open(target);
    const data = randomBytes(3 * MiB);
    const write = await stage(store, 'race.tar.gz', data);
    await fx.container.getBlockBlobClient(`${target.prefix}race.tar.gz`).upload('theirs', 6);
    const error = await rejection(write.publish({ sha256: sha256(data), bytes: data.length }));
    expect(error).toBeInstanceOf(BackupError);
    expect(error.code).toBe('NAME_TAKEN');
    await write.abort();
    expect(await fx.rawNames(target.prefix)).toEqual([`${target.prefix}race.tar.gz`]);
    expect((await (await store.openRead('race.tar.gz')).toArray()).join('')).toBe('theirs');
  });

  it('a sidecar that appeared meanwhile is not replaced: NAME_TAKEN, and only our own sidecars are removed', async () => {
    const target = fx.target();
    const store = fx.open(target);
    const write = store.beginWrite(options());
    expect(await write.reserve('s.zip')).toBe(true);
    await pipeline(Readable.from([Buffer.from('data')]), await write.open());
    await write.verify({ sha256: sha256('data'), bytes: 4 });
    await fx.container.getBlockBlobClient(`${target.prefix}s.zip.manifest.json`).upload('theirs', 6);
    const error = await rejection(
      write.writeSidecars([
        { name: 's.zip.sha256', content: 'x' },
        { name: 's.zip.manifest.json', content: '{}' },
      ]),
    );
    expect(error.code).toBe('NAME_TAKEN');
    await write.abort();
    expect(await fx.rawNames(target.prefix)).toEqual([`${target.prefix}s.zip.manifest.json`]);
  });

  it('Ctrl-C mid-write (the signal aborted) cancels, and abort() leaves nothing visible', async () => {
    const target = fx.target({ minBlockSize: MiB });
    const store = fx.open(target);
    const controller = new AbortController();
    const write = store.beginWrite(options({ signal: controller.signal, onProgress: (n) => n >= 3 * MiB && controller.abort() }));
    expect(await write.reserve('cancel.tar.gz')).toBe(true);
    const source = randomSource(64 * MiB);
    const error = await rejection(pipeline(source.stream, await write.open()));
    expect(error.code).toBe('CANCELLED');
    expect(source.produced()).toBeLessThan(64 * MiB);
    await write.abort();
    await write.abort(); // twice is fine
    await write.close();
    expect(await fx.rawNames(target.prefix)).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it('abort() after the sidecars removes them; after publish it removes nothing', async () => {
    const target = fx.target();
    const store = fx.open(target);
    const aborted = await stage(store, 'x.zip', Buffer.from('one'));
    await aborted.abort();
    expect(await fx.rawNames(target.prefix)).toEqual([]);

    const kept = await stage(store, 'y.zip', Buffer.from('two'));
    await kept.publish({ sha256: sha256('two'), bytes: 3 });
    await kept.abort();
    await kept.close();
    expect(await fx.rawNames(target.prefix)).toEqual(['y.zip', 'y.zip.manifest.json', 'y.zip.sha256'].map((n) => target.prefix + n));
  });

  it('verify() fails when the bytes written are not the bytes announced', async () => {
    const store = fx.open(fx.target());
    const write = store.beginWrite(options());
    expect(await write.reserve('v.zip')).toBe(true);
    await pipeline(Readable.from([Buffer.from('12345')]), await write.open());
    const error = await rejection(write.verify({ sha256: sha256('1234'), bytes: 4 }));
    expect(error.code).toBe('VERIFY_FAILED');
    await write.abort();
  });

  it('another writer committing the name meanwhile: our blocks are discarded, verify and publish fail, theirs stays whole', async () => {
    const target = fx.target();
    const store = fx.open(target);
    const write = store.beginWrite(options());
    expect(await write.reserve('same.zip')).toBe(true);
    await pipeline(Readable.from([Buffer.from('ours')]), await write.open());
    // A program that ignores our claim (az, another tool) stages and commits its own blocks.
    const theirs = fx.container.getBlockBlobClient(`${target.prefix}same.zip`);
    const id = Buffer.from('bkp-ffffffffffff-000000').toString('base64');
    await theirs.stageBlock(id, 'theirs', 6);
    await theirs.commitBlockList([id]);
    expect((await rejection(write.verify({ sha256: sha256('ours'), bytes: 4 }))).code).toBe('VERIFY_FAILED');
    expect((await rejection(write.publish({ sha256: sha256('ours'), bytes: 4 }))).code).toBe('NAME_TAKEN');
    await write.abort();
    expect((await readStream(await store.openRead('same.zip'))).toString()).toBe('theirs');
  });
});

describe('Azure store: reading', () => {
  it('lists only committed blobs directly under the prefix, stats, reads text, ranges and removes', async () => {
    const target = fx.target();
    const store = fx.open(target);
    await fx.container.getBlockBlobClient(`${target.prefix}one.zip`).upload('0123456789', 10);
    await fx.container.getBlockBlobClient(`${target.prefix}sub/deeper.zip`).upload('x', 1);
    await fx.container.getBlockBlobClient(`${target.prefix}staged.zip`).stageBlock(Buffer.from('bkp-000000000000-000000').toString('base64'), 'x', 1);
    expect((await store.list()).map((f) => f.name)).toEqual(['one.zip']);
    expect(await store.stat('one.zip')).toMatchObject({ name: 'one.zip', size: 10 });
    expect(await store.stat('missing.zip')).toBeUndefined();

    const ranges = await store.openRanges('one.zip');
    expect(ranges.size).toBe(10);
    expect((await ranges.read(2, 3)).toString()).toBe('234');
    expect((await ranges.read(9, 0)).length).toBe(0);
    expect((await readStream(await store.openRead('one.zip', undefined, ranges.version))).toString()).toBe('0123456789');
    // Replaced since: the pinned version refuses it.
    await fx.container.getBlockBlobClient(`${target.prefix}one.zip`).upload('replaced', 8);
    expect((await rejection(ranges.read(0, 2))).code).toBe('STORE_FAILED');
    expect((await rejection(store.openRead('one.zip', undefined, ranges.version))).message).toContain('replaced');
    await ranges.close();

    expect((await rejection(store.openRead('missing.zip'))).code).toBe('NOT_FOUND');
    expect(await store.readText('missing.zip.sha256', 1000)).toBeUndefined();
    await store.writeText('one.zip.verified.json', '{"a":1}');
    await store.writeText('one.zip.verified.json', '{"a":2}');
    expect(await store.readText('one.zip.verified.json', 1000)).toBe('{"a":2}');
    expect((await rejection(store.readText('one.zip', 3))).code).toBe('SIDECAR_TOO_LARGE');

    await store.remove('one.zip');
    await store.remove('one.zip');
    expect((await store.list()).map((f) => f.name)).toEqual(['one.zip.verified.json']);
    expect(store.label).toBe(`azure://devstoreaccount1/${fx.containerName}/${target.prefix}`);
  });
});

describe('Azure store: credentials and faults', () => {
  it('a SAS token with rwdl does the whole cycle; without d, check() says delete is refused', async () => {
    const target = fx.target();
    const store = fx.open(target, { AZURE_STORAGE_SAS_TOKEN: fx.sas('rwdl') });
    await store.check({ dryRun: false });
    const write = await stage(store, 'sas.zip', Buffer.from('via sas'));
    await write.publish({ sha256: sha256('via sas'), bytes: 7 });
    expect((await store.list()).map((f) => f.name)).toContain('sas.zip');
    await store.remove('sas.zip');

    const sas = fx.sas('rwl');
    const weak = fx.open(fx.target(), { AZURE_STORAGE_SAS_TOKEN: sas });
    const error = await rejection(weak.check({ dryRun: false }));
    expect(error.code).toBe('STORE_ACCESS_DENIED');
    expect(error.message).toContain('delete');
    expect(error.message).toContain('AZURE_STORAGE_SAS_TOKEN');
    expect(redactText(error.message)).toBe(error.message);
    expect(error.message).not.toContain(new URLSearchParams(sas).get('sig')!);
  });

  it('a connection string works (the account comes from it)', async () => {
    const target = fx.target({ account: undefined, endpoint: undefined });
    const store = fx.open(target, { AZURE_STORAGE_CONNECTION_STRING: fx.azurite.connectionString });
    await store.check({ dryRun: false });
    expect(store.label).toBe(`azure://devstoreaccount1/${fx.containerName}/${target.prefix}`);
    expect(redactText(`x ${fx.azurite.connectionString} y`)).not.toContain(fx.azurite.accountKey);
  });

  it('a wrong key: check() fails with STORE_ACCESS_DENIED naming the variable, never the key', async () => {
    const wrongKey = randomBytes(64).toString('base64');
    const store = fx.open(fx.target(), { AZURE_STORAGE_KEY: wrongKey });
    const error = await rejection(store.check({ dryRun: true }));
    expect(error).toBeInstanceOf(BackupError);
    expect(error.code).toBe('STORE_ACCESS_DENIED');
    expect(error.message).toContain('AZURE_STORAGE_KEY');
    expect(error.message).not.toContain(wrongKey);
    expect(redactText(`key ${wrongKey}`)).not.toContain(wrongKey);
  });

  it('a key that is not base64 (a pasted connection string, a typo): a usage error (exit 2) naming the variable before any request, never the key', async () => {
    for (const bad of ['AccountName=acct;AccountKey=abc', 'not a key', `${fx.azurite.accountKey.slice(0, -1)}`]) {
      const error = await rejection((async () => fx.open(fx.target(), { AZURE_STORAGE_KEY: bad }).check({ dryRun: true }))());
      expect(error.exitCode, bad).toBe(2);
      expect(error.message).toContain('AZURE_STORAGE_KEY does not hold an Azure account key');
      expect(error.message).not.toContain(bad);
    }
  });

  it('a missing container: a usage error (exit 2) naming it and how to create it', async () => {
    const store = fx.open(fx.target({ container: 'no-such-container' }));
    const error = await rejection(store.check({ dryRun: true }));
    expect(error.exitCode).toBe(2);
    expect(error.code).toBe('DESTINATION_NOT_FOUND');
    expect(error.message).toContain('"no-such-container"');
    expect(error.message).toContain('az storage container create');
  });

  it('no account and no connection string: a usage error naming both', async () => {
    const store = fx.open(fx.target({ account: undefined }), {});
    const error = await rejection(store.check({ dryRun: true }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('"account"');
    expect(error.message).toContain('AZURE_STORAGE_CONNECTION_STRING');
  });

  it('a connection cut mid-upload (and the server gone): DestinationError in bounded time, nothing committed', async () => {
    const port = Number(new URL(fx.azurite.endpoint).port);
    const proxy = await startFaultProxy({ host: '127.0.0.1', port }, [], { raw: true });
    try {
      const target = fx.target({ endpoint: `${proxy.url}/devstoreaccount1`, minBlockSize: MiB, maxTries: 2, timeoutSeconds: 5 });
      const store = fx.open(target);
      const write = store.beginWrite(options());
      expect(await write.reserve('cut.tar.gz')).toBe(true);
      const source = randomSource(64 * MiB);
      let cut = false;
      source.stream.on('data', () => {
        if (!cut && proxy.clientBytes() > 5 * MiB) {
          cut = true;
          proxy.resetAll();
          void proxy.close();
        }
      });
      const error = await rejection(pipeline(source.stream, await write.open()));
      expect(cut).toBe(true);
      expect(error.name).toBe('DestinationError');
      expect(error.code).toBe('DESTINATION_FAILED');
      expect(error.message).toMatch(/Cannot reach Azure Blob|did not answer|reset/);
      await write.abort();
      expect(await fx.rawNames(target.prefix)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a block upload that stalls (black hole) is cancelled after timeoutSeconds and staged again; stalling every time fails, not hangs', async () => {
    const port = Number(new URL(fx.azurite.endpoint).port);
    const proxy = await startFaultProxy({ host: '127.0.0.1', port }, []);
    const isDataBlock = (r: { method: string; query: URLSearchParams; headers: Record<string, string> }) =>
      r.method === 'PUT' && r.query.get('comp') === 'block' && Number(r.headers['content-length']) > 1000;
    try {
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (m: string) => void warnings.push(m) };
      const target = fx.target({ endpoint: `${proxy.url}/devstoreaccount1`, minBlockSize: MiB, maxTries: 2, timeoutSeconds: 2 });
      const store = fx.open(target);
      // Once: the stalled block is staged again and the archive is complete.
      proxy.setRules([{ match: isDataBlock, action: 'stall', afterBodyBytes: 1000, times: 1 }]);
      const data = randomBytes(3 * MiB + 5);
      const write = await stage(store, 'once.zip', data, { logger });
      await write.publish({ sha256: sha256(data), bytes: data.length });
      expect(proxy.hits()).toBe(1);
      expect(warnings.join('\n')).toContain('trying again');
      expect(createHash('sha256').update(await readStream(await store.openRead('once.zip'))).digest('hex')).toBe(sha256(data));

      // Always: a clear failure after maxTries x timeout, nothing published.
      proxy.setRules([{ match: isDataBlock, action: 'stall', afterBodyBytes: 1000, times: Infinity }]);
      const failing = store.beginWrite(options());
      expect(await failing.reserve('never.zip')).toBe(true);
      const error = await rejection(pipeline(Readable.from([randomBytes(2 * MiB)]), await failing.open()));
      expect(error.code).toBe('DESTINATION_FAILED');
      expect(error.message).toContain('did not answer');
      await failing.abort();
      expect((await store.list()).map((f) => f.name).sort()).toEqual(['once.zip', 'once.zip.manifest.json', 'once.zip.sha256']);
    } finally {
      await proxy.close();
    }
  });

  it('a commit whose answer is lost (retried, then 409) is recognised as ours: published, not NAME_TAKEN', async () => {
    const port = Number(new URL(fx.azurite.endpoint).port);
    const proxy = await startFaultProxy({ host: '127.0.0.1', port });
    try {
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (m: string) => void warnings.push(m) };
      const store = fx.open(fx.target({ endpoint: `${proxy.url}/devstoreaccount1` }));
      const data = randomBytes(MiB + 3);
      const write = await stage(store, 'lost.zip', data, { logger });
      proxy.setRules([{ match: (r) => r.method === 'PUT' && r.query.get('comp') === 'blocklist', action: 'drop-response' }]);
      const committed = await write.publish({ sha256: sha256(data), bytes: data.length });
      expect(proxy.hits()).toBe(1);
      expect(committed.fileName).toBe('lost.zip');
      expect(warnings.join('\n')).toContain('the blob there is ours');
      await write.close();
      expect((await store.list()).map((f) => f.name).sort()).toEqual(['lost.zip', 'lost.zip.manifest.json', 'lost.zip.sha256']);
    } finally {
      await proxy.close();
    }
  });

  it('Ctrl-C while the commit is in flight (it landed, the answer did not come): abort() removes our archive, then the sidecars', async () => {
    const port = Number(new URL(fx.azurite.endpoint).port);
    const proxy = await startFaultProxy({ host: '127.0.0.1', port });
    try {
      const target = fx.target({ endpoint: `${proxy.url}/devstoreaccount1` });
      const store = fx.open(target);
      const controller = new AbortController();
      const data = randomBytes(MiB);
      const write = await stage(store, 'late.zip', data, { signal: controller.signal });
      // The whole commit reaches Azurite; its answer is held back.
      proxy.setRules([{ match: (r) => r.method === 'PUT' && r.query.get('comp') === 'blocklist', action: 'stall', afterBodyBytes: 1e9 }]);
      const publishing = write.publish({ sha256: sha256(data), bytes: data.length });
      await waitFor('the commit to land', async () => ((await fx.rawNames(target.prefix)).includes(`${target.prefix}late.zip`) ? true : undefined));
      controller.abort();
      expect((await rejection(publishing)).code).toBe('CANCELLED');
      await write.abort();
      expect(await fx.rawNames(target.prefix)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a download that stalls mid-body fails after timeoutSeconds, while a reader that pauses is not cut off', async () => {
    const target = fx.target();
    const data = randomBytes(8 * MiB);
    await fx.container.getBlockBlobClient(`${target.prefix}slow.zip`).upload(data, data.length);
    const port = Number(new URL(fx.azurite.endpoint).port);
    const proxy = await startStallProxy({ host: '127.0.0.1', port });
    try {
      const store = fx.open({ ...target, endpoint: `${proxy.url}/devstoreaccount1`, timeoutSeconds: 1 });
      // A reader that stops for 2.5 s (longer than the timeout) with the network fine: no failure.
      const paused = await store.openRead('slow.zip');
      const first = await new Promise<Buffer>((resolve) => paused.once('data', resolve));
      paused.pause();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      paused.resume();
      expect(first.length + (await readStream(paused)).length).toBe(data.length);

      const stalled = await store.openRead('slow.zip');
      proxy.stallAnswers(MiB);
      const error = await rejection(readStream(stalled));
      expect(error).toBeInstanceOf(BackupError);
      expect(error.code).toBe('STORE_FAILED');
      expect(error.message).toContain('No data from');
    } finally {
      await proxy.close();
    }
  });

  it('close() leaves no socket or timer keeping the process alive', async () => {
    const keeping = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    const before = keeping();
    const store = fx.open(fx.target());
    await store.check({ dryRun: false });
    const write = await stage(store, 'c.zip', randomBytes(MiB));
    await write.publish({ sha256: 'x', bytes: MiB });
    await write.close();
    await readStream(await store.openRead('c.zip'));
    await store.close();
    await store.close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(keeping()).toBeLessThanOrEqual(before);
  });

  it('DefaultAzureCredential (account only, no secret in the environment): a usage error naming what was tried, at once', async () => {
    // No sign-in on this machine: the credential chain fails (no Azure CLI, no managed identity).
    const store = fx.open(fx.target({ endpoint: 'https://127.0.0.1:1/devstoreaccount1' }), {});
    const error = await rejection(store.check({ dryRun: true }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('DefaultAzureCredential');
    expect(error.message).toContain('AZURE_STORAGE_KEY');
    expect(error.message).toContain('az login');
    // Over plain http (Azurite) a token is never sent: said so.
    const http = fx.open(fx.target(), {});
    const insecure = await rejection(http.check({ dryRun: true }));
    expect(insecure.exitCode).toBe(2);
    expect(insecure.message).toContain('needs an https endpoint');
  });
});
