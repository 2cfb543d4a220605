/**
 * What is inside a backup, as a tree the restore page browses one folder at
 * a time. Read from the archive's own index: a zip's central directory
 * (ranged reads at its end, nothing else), or a tar read once from start to
 * end through the same reader verify and restore use; kept in memory for
 * the next look (the last CACHE_SIZE archives, keyed by location, size and
 * modification time). Paths are the ones `restore --include` matches
 * (lifecycle/restore.ts includePathOf): what is picked here is what gets
 * restored. Bounded: at most MAX_ENTRIES entries and MAX_NODES tree nodes
 * (folders included: one deep path makes many) are kept, the rest counted
 * and said on the page; at most MAX_CHILDREN of a folder shown; the cache
 * drops its oldest indexes while it holds more than MAX_NODES nodes in all.
 */
import { formatOfName, readArchive, type ArchiveSource } from '../archive/read/read-archive.js';
import { readCentralDirectory } from '../archive/read/zip-reader.js';
import type { ArchiveEntry } from '../archive/read/archive-entry.js';
import { includePathOf } from '../lifecycle/restore.js';
import type { StoredFile } from '../storage/store.js';
import { UsageError } from '../errors.js';

export const MAX_ENTRIES = 250_000;
/** About 45 MB of tree (measured: ~185 bytes a node with 20-character names, node --expose-gc heapUsed). */
export const MAX_NODES = 250_000;
export const MAX_CHILDREN = 5_000;
export const CACHE_SIZE = 4;

export interface TreeNode {
  name: string;
  kind: ArchiveEntry['kind'];
  /** File bytes (for a folder: of everything below it). */
  size: number;
  /** Files below a folder (a file: 1). */
  files: number;
  children?: Map<string, TreeNode>;
}

export interface ArchiveIndex {
  root: TreeNode;
  entries: number;
  /** Tree nodes made (entries and the folders their paths imply). */
  nodes: number;
  /** Entries past MAX_ENTRIES / MAX_NODES, counted but not kept. */
  leftOut: number;
  /** Entries restore would refuse or skip (unsafe or empty names), not shown. */
  unsafe: number;
}

export interface FolderListing {
  path: string;
  entries: Array<{ name: string; path: string; kind: TreeNode['kind']; size: number; files: number }>;
  /** Children past MAX_CHILDREN, not listed. */
  more: number;
  total: { entries: number; leftOut: number; unsafe: number };
}

function folder(name: string): TreeNode {
  return { name, kind: 'dir', size: 0, files: 0, children: new Map() };
}

/** Builds the tree entry by entry. */
export class IndexBuilder {
  readonly index: ArchiveIndex = { root: folder(''), entries: 0, nodes: 0, leftOut: 0, unsafe: 0 };

  add(entry: Pick<ArchiveEntry, 'path' | 'pathBytes' | 'kind' | 'size'>): void {
    // `./` (GNU tar -C dir .) is the archive's root folder, not an entry with an unsafe name.
    if (entry.kind === 'dir' && /^(\.\/)*\.?\/?$/.test(entry.path)) return;
    const rel = includePathOf(entry);
    if (rel === undefined) {
      this.index.unsafe += 1;
      return;
    }
    const parts = rel.split('/');
    // Bounded by nodes, not entries: one entry 600 folders deep makes 600 of them.
    if (this.index.entries >= MAX_ENTRIES || this.index.nodes + parts.length > MAX_NODES) {
      this.index.leftOut += 1;
      return;
    }
    this.index.entries += 1;
    let node = this.index.root;
    const size = entry.kind === 'file' ? entry.size : 0;
    const files = entry.kind === 'file' ? 1 : 0;
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      node.size += size;
      node.files += files;
      if (node.kind !== 'dir' || !node.children) {
        // A file with entries below it (a damaged or odd archive): show it as a folder.
        node.kind = 'dir';
        node.children = new Map();
      }
      let child = node.children.get(parts[i]!);
      if (!child) {
        child = last && entry.kind !== 'dir' ? { name: parts[i]!, kind: entry.kind, size: 0, files: 0 } : folder(parts[i]!);
        node.children.set(parts[i]!, child);
        this.index.nodes += 1;
      }
      if (last) {
        if (entry.kind !== 'dir') child.kind = child.children ? 'dir' : entry.kind;
        child.size += size;
        child.files += files;
      }
      node = child;
    }
  }
}

