/**
 * The walker: the one place that decides what a backup stores. The real
 * run (on the source reader's worker thread, source-reader.ts), the dry
 * run and the progress bar's count (walk.ts) all go through `walkSync`, so
 * they can never disagree.
 *
 * It yields archive entries one at a time, in a stable order (depth first,
 * names in byte order), so memory does not grow with the tree. The calls
 * are synchronous: on the worker thread blocking is the point (one lstat is
 * a system call, not a round trip through the thread pool and the event
 * loop); on the main thread, walk.ts runs it in short slices.
 *
 * The rules:
 * - Each source is stored under its root (archive-roots.ts): its base name
 *   (`data/...`), as `tar -C parent -cf - data` would, or a longer end of
 *   its path when base names clash. A source given as a symlink is followed
 *   (the user named it); symlinks inside the tree are stored as symlinks and
 *   never followed, so a symlink loop cannot loop.
 * - FIFOs, sockets and devices are skipped (opening a FIFO would hang).
 * - Exclude patterns are gitignore-style, matched against the path inside
 *   each source folder.
 * - Files and folders in `skipInodes` (the destination folder inside a
 *   source, the log file) are left out, compared by inode.
 * - A name that is not valid UTF-8 is a skip (it cannot be carried as a
 *   JavaScript string without changing it).
 * - Problems with single files are reported through `onSkip` and the walk
 *   goes on.
 */
import fs, { type Stats } from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { describeErrno } from '../errors.js';
import { archiveRoots } from './archive-roots.js';

export type Entry =
  | { kind: 'dir'; archivePath: string; absPath: string; stat: Stats }
  | { kind: 'file'; archivePath: string; absPath: string; stat: Stats }
  | { kind: 'symlink'; archivePath: string; absPath: string; stat: Stats; target: string };

export interface Skip {
  /** The path as the user knows it (absolute). */
  path: string;
  reason: string;
}

export interface WalkOptions {
  /** Absolute source paths. */
  sources: readonly string[];
  /** gitignore-style patterns. */
  exclude?: readonly string[];
  /**
   * Files and folders never to store, as `dev:ino` keys (see `inodeKey`): the
   * destination folder when it lies inside a source, the log file. Compared
   * by inode, so a path reached through a symlinked source still matches.
   */
  skipInodes?: ReadonlySet<string>;
  onSkip: (skip: Skip) => void;
}

export function specialKind(stat: Stats): string | undefined {
  if (stat.isFIFO()) return 'FIFO (named pipe): not archived, reading it could hang';
  if (stat.isSocket()) return 'socket: not archived';
  if (stat.isCharacterDevice()) return 'character device: not archived';
  if (stat.isBlockDevice()) return 'block device: not archived';
  return undefined;
}

/**
 * The names in a folder, as strings. A name that is not valid UTF-8 (old
 * Latin-1 files, say) cannot be carried as a JavaScript string without
 * changing it, so it is reported as a skip with what to do, rather than
 * failing later as "vanished". Read as strings first (one allocation a
 * name); only a folder where decoding replaced something is read again as
 * bytes to tell which names are not UTF-8.
 */
function folderNames(dir: string, onSkip: (skip: Skip) => void): string[] {
  const names = fs.readdirSync(dir);
  for (const name of names) {
    if (name.includes('\ufffd')) return utf8Names(fs.readdirSync(dir, { encoding: 'buffer' }), dir, onSkip);
  }
  return names;
}

export function utf8Names(raw: Buffer[], dir: string, onSkip: (skip: Skip) => void): string[] {
  const names: string[] = [];
  for (const bytes of raw) {
    const name = bytes.toString('utf8');
    if (Buffer.from(name, 'utf8').equals(bytes)) names.push(name);
    else {
      onSkip({
        path: path.join(dir, bytes.toString('latin1')),
        reason: `file name is not valid UTF-8 (bytes ${bytes.toString('hex')}); rename it (e.g. convmv -f latin1 -t utf8) to back it up`,
      });
    }
  }
  return names;
}

