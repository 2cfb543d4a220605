/**
 * Creates a folder and its missing parents, one component at a time.
 *
 * Node 20's `fs.mkdir(dir, { recursive: true })` loops forever where the
 * kernel answers ENOENT to creating a name under a folder that exists
 * (`/proc/backups`): it retries the parent, finds it there, retries the
 * child, and so on, at full CPU and deaf to Ctrl-C (the call takes no
 * signal). Here every component is created at most once, non-recursively,
 * with a bound on the depth, and ENOENT after the parent was seen to exist
 * is reported as what it is: this file system does not allow the folder.
 *
 * The one way this tool creates folders (the destination, the log folder,
 * config/, the folder a restore writes into): each folder it creates gets
 * exactly the mode asked, whatever the umask (under umask 000, mkdir's
 * default made them writable by every user). Folders that exist are left
 * as they are. The log is opened synchronously, so there is a synchronous
 * twin, `ensureDirSync`, with the same rules.
 */
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

/** Deeper than any real backup folder; a longer chain is refused rather than walked. */
export const MAX_DIR_DEPTH = 256;

export class EnsureDirError extends Error {
  constructor(
    message: string,
    /** The folder that could not be created (or the part of the path that is a file). */
    readonly at: string,
    /** `not-a-folder`: a component is a file; `refused`: the file system will not create it; `errno`: see cause. */
    readonly reason: 'not-a-folder' | 'refused' | 'too-deep' | 'errno',
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.code = errnoCode(options.cause) ?? (reason === 'not-a-folder' ? 'ENOTDIR' : reason === 'too-deep' ? 'ENAMETOOLONG' : 'ENOENT');
  }

  /** The errno code of the failure (`describeErrno` words it), or the nearest one for our own checks. */
  readonly code: string;
}
EnsureDirError.prototype.name = 'EnsureDirError';

/** Kernel file systems where no backup can be kept (statfs f_type, from linux/magic.h). */
const PSEUDO_FILE_SYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x63677270, 'cgroup2'],
  [0x27e0eb, 'cgroup'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xcafe4a11, 'bpf'],
  [0xde5e81e4, 'efivarfs'],
  [0x1cd1, 'devpts'],
]);

/** The pseudo file system `existing` (a path that exists) lies on, if it is one. */
export async function pseudoFileSystem(existing: string): Promise<string | undefined> {
  const stat = await fs.statfs(existing).catch(() => undefined);
  return stat ? PSEUDO_FILE_SYSTEMS.get(Number(stat.type)) : undefined;
}

function pseudoFileSystemSync(existing: string): string | undefined {
  try {
    return PSEUDO_FILE_SYSTEMS.get(Number(fsSync.statfsSync(existing).type));
  } catch {
    return undefined;
  }
}

