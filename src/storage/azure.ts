/**
 * Azure Blob Storage (block blobs). The only module that imports
 * @azure/storage-blob and @azure/identity.
 *
 * Writing one archive (facts checked against Azurite in
 * tests/storage/azure-blob.test.ts):
 * - The stream is cut into blocks that are staged (Put Block) as it arrives,
 *   several in flight; the writer waits when all are busy, so memory is
 *   about block size x (blocks in flight + 1) whatever the archive's size.
 *   The block size comes from WriteOptions.expectedBytes (50,000 blocks per
 *   blob) and doubles every 10,000 blocks, so an underestimate never runs out.
 * - Staged blocks are uncommitted: invisible under the blob's name (not
 *   listed, not readable) until Put Block List. So the "temporary name" is
 *   the final name itself, and publish is one commitBlockList with
 *   If-None-Match: * (never replaces a blob: 409), the SHA-256 as metadata
 *   and the access tier. There is no partial object to delete.
 * - Uncommitted blocks cannot be deleted: an aborted write leaves them to
 *   Azure, which drops them after 7 days (they are never visible or listed).
 * - Uncommitted blocks belong to the NAME, not to a writer: block ids carry
 *   a random per-write tag, so one run's commit never includes another's
 *   blocks, and a commit by one discards the other's (which then fails).
 * - Sidecars are their own blobs, written with If-None-Match: * before the
 *   commit and deleted again if the archive is not published.
 *
 * Every request takes the caller's AbortSignal plus our own timeout (the
 * SDK's tryTimeoutInMs only asks the server to give up; a black-holed
 * connection would wait forever), and the SDK retries network errors and
 * 5xx a few times with short delays.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  type BlockBlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { BackupError, DestinationError, UsageError } from '../errors.js';
import { registerSecretValue } from '../log/redact.js';
import { AZURE_ENV_DEFAULTS, azureKeyProblem, type AzureTier } from '../config/destinations/azure-schema.js';
import { describeAzureError, type AzureErrorContext } from './azure-errors.js';
import type { StoreContext } from './open-store.js';
import {
  checkSent,
  SIDECAR_SUFFIXES,
  type ArchiveWrite,
  type CheckOptions,
  type CommitInfo,
  type Committed,
  type RangeReader,
  type SidecarFile,
  type Store,
  type StoredFile,
  type WriteOptions,
} from './store.js';

export interface AzureTarget {
  container: string;
  /** Blob name prefix, used as given (`host1/` for a folder-like prefix). */
  prefix: string;
  /** Storage account name; needed unless a connection string is set (else AZURE_STORAGE_ACCOUNT). */
  account?: string;
  /** Blob service URL (Azurite: `http://127.0.0.1:PORT/devstoreaccount1`); default https://ACCOUNT.blob.core.windows.net. */
  endpoint?: string;
  /** Access tier set on the archive at commit. */
  tier?: AzureTier;
  /** Names of the environment variables holding the secrets (defaults: AZURE_ENV_DEFAULTS). */
  connectionStringEnv?: string;
  keyEnv?: string;
  sasEnv?: string;
  /** A request with no answer, or a block upload with no progress, this long fails (default 60). */
  timeoutSeconds?: number;
  /** Tries per request, the first included (default 3). */
  maxTries?: number;
  /** Blocks staged at once (default 4). */
  blocksInFlight?: number;
  /** Smallest block size in bytes (default 4 MiB; tests use less). */
  minBlockSize?: number;
}

export type { StoreContext };

const MiB = 1024 * 1024;
/**
 * 4 MiB blocks, 4 in flight: about 20 MiB per Azure destination (measured
 * in the conformance suite's 96 MiB round trip: ~25 MiB of RSS over a
 * bare stream; 8 MiB blocks took ~45 MiB). Larger archives get larger
 * blocks from their estimate.
 */
export const MIN_BLOCK_SIZE = 4 * MiB;
/** Put Block's limit (service version 2019-12-12 and later). */
export const MAX_BLOCK_SIZE = 4000 * MiB;
/** Blocks per blob Azure allows, and the blocks we plan for (room for a 10% larger archive). */
export const MAX_BLOCKS = 50_000;
const PLANNED_BLOCKS = 45_000;
/** The block size doubles after every this many blocks (an estimate that was too low still fits). */
const DOUBLE_EVERY = 10_000;
const DEFAULT_BLOCKS_IN_FLIGHT = 4;
const DEFAULT_TIMEOUT_SECONDS = 60;
const DEFAULT_MAX_TRIES = 3;

/**
 * Size of block `index` (0-based): the planned size from the estimate,
 * doubled every DOUBLE_EVERY blocks. Pure.
 */
export function blockSizeFor(index: number, expectedBytes: number | undefined, minBlockSize = MIN_BLOCK_SIZE): number {
  const planned = expectedBytes && expectedBytes > 0 ? Math.ceil(expectedBytes / PLANNED_BLOCKS / MiB) * MiB : 0;
  const base = Math.min(MAX_BLOCK_SIZE, Math.max(minBlockSize, planned));
  return Math.min(MAX_BLOCK_SIZE, base * 2 ** Math.floor(index / DOUBLE_EVERY));
}