/** Byte order, like `LC_ALL=C sort`: stable across locales. */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function inodeKey(stat: { dev: number; ino: number }): string {
  return `${stat.dev}:${stat.ino}`;
}

export function toPosix(p: string): string {
  return path.sep === '/' ? p : p.split(path.sep).join('/');
}

export function makeExcluder(patterns: readonly string[] | undefined): Ignore | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  // Case-sensitive, as git on Linux, tar --exclude and rsync: the `ignore` package folds case by
  // default, so `--exclude Cache` also left out a folder named `cache`, which was never backed up.
  return ignore({ allowRelativePaths: true, ignorecase: false }).add([...patterns]);
}

/** Names looked at between two `undefined`s from walkSync. */
export const WALK_SLICE = 256;

/**
 * The entries to store, in order; in between, `undefined` every WALK_SLICE
 * names looked at (stored, excluded or skipped alike): a point where a
 * caller on the main thread lets the event loop run (walk.ts), even in a
 * folder whose names are all excluded. Other callers pass over it.
 */
export function* walkSync(options: WalkOptions): Generator<Entry | undefined> {
  const excluder = makeExcluder(options.exclude);
  const skipInodes = options.skipInodes ?? new Set<string>();
  const { onSkip } = options;
  let looked = 0;

  for (const { source, root: rootName } of archiveRoots(options.sources).roots) {
    let rootStat: Stats;
    try {
      // Follow a symlink given as the source itself; never below it.
      rootStat = fs.statSync(source);
    } catch (error) {
      onSkip({ path: source, reason: describeErrno(error) });
      continue;
    }
    const special = specialKind(rootStat);
    if (special) {
      onSkip({ path: source, reason: special });
      continue;
    }
    if (!rootStat.isDirectory()) {
      yield { kind: 'file', archivePath: rootName, absPath: source, stat: rootStat };
      continue;
    }

    const stack: Array<{ abs: string; rel: string; stat: Stats }> = [{ abs: source, rel: '', stat: rootStat }];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      yield { kind: 'dir', archivePath: dir.rel === '' ? rootName : `${rootName}/${dir.rel}`, absPath: dir.abs, stat: dir.stat };

      let names: string[];
      try {
        names = folderNames(dir.abs, onSkip);
      } catch (error) {
        onSkip({ path: dir.abs, reason: `folder contents not readable: ${describeErrno(error)}` });
        continue;
      }
      names.sort(byteOrder);

      const subdirs: Array<{ abs: string; rel: string; stat: Stats }> = [];
      for (const name of names) {
        if (++looked === WALK_SLICE) {
          looked = 0;
          yield undefined;
        }
        const abs = path.join(dir.abs, name);
        const rel = dir.rel === '' ? name : `${dir.rel}/${toPosix(name)}`;
        let stat: Stats;
        try {
          stat = fs.lstatSync(abs);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          onSkip({ path: abs, reason: code === 'ENOENT' ? 'vanished while the backup ran' : describeErrno(error) });
          continue;
        }
        if (skipInodes.has(inodeKey(stat))) continue;
        if (excluder?.ignores(stat.isDirectory() ? `${rel}/` : rel)) continue;

        if (stat.isDirectory()) {
          subdirs.push({ abs, rel, stat });
        } else if (stat.isSymbolicLink()) {
          let target: string;
          try {
            target = fs.readlinkSync(abs);
          } catch (error) {
            onSkip({ path: abs, reason: describeErrno(error) });
            continue;
          }
          yield { kind: 'symlink', archivePath: `${rootName}/${rel}`, absPath: abs, stat, target };
        } else if (stat.isFile()) {
          yield { kind: 'file', archivePath: `${rootName}/${rel}`, absPath: abs, stat };
        } else {
          onSkip({ path: abs, reason: specialKind(stat) ?? 'unsupported file type: not archived' });
        }
      }
      // Pushed in reverse so they are popped (and stored) in sorted order.
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
    }
  }
}
