/**
 * Real files in temp folders: a fresh folder per test, and a source tree
 * with the awkward cases every round trip must survive.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach } from 'vitest';

const created: string[] = [];

/** A new empty folder, removed after the test (mode 0755 so a dropped-privilege child can enter it). */
export async function tempDir(prefix = 'backup-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o755);
  created.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of created.splice(0)) {
    await fs.chmod(dir, 0o755).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
});

/**
 * Builds `root/data` with: unicode and spaced names, deep folders, an empty
 * folder, an empty file, binary data, an executable, a relative symlink, a
 * symlink to a folder, a long path (> 100 bytes: needs a pax header).
 * Returns the source folder.
 */
export async function makeRichTree(root: string, name = 'data'): Promise<string> {
  const src = path.join(root, name);
  const write = async (rel: string, content: string | Buffer, mode?: number): Promise<void> => {
    const file = path.join(src, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
    if (mode !== undefined) await fs.chmod(file, mode);
  };
  await write('readme.txt', 'hello backup\n');
  await write('spaced name with  two spaces.txt', 'spaces\n');
  await write('ünïcödé/日本語 ファイル.txt', 'unicode ✓\n');
  await write('deep/a/b/c/d/e/f/g/h/leaf.txt', 'deep\n');
  await write('empty-file', '');
  await write('binary.bin', randomBytes(300_000));
  await write('zeros.bin', Buffer.alloc(70_000));
  await write('bin/run.sh', '#!/bin/sh\necho run\n', 0o755);
  await write(`${'long-folder-name-'.repeat(5)}/${'long-file-name-'.repeat(6)}.txt`, 'long path\n');
  await fs.mkdir(path.join(src, 'empty-folder'), { recursive: true });
  await fs.symlink('readme.txt', path.join(src, 'link-to-readme'));
  await fs.symlink('../deep', path.join(src, 'bin/link-to-deep'));
  return src;
}

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink';
  /** sha-like fingerprint of a file's bytes (hex), or the link target. */
  content?: string;
  executable?: boolean;
  mode?: number;
}

/** Describes a tree: relative path -> type, content (files: the bytes as hex of sha256), exec bit, link target. */
export async function describeTree(root: string): Promise<Map<string, TreeEntry>> {
  const { createHash } = await import('node:crypto');
  const out = new Map<string, TreeEntry>();
  async function visit(dir: string, rel: string): Promise<void> {
    for (const name of (await fs.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const stat = await fs.lstat(abs);
      if (stat.isSymbolicLink()) out.set(r, { type: 'symlink', content: await fs.readlink(abs) });
      else if (stat.isDirectory()) {
        out.set(r, { type: 'dir' });
        await visit(abs, r);
      } else if (stat.isFile()) {
        const hash = createHash('sha256').update(await fs.readFile(abs)).digest('hex');
        out.set(r, { type: 'file', content: hash, executable: (stat.mode & 0o100) !== 0, mode: stat.mode & 0o777 });
      }
    }
  }
  await visit(root, '');
  return out;
}

/** Extracts an archive with the system tool (the second reader) into `into`. */
export function extractWithSystemTool(archive: string, into: string): void {
  if (archive.endsWith('.zip')) execFileSync('unzip', ['-q', archive, '-d', into]);
  else if (archive.endsWith('.tar.gz')) execFileSync('tar', ['-xzf', archive, '-C', into]);
  else if (archive.endsWith('.tar.bz2')) execFileSync('tar', ['-xjf', archive, '-C', into]);
  else throw new Error(`unknown archive type: ${archive}`);
}

/** Files in a folder, sorted, for "what was left behind" checks. */
export async function listDir(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

/** Relative path -> mtime in whole seconds, for files and folders (symlinks left out). */
export async function mtimes(root: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  async function visit(dir: string, rel: string): Promise<void> {
    for (const name of await fs.readdir(dir)) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const stat = await fs.lstat(abs);
      if (stat.isSymbolicLink()) continue;
      out.set(r, Math.floor(stat.mtimeMs / 1000));
      if (stat.isDirectory()) await visit(abs, r);
    }
  }
  await visit(root, '');
  return out;
}

/** `size` random bytes in 1 MiB chunks, produced on demand (bounded memory); `digest()` once consumed. */
export function randomSource(size: number): { stream: Readable; digest: () => string; produced: () => number } {
  const MiB = 1024 * 1024;
  const hash = createHash('sha256');
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= size) return void this.push(null);
      const chunk = randomBytes(Math.min(MiB, size - produced));
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex'), produced: () => produced };
}