function contentTypeFor(fileName: string): string {
  if (fileName.endsWith('.zip')) return 'application/zip';
  if (fileName.endsWith('.tar.gz')) return 'application/gzip';
  if (fileName.endsWith('.tar.bz2')) return 'application/x-bzip2';
  if (fileName.endsWith('.json')) return 'application/json';
  return 'text/plain; charset=utf-8';
}

/**
 * Azure metadata names must be C# identifiers (`backup-tool` is refused with
 * 400 InvalidMetadata): other characters become `_`. Values go in HTTP
 * headers: anything outside printable ASCII is percent-encoded.
 */
export function azureMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    let name = key.replace(/[^A-Za-z0-9_]/g, '_');
    if (!/^[A-Za-z_]/.test(name)) name = `_${name}`;
    out[name] = /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
  }
  return out;
}

/** Block ids: the same length for every block of a blob (Azure requires it); `tag` is 12 hex digits. */
function blockId(tag: string, index: number | 'claim0'): string {
  const n = typeof index === 'number' ? String(index).padStart(6, '0') : index;
  return Buffer.from(`bkp-${tag}-${n}`).toString('base64');
}

function tagOf(id: string): string | undefined {
  return /^bkp-([0-9a-f]{12})-/.exec(Buffer.from(id, 'base64').toString('latin1'))?.[1];
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number } | undefined)?.statusCode;
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

/** How the client authenticates, resolved from settings and the environment (no I/O). */
interface Access {
  account: string;
  /** The blob service URL, for messages. */
  endpoint: string;
  /** Which credentials, by source: never a value. */
  credentials: string;
  make(options: StoragePipelineOptions): Promise<BlobServiceClient>;
}

function accountFromConnectionString(cs: string): { account?: string; endpoint?: string } {
  const parts = new Map<string, string>();
  for (const part of cs.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const account = parts.get('accountname');
  const endpoint = parts.get('blobendpoint') ?? (account ? `https://${account}.blob.${parts.get('endpointsuffix') ?? 'core.windows.net'}` : undefined);
  return { account, endpoint };
}

/**
 * Credentials, first found wins: a connection string; account + account
 * key; account + SAS token; account + DefaultAzureCredential. Every secret
 * read is registered for redaction.
 */
export function resolveAzureAccess(target: AzureTarget, env: Record<string, string | undefined>): Access {
  const csEnv = target.connectionStringEnv ?? AZURE_ENV_DEFAULTS.connectionStringEnv;
  const keyEnv = target.keyEnv ?? AZURE_ENV_DEFAULTS.keyEnv;
  const sasEnv = target.sasEnv ?? AZURE_ENV_DEFAULTS.sasEnv;
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const cs = value(csEnv);
  if (cs) {
    registerSecretValue(cs);
    const parsed = accountFromConnectionString(cs);
    for (const part of cs.split(';')) {
      const m = /^\s*(AccountKey|SharedAccessSignature)=(.+)$/i.exec(part);
      if (m) registerSecretValue(m[2]);
    }
    // The connection string is complete: its endpoint is the one used ("endpoint" is for the other ways).
    const endpoint = parsed.endpoint ?? '(from the connection string)';
    return {
      account: parsed.account ?? target.account ?? '(from the connection string)',
      endpoint,
      credentials: `the connection string in ${csEnv}`,
      make: async (options) => BlobServiceClient.fromConnectionString(cs, options),
    };
  }
  const account = target.account ?? value(AZURE_ENV_DEFAULTS.accountEnv);
  if (!account) {
    throw new UsageError(
      `The Azure destination needs the storage account's name: set "account" in settings.json (or ${AZURE_ENV_DEFAULTS.accountEnv}), or put a connection string in ${csEnv}.`,
    );
  }
  const endpoint = (target.endpoint ?? `https://${account}.blob.core.windows.net`).replace(/\/+$/, '');
  const key = value(keyEnv);
  if (key) {
    registerSecretValue(key);
    const problem = azureKeyProblem(key);
    if (problem) throw new UsageError(`${keyEnv} does not hold an Azure account key: ${problem}. Fix it in the environment or .env.`);
    return {
      account,
      endpoint,
      credentials: `account "${account}" with the account key in ${keyEnv}`,
      make: async (options) => new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key), options),
    };
  }
  const sas = value(sasEnv)?.replace(/^\?/, '');
  if (sas) {
    registerSecretValue(sas);
    for (const part of sas.split('&')) if (part.startsWith('sig=')) registerSecretValue(part.slice(4));
    return {
      account,
      endpoint,
      credentials: `account "${account}" with the SAS token in ${sasEnv}`,
      make: async (options) => new BlobServiceClient(`${endpoint}?${sas}`, new AnonymousCredential(), options),
    };
  }
  return {
    account,
    endpoint,
    credentials: `account "${account}" with DefaultAzureCredential (none of ${csEnv}, ${keyEnv}, ${sasEnv} is set)`,
    make: async (options) => {
      // Loaded only when used: @azure/identity (and MSAL) are large.
      const { DefaultAzureCredential } = await import('@azure/identity');
      return new BlobServiceClient(endpoint, new DefaultAzureCredential(), options);
    },
  };
}