/** One folder of the tree: its children, folders first, then by name. */
export function listFolder(index: ArchiveIndex, folderPath: string): FolderListing {
  const parts = folderPath.split('/').filter((p) => p !== '');
  let node: TreeNode | undefined = index.root;
  for (const part of parts) node = node?.children?.get(part);
  if (!node || !node.children) throw new UsageError(`${folderPath} is not a folder in this backup.`, { code: 'USAGE' });
  const prefix = parts.length > 0 ? `${parts.join('/')}/` : '';
  const children = [...node.children.values()].sort((a, b) => (a.kind === 'dir') !== (b.kind === 'dir') ? (a.kind === 'dir' ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    path: parts.join('/'),
    entries: children.slice(0, MAX_CHILDREN).map((c) => ({ name: c.name, path: `${prefix}${c.name}`, kind: c.kind, size: c.size, files: c.files })),
    more: Math.max(0, children.length - MAX_CHILDREN),
    total: { entries: index.entries, leftOut: index.leftOut, unsafe: index.unsafe },
  };
}

/** Reads the index of `name` in `store` (no cache). */
export async function readIndex(store: ArchiveSource, name: string, options: { signal?: AbortSignal; envPath?: string; threads?: number } = {}): Promise<ArchiveIndex> {
  const format = formatOfName(name);
  if (!format) throw new UsageError(`${name}: not a zip, tar.gz, tar.bz2 or tar archive name.`, { code: 'USAGE' });
  const builder = new IndexBuilder();
  if (format === 'zip') {
    const ranges = await store.openRanges(name, options.signal);
    try {
      const central = await readCentralDirectory(ranges);
      for (const record of central) builder.add(record.entry);
    } finally {
      await ranges.close();
    }
    return builder.index;
  }
  await readArchive({
    store,
    name,
    format,
    signal: options.signal,
    envPath: options.envPath,
    threads: options.threads,
    onEntry: async (entry) => {
      builder.add(entry);
    },
  });
  return builder.index;
}

/** The last few indexes read, by location + size + modification time (a replaced file is read again). */
export class IndexCache {
  private readonly cache = new Map<string, Promise<ArchiveIndex>>();
  private readonly sizes = new Map<string, number>();

  get(location: string, stat: StoredFile, read: () => Promise<ArchiveIndex>): Promise<ArchiveIndex> {
    const key = `${location}\n${stat.size}\n${stat.modified.getTime()}`;
    let found = this.cache.get(key);
    if (found) {
      // Most recently used last.
      this.cache.delete(key);
      this.cache.set(key, found);
      return found;
    }
    found = read();
    this.cache.set(key, found);
    // A failed read is not kept: the next look tries again.
    found.catch(() => this.cache.delete(key));
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    // And at most MAX_NODES nodes kept in all (the newest always): four huge archives would be a lot of memory.
    void found.then(
      (index) => {
        this.sizes.set(key, index.nodes);
        let total = 0;
        for (const k of this.cache.keys()) total += this.sizes.get(k) ?? 0;
        for (const k of [...this.cache.keys()]) {
          if (total <= MAX_NODES || k === key) break;
          total -= this.sizes.get(k) ?? 0;
          this.cache.delete(k);
          this.sizes.delete(k);
        }
      },
      () => this.sizes.delete(key),
    );
    return found;
  }
}

/**
 * An --include pattern that matches exactly `path` (and, for a folder,
 * what is below it): anchored at the archive's root, with the characters
 * gitignore patterns give a meaning to escaped.
 */
export function includePattern(entryPath: string): string {
  let escaped = entryPath.replace(/[\\*?[\]!#]/g, (c) => `\\${c}`);
  // A trailing space is dropped by gitignore unless escaped.
  escaped = escaped.replace(/ +$/, (spaces) => spaces.replace(/ /g, '\\ '));
  return `/${escaped}`;
}
