/**
 * `walk` with synchronous fs calls, for the source reader's worker thread
 * (source-reader.ts), where blocking is the point: one lstat is a system
 * call, not a round trip through the thread pool and the event loop.
 * Same entries, same order, same skips as `walk` (walk.ts); the helpers
 * that decide them are shared.
 */
import fs, { type Stats } from 'node:fs';
import path from 'node:path';
import { describeErrno } from '../errors.js';
import { archiveRoots } from './archive-roots.js';
import { byteOrder, inodeKey, makeExcluder, specialKind, toPosix, utf8Names, type Entry, type Skip } from './walk.js';

export interface WalkSyncOptions {
  /** Absolute source paths. */
  sources: readonly string[];
  /** gitignore-style patterns. */
  exclude?: readonly string[];
  /** `dev:ino` keys of files and folders never to store (see walk.ts). */
  skipInodes?: ReadonlySet<string>;
  onSkip: (skip: Skip) => void;
}

export function* walkSync(options: WalkSyncOptions): Generator<Entry> {
  const excluder = makeExcluder(options.exclude);
  const skipInodes = options.skipInodes ?? new Set<string>();
  const { onSkip } = options;

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
        names = utf8Names(fs.readdirSync(dir.abs, { encoding: 'buffer' }), dir.abs, onSkip);
      } catch (error) {
        onSkip({ path: dir.abs, reason: `folder contents not readable: ${describeErrno(error)}` });
        continue;
      }
      names.sort(byteOrder);

      const subdirs: Array<{ abs: string; rel: string; stat: Stats }> = [];
      for (const name of names) {
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