class Timeout extends Error {}

/** Runs `run` with `outer` (Ctrl-C) plus a timeout that `touch()` restarts (progress). */
async function bounded<T>(timeoutMs: number, outer: AbortSignal | undefined, run: (signal: AbortSignal, touch: () => void) => Promise<T>): Promise<T> {
  const timer = new AbortController();
  const signal = outer ? AbortSignal.any([outer, timer.signal]) : timer.signal;
  let handle: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(handle);
    handle = setTimeout(() => timer.abort(new Timeout()), timeoutMs);
  };
  touch();
  try {
    return await run(signal, touch);
  } catch (error) {
    if (timer.signal.aborted && !outer?.aborted) throw Object.assign(error instanceof Error ? error : new Error(String(error)), { timedOutAfterMs: timeoutMs });
    throw error;
  } finally {
    clearTimeout(handle);
  }
}

export function openAzureStore(target: AzureTarget, ctx: StoreContext): Store {
  return new AzureStore(target, ctx);
}

class AzureStore implements Store {
  readonly kind = 'azure' as const;
  readonly name: string;
  readonly label: string;
  readonly target: AzureTarget;
  readonly timeoutMs: number;
  private readonly access: Access | undefined;
  private readonly accessError: unknown;
  private client: Promise<ContainerClient> | undefined;
  private closed = false;
  /** Writes not yet closed, stopped by close(). */
  readonly writes = new Set<AzureArchiveWrite>();

