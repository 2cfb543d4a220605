/**
 * Where list / verify / restore / prune look: the destinations named by
 * flags (`--dest`, `--s3-bucket` ...), else those of the settings file
 * (config/settings.json or --config), else ./backups. And an archive given
 * as a path or an s3://bucket/key URL.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { findSettingsFile, loadSettings } from '../config/load-settings.js';
import { checkS3Target, mergeSettings, resolvePaths, type EffectiveDestination, type EffectiveSettings, type S3Origin } from '../config/merge-settings.js';
import { openStore, type StoreSpec } from '../storage/open-store.js';
import type { Settings } from '../config/schema.js';
import { expandHome } from '../config/expand-home.js';
import type { Store } from '../storage/store.js';
import { LocalStore } from '../storage/local-store.js';
import type { S3Target } from '../storage/s3.js';
import type { CliIO } from './io.js';
import type { Logger } from '../log/logger-types.js';

export interface StoreFlags {
  config?: string;
  /** --from NAME: only these destinations (by settings name). */
  from?: string[];
  dest?: string;
  s3Bucket?: string;
  s3Prefix?: string;
  s3Region?: string;
  s3Endpoint?: string;
}

export interface LoadedSettings {
  file?: string;
  settings?: Settings;
}

/** The settings file if there is one (given, or config/settings.json); a broken one is an error. */
export async function loadOptionalSettings(io: CliIO, config: string | undefined): Promise<LoadedSettings> {
  const file = findSettingsFile(config, io.cwd);
  if (!file) return {};
  return { file, settings: await loadSettings(file) };
}

/** Effective settings from file + env + the location flags. */
export function effectiveFor(io: CliIO, loaded: LoadedSettings, flags: StoreFlags & { source?: string[]; name?: string }): EffectiveSettings {
  return resolvePaths(
    mergeSettings(
      loaded.settings,
      {
        sources: flags.source,
        name: flags.name,
        destination: flags.dest,
        s3Bucket: flags.s3Bucket,
        s3Prefix: flags.s3Prefix,
        s3Region: flags.s3Region,
        s3Endpoint: flags.s3Endpoint,
      },
      io.env,
    ),
    io.cwd,
    io.home,
  );
}

/** Which S3 values came from flags, for checkS3Target's messages. */
export function s3Origin(flags: StoreFlags, file: string | undefined): S3Origin {
  return {
    flag: flags.s3Bucket === undefined ? undefined : '--s3-bucket',
    regionFlag: flags.s3Region !== undefined && flags.s3Region !== '',
    endpointFlag: flags.s3Endpoint !== undefined && flags.s3Endpoint !== '',
    file,
  };
}

export async function s3Store(target: S3Target): Promise<Store> {
  await checkS3Region(target);
  // Loaded only when used: the AWS SDK is most of the start-up time.
  const [{ createS3Client }, { S3Store }] = await Promise.all([import('../storage/s3.js'), import('../storage/s3-store.js')]);
  return new S3Store(createS3Client(target), target);
}

/**
 * That the SDK finds a region for AWS (the flag or setting, AWS_REGION, the
 * AWS profile), before anything is written: a missing one is a configuration
 * error (S3_NO_REGION, exit 2), not a failed upload. A custom endpoint needs
 * none (the client signs with us-east-1).
 */
export async function checkS3Region(target: S3Target): Promise<void> {
  if (target.region !== undefined || target.endpoint !== undefined) return;
  const [{ createS3Client }, { describeS3Error }] = await Promise.all([import('../storage/s3.js'), import('../storage/s3-errors.js')]);
  const client = createS3Client(target);
  try {
    await client.config.region();
  } catch (error) {
    throw describeS3Error(error, { action: 'region lookup', bucket: target.bucket });
  } finally {
    client.destroy();
  }
}

/** The stores each command opened, closed by `closeStores` when the command ends (runCommandFrame). */
const opened = new WeakMap<CliIO, Set<Store>>();

function track(io: CliIO, store: Store): Store {
  let stores = opened.get(io);
  if (!stores) opened.set(io, (stores = new Set()));
  stores.add(store);
  return store;
}

/**
 * Closes every store `resolveStores` / `storeForArchive` opened for this
 * command (S3: destroys the client and its sockets), whether it succeeded or
 * failed; the in-process callers (wizard, tests) keep no connection behind.
 */
export async function closeStores(io: CliIO): Promise<void> {
  const stores = opened.get(io);
  opened.delete(io);
  await Promise.all([...(stores ?? [])].map((store) => store.close().catch(() => undefined)));
}

/**
 * The stores to look at. Flags name them explicitly (--dest and/or
 * --s3-bucket); otherwise the settings' local folder (unless it keeps no
 * local copy) and S3 bucket; otherwise ./backups.
 */