/** The nearest part of `dir`'s path that exists (bounded: one stat per component). */
export async function nearestExisting(dir: string): Promise<string> {
  let current = path.resolve(dir);
  for (let depth = 0; depth <= MAX_DIR_DEPTH; depth++) {
    if (await fs.stat(current).then(() => true, () => false)) return current;
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

/**
 * Makes sure `dir` (absolute) is a folder, creating what is missing with
 * `mode` (before umask). Resolves with the folders it created, outermost first.
 */
export async function ensureDir(dir: string, mode = 0o700, signal?: AbortSignal): Promise<string[]> {
  const target = path.resolve(dir);
  // Walk up to the deepest part that exists (bounded: one lstat per component).
  const missing: string[] = [];
  let current = target;
  for (let depth = 0; ; depth++) {
    signal?.throwIfAborted();
    if (depth > MAX_DIR_DEPTH) throw new EnsureDirError(`${target} is more than ${MAX_DIR_DEPTH} folders deep`, target, 'too-deep');
    const stat = await fs.stat(current).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (!(stat instanceof Error)) {
      if (!stat.isDirectory()) throw new EnsureDirError(`${current} is not a folder`, current, 'not-a-folder');
      break;
    }
    if (stat.code === 'ENOTDIR') {
      // Some part above is a file: keep walking up to name it.
    } else if (stat.code !== 'ENOENT') {
      throw new EnsureDirError(`cannot look at ${current}`, current, 'errno', { cause: stat });
    }
    const parent = path.dirname(current);
    if (parent === current) throw new EnsureDirError(`${current} does not exist`, current, 'refused');
    missing.unshift(current);
    current = parent;
  }
  // Checked first: a folder on /proc or /sys cannot hold a backup, whatever mkdir says.
  const pseudo = await pseudoFileSystem(current);
  if (pseudo) throw new EnsureDirError(`${current} is on the kernel's ${pseudo} file system, which cannot hold files`, target, 'refused');
  const created: string[] = [];
  for (const folder of missing) {
    signal?.throwIfAborted();
    try {
      await fs.mkdir(folder, { mode });
      created.push(folder);
      await fs.chmod(folder, mode);
    } catch (error) {
      // EEXIST: made by someone else meanwhile, fine if it is a folder (theirs, with their mode).
      const isFolder = errnoCode(error) === 'EEXIST' && (await fs.stat(folder).then((st) => st.isDirectory(), () => false));
      const failure = mkdirFailure(folder, error, () => isFolder);
      if (failure) throw failure;
    }
  }
  return created;
}

/** What a failed mkdir of `folder` (whose parent exists) means; undefined: someone made the folder meanwhile. */
function mkdirFailure(folder: string, error: unknown, isFolder: () => boolean): EnsureDirError | undefined {
  const code = errnoCode(error);
  if (code === 'EEXIST') {
    if (isFolder()) return undefined;
    return new EnsureDirError(`${folder} is not a folder`, folder, 'not-a-folder', { cause: error });
  }
  if (code === 'ENOTDIR') return new EnsureDirError(`a part of ${folder} is a file`, folder, 'not-a-folder', { cause: error });
  // The parent exists (found, or just created): ENOENT means this file system
  // (/proc, /sys, a read-only pseudo file system) does not let a folder be made here.
  if (code === 'ENOENT') {
    return new EnsureDirError(`the file system at ${path.dirname(folder)} does not allow creating folders`, folder, 'refused', { cause: error });
  }
  return new EnsureDirError(`cannot create ${folder}`, folder, 'errno', { cause: error });
}

/** ensureDir for the one synchronous caller (the log file, opened before anything else runs). */
export function ensureDirSync(dir: string, mode: number): void {
  const target = path.resolve(dir);
  const missing: string[] = [];
  let current = target;
  for (let depth = 0; ; depth++) {
    if (depth > MAX_DIR_DEPTH) throw new EnsureDirError(`${target} is more than ${MAX_DIR_DEPTH} folders deep`, target, 'too-deep');
    let stat: fsSync.Stats | undefined;
    try {
      stat = fsSync.statSync(current);
    } catch (error) {
      const code = errnoCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new EnsureDirError(`cannot look at ${current}`, current, 'errno', { cause: error });
    }
    if (stat) {
      if (!stat.isDirectory()) throw new EnsureDirError(`${current} is not a folder`, current, 'not-a-folder');
      break;
    }
    const parent = path.dirname(current);
    if (parent === current) throw new EnsureDirError(`${current} does not exist`, current, 'refused');
    missing.unshift(current);
    current = parent;
  }
  const pseudo = pseudoFileSystemSync(current);
  if (pseudo) throw new EnsureDirError(`${current} is on the kernel's ${pseudo} file system, which cannot hold files`, target, 'refused');
  for (const folder of missing) {
    try {
      fsSync.mkdirSync(folder, { mode });
      fsSync.chmodSync(folder, mode);
    } catch (error) {
      const failure = mkdirFailure(folder, error, () => fsSync.statSync(folder, { throwIfNoEntry: false })?.isDirectory() === true);
      if (failure) throw failure;
    }
  }
}