  constructor(target: AzureTarget, ctx: StoreContext) {
    this.target = target;
    this.name = ctx.name;
    this.timeoutMs = (target.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    try {
      this.access = resolveAzureAccess(target, ctx.env);
    } catch (error) {
      this.accessError = error;
    }
    this.label = `azure://${this.access?.account ?? target.account ?? '?'}/${target.container}/${target.prefix}`;
  }

  get account(): string {
    return this.access?.account ?? this.target.account ?? '?';
  }

  container(): Promise<ContainerClient> {
    if (this.closed) return Promise.reject(new Error('AzureStore used after close()'));
    if (!this.access) return Promise.reject(this.accessError);
    const access = this.access;
    this.client ??= access
      .make({
        retryOptions: {
          maxTries: this.target.maxTries ?? DEFAULT_MAX_TRIES,
          retryDelayInMs: 500,
          maxRetryDelayInMs: 4000,
          // No tryTimeoutInMs: it is only the server's `timeout` parameter, which also counts
          // the time a slow link takes to send a block (Azure allows minutes per MiB). Our
          // own timeout (bounded) is on progress instead.
        },
        userAgentOptions: { userAgentPrefix: 'backup-automation' },
      })
      .then((service) => service.getContainerClient(this.target.container));
    // A failed construction (identity import) is not cached.
    this.client.catch(() => (this.client = undefined));
    return this.client;
  }

  async blob(name: string): Promise<BlockBlobClient> {
    return (await this.container()).getBlockBlobClient(this.target.prefix + name);
  }

  locationOf(name: string): string {
    return `azure://${this.account}/${this.target.container}/${this.target.prefix}${name}`;
  }

  errorContext(action: string, where: string, write: boolean, signal?: AbortSignal): AzureErrorContext {
    return {
      action,
      where,
      write,
      signal,
      container: this.target.container,
      account: this.account,
      endpoint: this.access?.endpoint ?? this.target.endpoint ?? '?',
      credentials: this.access?.credentials ?? '(none resolved)',
    };
  }

  fail(error: unknown, action: string, name: string | undefined, write: boolean, signal?: AbortSignal): BackupError {
    if (error === this.accessError && error instanceof BackupError) return error;
    const where = name === undefined ? `container "${this.target.container}"` : this.locationOf(name);
    const ctx = this.errorContext(action, where, write, signal);
    ctx.timedOutAfterMs = (error as { timedOutAfterMs?: number } | undefined)?.timedOutAfterMs;
    return describeAzureError(error, ctx);
  }

  /** One request, bounded by our timeout and cancelled by `signal`. Errors are the SDK's (plus timedOutAfterMs). */
  call<T>(signal: AbortSignal | undefined, run: (signal: AbortSignal, touch: () => void) => Promise<T>): Promise<T> {
    return bounded(this.timeoutMs, signal, run);
  }

  /**
   * List Blobs (container exists, credentials work, may list), then a write
   * probe: one 1-byte block staged on a random probe name under the prefix
   * and never committed (invisible to every listing and read: no probe blob
   * ever appears), then a delete and a read of that name, which answer
   * 2xx/404 (allowed) or 403 (not allowed): abort and prune need delete,
   * reserve and verify need read. (Azurite's delete removes the staged
   * block; where Azure answers 404 instead, it drops the block after 7
   * days.) A dry run stops after the listing: it writes nothing.
   */
  async check(options: CheckOptions): Promise<void> {
    const { signal } = options;
    let container: ContainerClient;
    try {
      container = await this.container();
      await this.call(signal, (s) => container.listBlobsFlat({ prefix: this.target.prefix, abortSignal: s }).byPage({ maxPageSize: 1 }).next());
    } catch (error) {
      throw this.fail(error, 'list the blobs of', undefined, false, signal);
    }
    if (options.dryRun) return;
    const probeName = `.backup-probe-${randomBytes(6).toString('hex')}`;
    const probe = container.getBlockBlobClient(this.target.prefix + probeName);
    try {
      await this.call(signal, (s) => probe.stageBlock(blockId('000000000000', 0), Buffer.from('p'), 1, { abortSignal: s }));
    } catch (error) {
      throw this.fail(error, 'write (stage a block of)', probeName, true, signal);
    }
    for (const [action, run] of [
      ['delete', (s: AbortSignal) => probe.delete({ abortSignal: s })],
      ['read the properties of', (s: AbortSignal) => probe.getProperties({ abortSignal: s })],
    ] as const) {
      try {
        await this.call(signal, run);
      } catch (error) {
        if (statusOf(error) === 404) continue;
        throw this.fail(error, action, probeName, true, signal);
      }
    }
  }

  beginWrite(options: WriteOptions): ArchiveWrite {
    const write = new AzureArchiveWrite(this, options);
    this.writes.add(write);
    return write;
  }

  /** Committed blobs directly under the prefix (uncommitted blocks are never listed). */
  async list(signal?: AbortSignal): Promise<StoredFile[]> {
    const files: StoredFile[] = [];
    const prefix = this.target.prefix;
    let token: string | undefined;
    try {
      const container = await this.container();
      do {
        const page = await this.call(signal, (s) =>
          container.listBlobsFlat({ prefix, abortSignal: s }).byPage({ continuationToken: token, maxPageSize: 5000 }).next(),
        );
        if (page.done) break;
        for (const item of page.value.segment.blobItems) {
          const name = item.name.slice(prefix.length);
          if (!item.name.startsWith(prefix) || name === '' || name.includes('/')) continue;
          files.push({ name, size: item.properties.contentLength ?? 0, modified: item.properties.lastModified });
        }
        token = page.value.continuationToken || undefined;
      } while (token);
    } catch (error) {
      throw this.fail(error, 'list the blobs of', undefined, false, signal);
    }
    return files;
  }

  async stat(name: string, signal?: AbortSignal): Promise<StoredFile | undefined> {
    try {
      const blob = await this.blob(name);
      const props = await this.call(signal, (s) => blob.getProperties({ abortSignal: s }));
      return { name, size: props.contentLength ?? 0, modified: props.lastModified ?? new Date(0) };
    } catch (error) {
      if (statusOf(error) === 404 && codeOf(error) !== 'ContainerNotFound') return undefined;
      throw this.fail(error, 'read the properties of', name, false, signal);
    }
  }

  /**
   * One GET, straight into the reader. With `version` (the ETag from
   * openRanges) it fails (412) rather than read a blob replaced since. The
   * answer's headers must come within the timeout; then the body may pause
   * as long as the reader does not read (its buffer full), but a body that
   * the reader waits on and that brings no byte for the timeout (a stalled
   * connection) fails, instead of waiting forever. A broken body is resumed
   * by the SDK from where it stopped (same ETag), up to 3 times.
   */
  async openRead(name: string, signal?: AbortSignal, version?: string): Promise<Readable> {
    const giveUp = new AbortController();
    const combined = signal ? AbortSignal.any([signal, giveUp.signal]) : giveUp.signal;
    let lastData = Date.now();
    let answer;
    const handle = setTimeout(() => giveUp.abort(new Timeout()), this.timeoutMs);
    try {
      const blob = await this.blob(name);
      answer = await blob.download(0, undefined, {
        abortSignal: combined,
        conditions: version ? { ifMatch: version } : undefined,
        maxRetryRequests: 3,
        onProgress: () => (lastData = Date.now()),
      });
      if (!answer.readableStreamBody) throw new BackupError(`GET ${this.locationOf(name)} returned no stream.`, { code: 'STORE_FAILED' });
    } catch (error) {
      if (giveUp.signal.aborted && !signal?.aborted) Object.assign(error as Error, { timedOutAfterMs: this.timeoutMs });
      throw this.readFailure(error, name, signal, version);
    } finally {
      clearTimeout(handle);
    }
    const body = answer.readableStreamBody as Readable;
    const watch = setInterval(() => {
      const waiting = body.readableLength < body.readableHighWaterMark;
      if (!waiting) lastData = Date.now();
      else if (Date.now() - lastData > this.timeoutMs) {
        clearInterval(watch);
        body.destroy(
          new BackupError(`No data from ${this.locationOf(name)} for ${Math.round(this.timeoutMs / 1000)} s (a stalled connection?); check the network, or raise "timeoutSeconds".`, {
            code: 'STORE_FAILED',
          }),
        );
        giveUp.abort(new Timeout());
      }
    }, Math.min(1000, this.timeoutMs / 4));
    watch.unref();
    body.once('close', () => clearInterval(watch));
    return body;
  }

  private readFailure(error: unknown, name: string, signal: AbortSignal | undefined, version?: string): BackupError {
    if (error instanceof BackupError) return error;
    if (statusOf(error) === 404 && codeOf(error) !== 'ContainerNotFound') {
      return new BackupError(`${this.locationOf(name)} does not exist.`, { code: 'NOT_FOUND', cause: error });
    }
    if (version && statusOf(error) === 412) {
      return new BackupError(`${this.locationOf(name)} was replaced while it was being read; run the command again.`, { code: 'STORE_FAILED', cause: error });
    }
    return this.fail(error, 'read', name, false, signal);
  }

  async openRanges(name: string, signal?: AbortSignal): Promise<RangeReader> {
    let blob: BlockBlobClient;
    let size: number;
    let etag: string | undefined;
    try {
      blob = await this.blob(name);
      const props = await this.call(signal, (s) => blob.getProperties({ abortSignal: s }));
      size = props.contentLength ?? 0;
      etag = props.etag;
    } catch (error) {
      throw this.readFailure(error, name, signal);
    }
    return {
      size,
      version: etag,
      read: async (start, length) => {
        if (length === 0) return Buffer.alloc(0);
        try {
          return await this.call(signal, async (s, touch) => {
            const answer = await blob.download(start, length, { abortSignal: s, conditions: etag ? { ifMatch: etag } : undefined, onProgress: touch });
            return readAll(answer.readableStreamBody as Readable | undefined, length + 1);
          });
        } catch (error) {
          throw this.readFailure(error, name, signal, etag);
        }
      },
      close: async () => undefined,
    };
  }

  async readText(name: string, maxBytes: number, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const blob = await this.blob(name);
      return await this.call(signal, async (s) => {
        const answer = await blob.download(0, undefined, { abortSignal: s });
        const body = answer.readableStreamBody as Readable | undefined;
        if ((answer.contentLength ?? 0) > maxBytes) {
          body?.destroy();
          throw new BackupError(`${this.locationOf(name)} is ${answer.contentLength} bytes, more than a sidecar file can be (${maxBytes}).`, {
            code: 'SIDECAR_TOO_LARGE',
          });
        }
        return (await readAll(body, maxBytes)).toString('utf8');
      });
    } catch (error) {
      if (statusOf(error) === 404 && codeOf(error) !== 'ContainerNotFound') return undefined;
      throw this.readFailure(error, name, signal);
    }
  }