export async function resolveStores(io: CliIO, loaded: LoadedSettings, flags: StoreFlags): Promise<Store[]> {
  if (flags.s3Bucket !== undefined && flags.s3Bucket.trim() === '') {
    throw new UsageError('--s3-bucket: the bucket name is empty (an unset shell variable?)', { code: 'USAGE' });
  }
  const effective = effectiveFor(io, loaded, flags);
  const explicit = flags.dest !== undefined || flags.s3Bucket !== undefined;
  let destinations = effective.destinations.filter((d) => !explicit || (d.type === 'local' ? flags.dest !== undefined : d.type === 's3' && flags.s3Bucket !== undefined));
  if (flags.from !== undefined && flags.from.length > 0) destinations = pickDestinations(destinations, flags.from);
  return openStores(io, destinations, s3Origin(flags, loaded.file));
}

/** `--from NAME...`: the destinations of those names, in the settings' order; an unknown name is exit 2 with the known ones. */
export function pickDestinations(destinations: readonly EffectiveDestination[], names: readonly string[]): EffectiveDestination[] {
  const wanted = names.flatMap((n) => n.split(',')).map((n) => n.trim()).filter(Boolean);
  const known = destinations.map((d) => d.name);
  const unknown = wanted.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `--from ${unknown.map((n) => JSON.stringify(n)).join(', ')}: no destination of that name; the destinations are ${known.map((n) => `"${n}"`).join(', ') || '(none)'} (settings "destinations"[].name; the older keys are "local" and "s3").`,
      { code: 'USAGE' },
    );
  }
  return destinations.filter((d) => wanted.includes(d.name));
}

/**
 * Opens a Store for each destination (no network I/O yet: each store's
 * check() or first call does that), tracked so the command closes them.
 * An S3 bucket name AWS refuses, or no region found, is exit 2 here, before
 * any request.
 */
export async function openStores(io: CliIO, destinations: readonly EffectiveDestination[], origin?: S3Origin, logger?: Logger): Promise<Store[]> {
  const stores: Store[] = [];
  for (const d of destinations) {
    // Without an origin (the wizard), the values were checked as they were answered.
    if (d.type === 's3' && origin) {
      // A name AWS refuses is exit 2 here, not "host name not found" at the first request (custom endpoints may accept it).
      checkS3Target(d.s3, origin, io.env);
      await checkS3Region(d.s3);
    }
    stores.push(track(io, await openStore(storeSpec(d), { env: io.env, home: io.home, cwd: io.cwd, ...(logger ? { logger } : {}) })));
  }
  return stores;
}

/** A resolved destination as the storage layer takes it. */
export function storeSpec(d: EffectiveDestination): StoreSpec {
  switch (d.type) {
    case 'local':
      return { name: d.name, type: 'local', path: d.path };
    case 's3':
      return { name: d.name, type: 's3', target: d.s3 };
    case 'azure':
      return { name: d.name, type: 'azure', target: d.target };
    case 'sftp':
      return { name: d.name, type: 'sftp', target: d.target };
    case 'rclone':
      return { name: d.name, type: 'rclone', target: d.target };
  }
}

/** `s3://bucket/key` -> bucket and key; undefined for anything else. */
export function parseS3Url(text: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(text);
  return match ? { bucket: match[1]!, key: match[2]! } : undefined;
}

/** The store holding `archive` (a path, or s3://bucket/key) and the archive's name in it. */
export async function storeForArchive(io: CliIO, loaded: LoadedSettings, archive: string, flags: StoreFlags): Promise<{ store: Store; name: string }> {
  if (archive.startsWith('s3://')) {
    const url = parseS3Url(archive);
    if (!url || url.key.endsWith('/')) throw new UsageError(`${archive}: expected s3://BUCKET/KEY of an archive, e.g. s3://my-bucket/host1/data-20261126-020000.tar.gz`, { code: 'USAGE' });
    const slash = url.key.lastIndexOf('/');
    const prefix = slash >= 0 ? url.key.slice(0, slash + 1) : '';
    // Region and endpoint: flags, environment, or the settings' s3 block when it is the same bucket.
    const sameBucket = loaded.settings?.s3?.bucket === url.bucket ? loaded : {};
    const effective = effectiveFor(io, sameBucket, { ...flags, s3Bucket: url.bucket, s3Prefix: prefix });
    checkS3Target(effective.s3, { ...s3Origin(flags, loaded.file), flag: archive }, io.env);
    return { store: track(io, await s3Store(effective.s3!)), name: url.key.slice(slash + 1) };
  }
  const absolute = path.resolve(io.cwd, expandHome(archive, io.home));
  return { store: new LocalStore(path.dirname(absolute)), name: path.basename(absolute) };
}
