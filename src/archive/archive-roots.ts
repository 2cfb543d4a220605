/**
 * Where each source goes inside the archive. Pure: paths in, plan out.
 *
 * A source is stored under its base name (`/srv/a/data` -> `data/`), as
 * `tar -C /srv/a -cf - data` would. When two sources share a base name
 * (`/srv/a/data`, `/srv/b/data`), each is stored under the shortest suffix
 * of its path that tells it apart from the others (`a/data/`, `b/data/`);
 * a root is also never the parent folder of another root, so no two
 * sources can mix their files on extraction. The same path given twice is
 * stored once (with a warning); a source inside another (`/srv`, `/srv/a`)
 * is refused: its files would be stored twice.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';

export interface ArchiveRoot {
  /** Absolute source path, as given (normalised). */
  source: string;
  /** Path of the source inside the archive, no leading or trailing slash. */
  root: string;
}

export interface ArchiveRootPlan {
  /** One per distinct source, in the order given. */
  roots: ArchiveRoot[];
  /** Sources given more than once (stored once). */
  duplicates: string[];
}

/** The name of the file system root (`/`) inside the archive. */
const ROOT_NAME = 'root';

function isInside(inner: string, outer: string): boolean {
  return outer === path.sep ? inner !== outer : inner.startsWith(`${outer}${path.sep}`);
}

/** Throws a UsageError (exit 2) when one source lies inside another. */
export function archiveRoots(sources: readonly string[]): ArchiveRootPlan {
  const unique: string[] = [];
  const duplicates: string[] = [];
  for (const source of sources) {
    const normal = path.resolve(source);
    if (unique.includes(normal)) {
      if (!duplicates.includes(normal)) duplicates.push(normal);
    } else unique.push(normal);
  }
  for (const outer of unique) {
    const inner = unique.find((other) => isInside(other, outer));
    if (inner !== undefined) {
      throw new UsageError(
        `Source ${inner} is inside source ${outer}: its files would be stored twice. Give only ${outer}, or exclude ${path.relative(outer, inner)} from it (--exclude).`,
        { code: 'SOURCE_NESTED' },
      );
    }
  }

  const parts = unique.map((source) => source.split(path.sep).filter((part) => part !== ''));
  /** How many trailing path components each root uses. */
  const depth = parts.map(() => 1);
  const rootOf = (i: number): string => (parts[i]!.length === 0 ? ROOT_NAME : parts[i]!.slice(-depth[i]!).join('/'));
  for (;;) {
    const roots = unique.map((_, i) => rootOf(i));
    const grow = new Set<number>();
    for (let i = 0; i < roots.length; i++) {
      for (let j = 0; j < roots.length; j++) {
        if (i === j) continue;
        // The same root, or one root the parent folder of another: both move one folder up.
        if (roots[i] === roots[j] || roots[j]!.startsWith(`${roots[i]}/`)) {
          grow.add(i);
          grow.add(j);
        }
      }
    }
    let grew = false;
    for (const i of grow) {
      if (depth[i]! < parts[i]!.length) {
        depth[i]! += 1;
        grew = true;
      }
    }
    // Whole paths are distinct and never nested (checked above), so this always ends.
    if (!grew) return { roots: unique.map((source, i) => ({ source, root: roots[i]! })), duplicates };
  }
}