  /** Put Blob replaces the whole blob in one request: atomic for readers. */
  async writeText(name: string, content: string, signal?: AbortSignal): Promise<void> {
    const body = Buffer.from(content, 'utf8');
    try {
      const blob = await this.blob(name);
      await this.call(signal, (s) => blob.upload(body, body.length, { abortSignal: s, blobHTTPHeaders: { blobContentType: contentTypeFor(name) } }));
    } catch (error) {
      throw this.fail(error, 'write', name, false, signal);
    }
  }

  async remove(name: string, signal?: AbortSignal): Promise<void> {
    try {
      const blob = await this.blob(name);
      await this.call(signal, (s) => blob.deleteIfExists({ abortSignal: s, deleteSnapshots: 'include' }));
    } catch (error) {
      throw this.fail(error, 'delete', name, false, signal);
    }
  }

  /**
   * The SDK keeps no connection of its own open: its keep-alive agent's idle
   * sockets are unref'd (they never hold the process) and close on their
   * own. What we hold are writes in progress: they are stopped.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const write of this.writes) await write.close();
    this.closed = true;
    this.client = undefined;
  }
}

const PROGRESS_SLICE = 256 * 1024;

function* slices(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** Reads a stream into one Buffer, refusing more than `limit` bytes. */
async function readAll(body: Readable | undefined, limit: number): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      body.destroy();
      throw new BackupError(`The answer was longer than the ${limit} bytes asked for.`, { code: 'STORE_FAILED' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The state of one attempt at a name (reset when a write reserves again after abort()). */
class Attempt {
  /** Random per attempt: in every block id, so no other writer's block is ever committed with ours. */
  readonly tag = randomBytes(6).toString('hex');
  /** Stops every request of this attempt (first failure, abort, close). */
  readonly stop = new AbortController();
  /** Our block ids in the stream's order (the commit's order), and their sizes. */
  readonly blockIds: string[] = [];
  readonly blockSizes: number[] = [];
  readonly inFlight = new Set<Promise<void>>();
  /** Full-size block buffers whose upload finished, reused (memory stays flat, whatever the GC does). */
  readonly spare: Buffer[] = [];
  failure: BackupError | undefined;
  sink: Writable | undefined;
  /** open()'s signal, for the stages. */
  openSignal: AbortSignal | undefined;
  written = 0;
  acknowledged = 0;
  finished = false;
  committing = false;
  published = false;
  aborted = false;
  /** Sidecar blobs this attempt created, deleted again unless the archive is published. */
  readonly sidecars: string[] = [];

  constructor(
    readonly fileName: string,
    readonly blob: BlockBlobClient,
  ) {}
}

class AzureArchiveWrite implements ArchiveWrite {
  readonly kind = 'azure' as const;
  readonly label: string;
  private attempt: Attempt | undefined;
  private closed = false;

  constructor(
    private readonly store: AzureStore,
    private readonly options: WriteOptions,
  ) {
    this.label = store.label;
  }

  /** The caller's signals (Ctrl-C): an abort of one of these is a cancellation. */
  private user(extra?: AbortSignal): AbortSignal {
    return extra && extra !== this.options.signal ? AbortSignal.any([this.options.signal, extra]) : this.options.signal;
  }

  /** What a request of this attempt listens to: the caller's signals and the attempt's stop. */
  private requests(attempt: Attempt, extra?: AbortSignal): AbortSignal {
    return AbortSignal.any([this.user(extra), attempt.stop.signal]);
  }

  private fail(error: unknown, action: string, name: string | undefined, extra?: AbortSignal): BackupError {
    return this.store.fail(error, action, name, true, this.user(extra));
  }

  private current(method: string): Attempt {
    if (!this.attempt || this.attempt.aborted) throw new Error(`AzureArchiveWrite.${method}() before reserve()`);
    return this.attempt;
  }

  /**
   * The archive and its sidecars must not exist; then a claim: one 1-byte
   * block staged under the name with our tag (never committed), and the
   * name's block list read back. A block of another writer there (a run in
   * progress, or one that failed within Azure's 7 days) means the name is
   * taken. Two runs claiming at once both see each other and both give the
   * name up: never two winners. The final guard is the If-None-Match commit
   * anyway. After abort(), a write may reserve again (a fresh tag).
   */
  async reserve(fileName: string): Promise<boolean> {
    if (this.closed) throw new Error('AzureArchiveWrite.reserve() after close()');
    if (this.attempt && !this.attempt.aborted) throw new Error('AzureArchiveWrite.reserve() called twice');
    const signal = this.options.signal;
    const names = [fileName, ...SIDECAR_SUFFIXES.map((suffix) => fileName + suffix)];
    const found = await Promise.all(names.map((name) => this.store.stat(name, signal)));
    if (found.some((file) => file !== undefined)) return false;
    const blob = await this.store.blob(fileName).catch((error: unknown) => {
      throw this.fail(error, 'reserve', fileName);
    });
    const attempt = new Attempt(fileName, blob);
    try {
      await this.store.call(signal, (s) => blob.stageBlock(blockId(attempt.tag, 'claim0'), Buffer.from('c'), 1, { abortSignal: s }));
    } catch (error) {
      // Another writer's blocks with ids of another length: not ours to touch.
      if (statusOf(error) === 400 && /InvalidBlobOrBlock|InvalidBlockId|InvalidBlockList/.test(codeOf(error) ?? '')) return false;
      throw this.fail(error, 'stage a block of', fileName);
    }
    let others: boolean;
    try {
      const list = await this.store.call(signal, (s) => blob.getBlockList('all', { abortSignal: s }));
      others = [...(list.uncommittedBlocks ?? []), ...(list.committedBlocks ?? [])].some((b) => tagOf(b.name) !== attempt.tag);
    } catch (error) {
      throw this.fail(error, 'read the block list of', fileName);
    }
    if (others) {
      this.options.logger.debug(`${this.store.locationOf(fileName)} has blocks staged by another writer: taken.`);
      return false;
    }
    this.attempt = attempt;
    return true;
  }

  location(): string {
    return this.store.locationOf(this.current('location').fileName);
  }

  async open(signal?: AbortSignal): Promise<Writable> {
    const attempt = this.current('open');
    if (attempt.sink) throw new Error('AzureArchiveWrite.open() called twice');
    attempt.openSignal = signal;
    const write = this;
    let block: Buffer | undefined;
    let filled = 0;
    const flush = async () => {
      if (!block || filled === 0) return;
      const full = block;
      const length = filled;
      block = undefined;
      filled = 0;
      await write.dispatch(attempt, full, length);
    };
    const sink = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        (async () => {
          if (attempt.failure) throw attempt.failure;
          let rest = chunk;
          while (rest.length > 0) {
            if (!block) {
              const size = blockSizeFor(attempt.blockIds.length, write.options.expectedBytes, write.store.target.minBlockSize);
              const spare = attempt.spare.pop();
              block = spare && spare.length === size ? spare : Buffer.allocUnsafe(size);
            }
            const n = rest.copy(block, filled);
            filled += n;
            rest = rest.subarray(n);
            attempt.written += n;
            if (filled === block.length) await flush();
          }
        })().then(() => callback(), (error: unknown) => callback(error as Error));
      },
      final(callback) {
        (async () => {
          await flush();
          await Promise.all(attempt.inFlight);
          if (attempt.failure) throw attempt.failure;
          attempt.finished = true;
        })().then(() => callback(), (error: unknown) => callback(error as Error));
      },
      destroy(error, callback) {
        block = undefined;
        attempt.spare.length = 0;
        // A destroyed sink (upstream failure, Ctrl-C) stages nothing more.
        if (!attempt.finished) attempt.stop.abort();
        callback(error);
      },
    });
    attempt.sink = sink;
    return sink;
  }

  /** Stages `buffer[0, length)` once a slot is free (the writer waits meanwhile: backpressure). */
  private async dispatch(attempt: Attempt, buffer: Buffer, length: number): Promise<void> {
    while (attempt.inFlight.size >= (this.store.target.blocksInFlight ?? DEFAULT_BLOCKS_IN_FLIGHT)) await Promise.race(attempt.inFlight);
    if (attempt.failure) throw attempt.failure;
    const index = attempt.blockIds.length;
    if (index >= MAX_BLOCKS) {
      throw (attempt.failure = new DestinationError(`The archive needs more than ${MAX_BLOCKS} blocks, Azure's limit for one blob; nothing was published.`));
    }
    const id = blockId(attempt.tag, index);
    attempt.blockIds.push(id);
    attempt.blockSizes.push(length);
    const data = length === buffer.length ? buffer : buffer.subarray(0, length);
    const staging: Promise<void> = this.stageWithRetries(attempt, id, data)
      .then(
        () => {
          attempt.acknowledged += length;
          if (length === buffer.length && !attempt.stop.signal.aborted) attempt.spare.push(buffer);
          this.options.onProgress?.(attempt.acknowledged);
        },
        (error: unknown) => {
          if (attempt.failure) return;
          attempt.failure = this.fail(error, 'stage a block of', attempt.fileName, attempt.openSignal);
          // The first failure stops the other blocks and the writer.
          attempt.stop.abort();
          attempt.sink?.destroy(attempt.failure);
        },
      )
      .finally(() => attempt.inFlight.delete(staging));
    attempt.inFlight.add(staging);
  }

  /**
   * The SDK retries network errors and 5xx itself; a try that stalls (no
   * progress for the timeout) is cancelled by our timeout, which the SDK
   * does not retry: staging a block again under the same id is harmless
   * (it replaces the staged one), so it is tried again here, up to maxTries.
   */
  private async stageWithRetries(attempt: Attempt, id: string, data: Buffer): Promise<void> {
    const tries = this.store.target.maxTries ?? DEFAULT_MAX_TRIES;
    const signal = this.requests(attempt, attempt.openSignal);
    for (let n = 1; ; n++) {
      try {
        // As a stream of slices (made again for each try): progress is then reported as the
        // socket takes the bytes, not once for the whole buffer, so the timeout is on progress.
        await this.store.call(signal, (s, touch) =>
          attempt.blob.stageBlock(id, () => Readable.from(slices(data, PROGRESS_SLICE)), data.length, { abortSignal: s, onProgress: touch }),
        );
        return;
      } catch (error) {
        const timedOut = (error as { timedOutAfterMs?: number }).timedOutAfterMs !== undefined;
        if (!timedOut || n >= tries || signal.aborted) throw error;
        this.options.logger.warn(
          `No progress staging a block of ${this.store.locationOf(attempt.fileName)} for ${this.store.timeoutMs / 1000} s; trying again (${n + 1} of ${tries}).`,
        );
      }
    }
  }

  /**
   * The blob is not committed yet, so there is nothing to GET: what Azure
   * holds is checked instead. Every block we staged must be in the name's
   * uncommitted block list with the size we sent, and the sizes must add up
   * to info.bytes. (The SHA-256 cannot be checked without reading it all
   * back; TLS and Azure's per-request checks cover the bytes in transit.)
   */
  async verify(info: CommitInfo, signal?: AbortSignal): Promise<void> {
    const attempt = this.current('verify');
    if (!attempt.finished) throw new Error('AzureArchiveWrite.verify() before the upload finished');
    const where = this.store.locationOf(attempt.fileName);
    checkSent(where, { bytes: attempt.written }, info);
    if (attempt.blockIds.length === 0) return;
    let held: Map<string, number>;
    try {
      const list = await this.store.call(this.requests(attempt, signal), (s) => attempt.blob.getBlockList('uncommitted', { abortSignal: s }));
      held = new Map((list.uncommittedBlocks ?? []).map((b) => [b.name, b.size]));
    } catch (error) {
      throw this.fail(error, 'read the block list of', attempt.fileName, signal);
    }
    let total = 0;
    for (const [i, id] of attempt.blockIds.entries()) {
      const size = held.get(id);
      if (size === undefined || size !== attempt.blockSizes[i]) {
        throw new DestinationError(
          `Verification failed: block ${i} of ${where} is ${size === undefined ? 'no longer staged (did another run commit this name?)' : `${size} bytes at Azure, ${attempt.blockSizes[i]} were sent`}; nothing was published.`,
          { code: 'VERIFY_FAILED' },
        );
      }
      total += size;
    }
    if (total !== info.bytes) {
      throw new DestinationError(`Verification failed: Azure holds ${total} bytes for ${where}, ${info.bytes} expected; nothing was published.`, {
        code: 'VERIFY_FAILED',
      });
    }
  }

  /**
   * Each sidecar is its own blob, put with If-None-Match: * (never replacing
   * one). Sidecars keep the account's default tier: small, and readable
   * without a rehydration even when the archive is in Archive.
   */
  async writeSidecars(files: readonly SidecarFile[], signal?: AbortSignal): Promise<void> {
    const attempt = this.current('writeSidecars');
    for (const file of files) {
      const blob = await this.store.blob(file.name);
      const body = Buffer.from(file.content, 'utf8');
      try {
        await this.store.call(this.requests(attempt, signal), (s) =>
          blob.upload(body, body.length, {
            abortSignal: s,
            conditions: { ifNoneMatch: '*' },
            blobHTTPHeaders: { blobContentType: contentTypeFor(file.name) },
            metadata: azureMetadata(this.options.metadata),
          }),
        );
        attempt.sidecars.push(file.name);
      } catch (error) {
        if (statusOf(error) === 409 || statusOf(error) === 412) {
          throw new DestinationError(`${this.store.locationOf(file.name)} appeared during the backup; it was not replaced, and the archive was not published.`, {
            code: 'NAME_TAKEN',
            cause: error,
          });
        }
        throw this.fail(error, 'write', file.name, signal);
      }
    }
  }

  /** Whether the name's committed blob is exactly our block list (a commit whose answer was lost). */
  private async committedIsOurs(attempt: Attempt): Promise<boolean> {
    try {
      const list = await this.store.call(undefined, (s) => attempt.blob.getBlockList('committed', { abortSignal: s }));
      const ids = (list.committedBlocks ?? []).map((b) => b.name);
      if (attempt.blockIds.length === 0) {
        // An empty archive has no blocks to recognise it by: its metadata says whose it is.
        const props = await this.store.call(undefined, (s) => attempt.blob.getProperties({ abortSignal: s }));
        return ids.length === 0 && props.metadata?.backupwrite === attempt.tag;
      }
      return ids.length === attempt.blockIds.length && ids.every((id, i) => id === attempt.blockIds[i]);
    } catch {
      return false;
    }
  }

  /** Put Block List under the final name with If-None-Match: * (never replaces), the SHA-256 and the tier. */
  async publish(info: CommitInfo, signal?: AbortSignal): Promise<Committed> {
    const attempt = this.current('publish');
    if (!attempt.finished) throw new Error('AzureArchiveWrite.publish() before the upload finished');
    const { fileName } = attempt;
    attempt.committing = true;
    try {
      await this.store.call(this.requests(attempt, signal), (s) =>
        attempt.blob.commitBlockList(attempt.blockIds, {
          abortSignal: s,
          conditions: { ifNoneMatch: '*' },
          metadata: { ...azureMetadata(this.options.metadata), sha256: info.sha256, ...(attempt.blockIds.length === 0 ? { backupwrite: attempt.tag } : {}) },
          blobHTTPHeaders: { blobContentType: contentTypeFor(fileName) },
          tier: this.store.target.tier,
        }),
      );
    } catch (error) {
      // The commit may have landed and only its answer got lost (a retry then sees 409).
      if (!this.user(signal).aborted && (await this.committedIsOurs(attempt))) {
        this.options.logger.warn(`Azure reported ${codeOf(error) ?? (error as Error).name} on committing ${this.location()}, but the blob there is ours: published.`);
      } else {
        if (statusOf(error) === 409 || statusOf(error) === 412) {
          throw new DestinationError(`${this.location()} was created by someone else during the backup; it was not overwritten.`, {
            code: 'NAME_TAKEN',
            cause: error,
          });
        }
        if (statusOf(error) === 400 && codeOf(error) === 'InvalidBlockList') {
          throw new DestinationError(
            `Azure no longer holds the blocks staged for ${this.location()} (another run committed this name, or they expired); nothing was published.`,
            { cause: error },
          );
        }
        throw this.fail(error, 'commit (Put Block List)', fileName, signal);
      }
    }
    attempt.published = true;
    return { fileName, location: this.location() };
  }

  /**
   * Stops staging, deletes the sidecars we wrote and, if a commit landed
   * although publish() did not finish (Ctrl-C during the commit), our
   * archive blob (only when its block list is exactly ours), before the
   * sidecars. Uncommitted blocks cannot be deleted: invisible, Azure drops
   * them after 7 days. Clean-up requests are not cancelled by Ctrl-C; each
   * is bounded by the timeout.
   */
  async abort(): Promise<void> {
    const attempt = this.attempt;
    if (!attempt || attempt.published || attempt.aborted) return;
    attempt.aborted = true;
    attempt.stop.abort();
    attempt.sink?.destroy();
    await Promise.allSettled([...attempt.inFlight]);
    const where = this.store.locationOf(attempt.fileName);
    if (attempt.committing && (await this.committedIsOurs(attempt))) {
      await this.store
        .call(undefined, (s) => attempt.blob.deleteIfExists({ abortSignal: s }))
        .catch((error: unknown) => this.options.logger.error(`Could not delete ${where}: ${this.fail(error, 'delete', attempt.fileName).message}`));
    }
    for (const name of attempt.sidecars.splice(0)) {
      try {
        const blob = await this.store.blob(name);
        await this.store.call(undefined, (s) => blob.deleteIfExists({ abortSignal: s }));
      } catch (error) {
        this.options.logger.error(`Could not delete ${this.store.locationOf(name)}: ${this.fail(error, 'delete', name).message}`);
      }
    }
    this.options.logger.debug(`The uncommitted blocks of ${where} are left to Azure, which drops them within 7 days (they are never visible).`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.abort();
    this.closed = true;
    this.store.writes.delete(this);
  }
}
