/**
 * Tar archives made by other tools, restored (and verified) by ours: GNU
 * tar, bsdtar and Python's tarfile in each of their formats; sparse files
 * in every sparse format; entry types this tool does not restore; names
 * that are not UTF-8; claims too large to believe; and random bytes.
 * Every archive here is written by a real outside tool (or by Python,
 * byte for byte, where a hostile one is needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeTree, makeRichTree, mtimes, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

async function restore(cwd: string, archive: string, ...args: string[]): Promise<{ code: number | null; result: Record<string, any>; stderr: string }> {
  const run = await runCli(['restore', archive, ...args, '--json'], { cwd });
  return { code: run.code, result: parseJsonResult(run), stderr: run.stderr };
}

function python(script: string, cwd: string): void {
  execFileSync('python3', ['-c', script], { cwd });
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

/** The sidecars our own backups have, written for an outside archive, so `verify` can check all of it. */
async function addSidecars(archive: string, counts: { entries: number; files: number; sourceBytes: number }): Promise<void> {
  const name = path.basename(archive);
  const digest = await sha256(archive);
  await fs.writeFile(`${archive}.sha256`, `${digest}  ${name}\n`);
  const manifest = {
    manifestVersion: 1,
    created: new Date().toISOString(),
    host: 'elsewhere',
    archive: name,
    nameTemplate: '{source}-{date}',
    sources: ['sparse'],
    format: name.replace(/^[^.]*\./, ''),
    ...counts,
    archiveBytes: (await fs.stat(archive)).size,
    sha256: digest,
  };
  await fs.writeFile(`${archive}.manifest.json`, JSON.stringify(manifest));
}

/** Bytes of the tar stream inside an archive (decompressed by the system tools). */
function tarBytes(archive: string): number {
  const filter = archive.endsWith('.gz') ? 'gzip -dc' : archive.endsWith('.bz2') ? 'bzip2 -dc' : 'cat';
  return Number(execFileSync('sh', ['-c', `${filter} < "$1" | wc -c`, 'sh', archive], { encoding: 'utf8' }).trim());
}

const MiB = 1024 * 1024;

/**
 * Sparse files made as a person would: `truncate` for the size, `dd` to put data at offsets.
 * Returns each file's size and SHA-256.
 */
async function makeSparseTree(dir: string): Promise<Map<string, { size: number; sha256: string }>> {
  const src = path.join(dir, 'sparse');
  await fs.mkdir(src);
  await fs.writeFile(path.join(dir, 'chunk'), randomBytes(70_000));
  const script = `
set -e
cd sparse
put() { dd if=../chunk of="$1" bs="$2" count=1 oflag=seek_bytes seek="$3" conv=notrunc status=none; }
# Data in the middle, ending in a hole.
truncate -s 5M holes.bin; put holes.bin 70000 1000000; put holes.bin 5 3000000
# Data at the very start and the very end.
truncate -s 3M ends.bin; put ends.bin 4096 0; put ends.bin 1000 $((3 * 1048576 - 1000))
# Nothing but a hole.
truncate -s 2M all-hole.bin
# Sixty pieces: more than the old GNU header's four (extension blocks), a format 1.0 map over one block.
truncate -s 8M fragments.bin
i=0; while [ $i -lt 60 ]; do put fragments.bin 1000 $((i * 131072 + 123)); i=$((i + 1)); done
printf 'not sparse\\n' > plain.txt
`;
  execFileSync('sh', ['-c', script], { cwd: dir });
  const out = new Map<string, { size: number; sha256: string }>();
  for (const name of await fs.readdir(src)) {
    out.set(name, { size: (await fs.stat(path.join(src, name))).size, sha256: await sha256(path.join(src, name)) });
  }
  return out;
}

const SPARSE_WRITERS: Array<{ name: string; file: string; argv: string[] }> = [
  { name: 'GNU tar --sparse (old GNU format)', file: 'gnu-old.tar', argv: ['tar', '--sparse', '-cf', 'gnu-old.tar', 'sparse'] },
  { name: 'GNU tar -S, gzipped', file: 'gnu-old.tar.gz', argv: ['tar', '-S', '-czf', 'gnu-old.tar.gz', 'sparse'] },
  { name: 'GNU tar pax sparse 0.0', file: 'pax00.tar.gz', argv: ['tar', '--format=pax', '--sparse', '--sparse-version=0.0', '-czf', 'pax00.tar.gz', 'sparse'] },
  { name: 'GNU tar pax sparse 0.1', file: 'pax01.tar', argv: ['tar', '--format=pax', '--sparse', '--sparse-version=0.1', '-cf', 'pax01.tar', 'sparse'] },
  { name: 'GNU tar pax sparse 1.0', file: 'pax10.tar.bz2', argv: ['tar', '--format=pax', '--sparse', '--sparse-version=1.0', '-cjf', 'pax10.tar.bz2', 'sparse'] },
  { name: 'bsdtar default', file: 'bsdtar.tar', argv: ['bsdtar', '-cf', 'bsdtar.tar', 'sparse'] },
  { name: 'bsdtar default, gzipped', file: 'bsdtar.tar.gz', argv: ['bsdtar', '-czf', 'bsdtar.tar.gz', 'sparse'] },
];

describe('sparse files from other tools', () => {
  it.each(SPARSE_WRITERS)('$name: restored byte for byte (holes as holes); verify counts the real sizes', async ({ file, argv }) => {
    const dir = await tempDir();
    const expected = await makeSparseTree(dir);
    const realBytes = [...expected.values()].reduce((sum, f) => sum + f.size, 0);
    execFileSync(argv[0]!, argv.slice(1), { cwd: dir });
    const archive = path.join(dir, file);
    // The writer really stored the files as sparse (else this test would prove nothing).
    expect(tarBytes(archive)).toBeLessThan(MiB);

    const { code, result, stderr } = await restore(dir, archive, '--to', 'out');
    expect(code, stderr).toBe(0);
    expect(result.files).toBe(expected.size);
    expect(result.bytes).toBe(realBytes);
    expect(result.notRestored).toEqual([]);
    for (const [name, want] of expected) {
      const restored = path.join(dir, 'out/sparse', name);
      expect((await fs.stat(restored)).size, name).toBe(want.size);
      expect(await sha256(restored), name).toBe(want.sha256);
    }
    // Holes are written as holes: far fewer blocks than the size.
    expect((await fs.stat(path.join(dir, 'out/sparse/holes.bin'))).blocks * 512).toBeLessThan(MiB);
    expect((await fs.stat(path.join(dir, 'out/sparse/all-hole.bin'))).blocks * 512).toBeLessThan(64 * 1024);

    const entries = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n').length;
    await addSidecars(archive, { entries, files: expected.size, sourceBytes: realBytes });
    const verify = await runCli(['verify', archive, '--json'], { cwd: dir });
    const verified = parseJsonResult(verify);
    expect(verify.code, JSON.stringify(verified.results)).toBe(0);
    expect(verified.results[0].fileBytes).toBe(realBytes);
    expect(verified.results[0].files).toBe(expected.size);
  });
});

describe('entries this tool does not restore', () => {
  it('FIFOs, devices, unknown types and a nameless file are listed with what they are, and the restore exits 1', async () => {
    const dir = await tempDir();
    python(
      `
import tarfile, io
with tarfile.open('special.tar.gz', 'w:gz', format=tarfile.GNU_FORMAT) as t:
    def add(name, kind, data=b'', **extra):
        i = tarfile.TarInfo(name); i.type = kind; i.size = len(data)
        for k, v in extra.items(): setattr(i, k, v)
        t.addfile(i, io.BytesIO(data) if data else None)
    add('data/pipe', tarfile.FIFOTYPE)
    add('data/tty', tarfile.CHRTYPE, devmajor=4, devminor=1)
    add('data/disk', tarfile.BLKTYPE, devmajor=8, devminor=0)
    add('data/odd', b'Q', b'abc')
    add('', tarfile.REGTYPE, b'nameless')
    add('data/ok.txt', tarfile.REGTYPE, b'fine\\n')
`,
      dir,
    );
    const { code, result } = await restore(dir, path.join(dir, 'special.tar.gz'), '--to', 'out');
    expect(code).toBe(1);
    expect(result.error.code).toBe('RESTORE_INCOMPLETE');
    expect(result.notRestored).toEqual([
      { path: 'data/pipe', reason: expect.stringMatching(/^a FIFO \(named pipe\): not restored/) },
      { path: 'data/tty', reason: expect.stringMatching(/^a character device: not restored/) },
      { path: 'data/disk', reason: expect.stringMatching(/^a block device: not restored/) },
      { path: 'data/odd', reason: expect.stringMatching(/^an entry of unknown type 'Q': not restored/) },
      { path: '(no name)', reason: 'a file with no name: not restored' },
    ]);
    // The entry after them (past the unknown entry's data) is restored.
    expect(await fs.readFile(path.join(dir, 'out/data/ok.txt'), 'utf8')).toBe('fine\n');
    expect((await fs.readdir(path.join(dir, 'out/data'))).sort()).toEqual(['ok.txt']);
  });

  it('a GNU tar volume label is listed as one (exit 1), the files after it are restored', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data/a.txt'), 'a\n');
    execFileSync('tar', ['-V', 'Nightly 1', '-czf', 'labelled.tar.gz', 'data'], { cwd: dir });
    const run = await runCli(['restore', 'labelled.tar.gz', '--to', 'out'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('1 entry not restored:\n  - Nightly 1: a GNU tar volume label: not restored');
    expect(await fs.readFile(path.join(dir, 'out/data/a.txt'), 'utf8')).toBe('a\n');
  });
});

describe('names that are not UTF-8', () => {
  // é and è in Latin-1: one byte each (0xE9, 0xE8), not UTF-8. Decoded as UTF-8 both become U+FFFD.
  const NAMES = `[b'data/caf\\xe9.txt', b'data/caf\\xe8.txt']`;
  const WRITERS: Array<{ name: string; script: string }> = [
    {
      name: 'ustar (GNU tar on a Latin-1 system)',
      script: `t = tarfile.open('names.tar.gz', 'w:gz', format=tarfile.USTAR_FORMAT, encoding='latin-1')`,
    },
    {
      name: 'GNU, long names',
      script: `t = tarfile.open('names.tar.gz', 'w:gz', format=tarfile.GNU_FORMAT, encoding='latin-1'); LONG = True`,
    },
    {
      name: 'pax with hdrcharset=BINARY',
      script: `t = tarfile.open('names.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT, encoding='utf-8', errors='surrogateescape'); LONG = True`,
    },
  ];

  it.each(WRITERS)('$name: each file restored under its exact bytes, none lost; names printed escaped', async ({ script }) => {
    const dir = await tempDir();
    python(
      `
import tarfile, io, os
LONG = False
${script}
deep = (b'd' * 120 + b'/') if LONG else b''
for n, raw in enumerate(${NAMES} + [b'data/evil\\x1b[2J.txt']):
    raw = raw.replace(b'data/', b'data/' + deep)
    name = os.fsdecode(raw) if t.encoding == 'utf-8' else raw.decode('latin-1')
    data = b'content %d' % n
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
l = tarfile.TarInfo('data/link'); l.type = tarfile.SYMTYPE
l.linkname = os.fsdecode(deep + b'caf\\xe9.txt') if t.encoding == 'utf-8' else (deep + b'caf\\xe9.txt').decode('latin-1')
t.addfile(l)
h = tarfile.TarInfo('data/hard'); h.type = tarfile.LNKTYPE
h.linkname = os.fsdecode(b'data/' + deep + b'caf\\xe9.txt') if t.encoding == 'utf-8' else (b'data/' + deep + b'caf\\xe9.txt').decode('latin-1')
t.addfile(h)
t.close()
`,
      dir,
    );
    const archive = path.join(dir, 'names.tar.gz');
    const { code, result } = await restore(dir, archive, '--to', 'out', '--overwrite');
    expect(code).toBe(0);
    expect(result.files).toBe(3);
    const long = script.includes('LONG');
    const folder = Buffer.from(path.join(dir, 'out/data', long ? `${'d'.repeat(120)}` : ''));
    const names = (await fs.readdir(folder, { encoding: 'buffer' })).map((b) => b.toString('latin1')).filter((n) => n !== 'link' && n !== 'hard').sort();
    expect(names).toEqual(['caf\xe8.txt', 'caf\xe9.txt', 'evil\x1b[2J.txt']);
    const at = (name: string): Buffer => Buffer.concat([folder, Buffer.from('/'), Buffer.from(name, 'latin1')]);
    expect(await fs.readFile(at('caf\xe9.txt'), 'utf8')).toBe('content 0');
    expect(await fs.readFile(at('caf\xe8.txt'), 'utf8')).toBe('content 1');
    const link = await fs.readlink(Buffer.from(path.join(dir, 'out/data/link')), { encoding: 'buffer' });
    expect(link.toString('latin1')).toBe(`${long ? `${'d'.repeat(120)}/` : ''}caf\xe9.txt`);
    expect((await fs.stat(Buffer.from(path.join(dir, 'out/data/hard')))).ino).toBe((await fs.stat(at('caf\xe9.txt'))).ino);

    // Listed (kept, no --overwrite): the bytes are shown escaped, control characters never raw.
    const run = await runCli(['restore', archive, '--to', 'out'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('caf\\xe9.txt');
    expect(run.stdout).toContain('caf\\xe8.txt');
    expect(run.stdout).toContain('evil\\x1b[2J.txt');
    expect(run.stdout).not.toContain('\x1b');
    expect(run.stdout).not.toContain('\ufffd');
  });

  it('two archive names for one file: the second is not restored, both are named, exit 1; the same name twice is a newer version', async () => {
    const dir = await tempDir();
    python(
      `
import tarfile, io
with tarfile.open('twice.tar', 'w') as t:
    for name, data in [('data/a.txt', b'first'), ('data/./a.txt', b'second'), ('data/b.txt', b'old'), ('data/b.txt', b'new')]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
`,
      dir,
    );
    for (const overwrite of [[], ['--overwrite']]) {
      const { code, result } = await restore(dir, path.join(dir, 'twice.tar'), '--to', `out${overwrite.length}`, ...overwrite);
      expect(code).toBe(1);
      expect(result.notRestored).toEqual([
        { path: 'data/a.txt', reason: 'the archive entries "data/a.txt" and "data/./a.txt" are the same file on disk; the first was restored, this one was not' },
      ]);
      expect(await fs.readFile(path.join(dir, `out${overwrite.length}/data/a.txt`), 'utf8')).toBe('first');
      // `tar -r` appends a newer version under the same name: the later one wins, as in tar.
      expect(await fs.readFile(path.join(dir, `out${overwrite.length}/data/b.txt`), 'utf8')).toBe('new');
    }
  });
});

describe('claims too large to believe', () => {
  const HUGE = 16 * 1024 * 1024;
  const CASES: Array<{ name: string; script: string; message: RegExp }> = [
    {
      name: 'a 16 MB GNU long name',
      script: `t = tarfile.open('big.tar.gz', 'w:gz', format=tarfile.GNU_FORMAT); i = tarfile.TarInfo('data/' + 'n' * ${HUGE}); t.addfile(i, io.BytesIO(b''))`,
      message: /entry 1 \(the tar header at byte 0\): a GNU long name of \d+ bytes, over the limit of 65536 bytes/,
    },
    {
      name: 'a 16 MB GNU long link target',
      script: `t = tarfile.open('big.tar.gz', 'w:gz', format=tarfile.GNU_FORMAT); i = tarfile.TarInfo('data/l'); i.type = tarfile.SYMTYPE; i.linkname = 'x' * ${HUGE}; t.addfile(i)`,
      message: /entry 1 \(the tar header at byte 0\): a GNU long link target of \d+ bytes, over the limit of 65536 bytes/,
    },
    {
      name: 'a 16 MB pax path',
      script: `t = tarfile.open('big.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT); i = tarfile.TarInfo('data/' + 'n' * ${HUGE}); t.addfile(i, io.BytesIO(b''))`,
      message: /entry 1 \(the tar header at byte 0\): a pax header of \d+ bytes, over the limit of 1048576 bytes/,
    },
    {
      name: 'a 100 kB pax linkpath (in a header under the limit)',
      script: `t = tarfile.open('big.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT)
ok = tarfile.TarInfo('data/ok.txt'); ok.size = 2; t.addfile(ok, io.BytesIO(b'ok'))
i = tarfile.TarInfo('data/l'); i.type = tarfile.SYMTYPE; i.linkname = 'x' * 100000; t.addfile(i)`,
      message: /entry 2 \(the tar header at byte 1024\): the pax linkpath is 100000 bytes long, over the limit of 65536 bytes/,
    },
    {
      name: 'a sparse map (format 1.0) of a billion entries',
      script: `t = tarfile.open('big.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT)
data = b'1000000000\\n0\\n1\\n'.ljust(512, b'\\0')
i = tarfile.TarInfo('GNUSparseFile.0/x'); i.size = len(data)
i.pax_headers = {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'data/x', 'GNU.sparse.realsize': '1'}
t.addfile(i, io.BytesIO(data))`,
      message: /the sparse map claims 1000000000 entries, over the limit of 1048576/,
    },
    {
      name: 'a sparse file (format 0.1) of 4 PiB',
      script: `t = tarfile.open('big.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo('data/x'); i.size = 1
i.pax_headers = {'GNU.sparse.major': '0', 'GNU.sparse.minor': '1', 'GNU.sparse.size': str(2**52), 'GNU.sparse.map': '0,1'}
t.addfile(i, io.BytesIO(b'x'))`,
      message: /the sparse files claim 4503599627370496 bytes together, over the limit of 17592186044416 bytes for one archive/,
    },
    {
      // Each below the limit, together over it: a few KB of headers must not cost days of CPU.
      name: 'twenty sparse files (format 0.1) of 1 TiB each',
      script: `t = tarfile.open('big.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT)
for n in range(20):
    i = tarfile.TarInfo('data/x%d' % n); i.size = 1
    i.pax_headers = {'GNU.sparse.major': '0', 'GNU.sparse.minor': '1', 'GNU.sparse.size': str(2**40), 'GNU.sparse.map': '0,1'}
    t.addfile(i, io.BytesIO(b'x'))`,
      message: /entry 17 .*the sparse files claim 18691697672192 bytes together, over the limit of 17592186044416 bytes for one archive/,
    },
    {
      name: 'entries after a lone zero block',
      script: `import gzip
def member(name, data):
    b = io.BytesIO(); u = tarfile.open(fileobj=b, mode='w', format=tarfile.USTAR_FORMAT)
    i = tarfile.TarInfo(name); i.size = len(data); u.addfile(i, io.BytesIO(data)); u.close()
    return b.getvalue()[:1024]
raw = member('data/a.txt', b'first') + bytes(512) + member('data/b.txt', b'second') + bytes(10240)
open('big.tar.gz', 'wb').write(gzip.compress(raw))
t = tarfile.open(fileobj=io.BytesIO(), mode='w')`,
      message: /the tar stream has more data at byte 1536, after its end-of-archive marker at byte 1024/,
    },
  ];

  it.each(CASES)('$name: refused as damage (exit 1), saying what and where', async ({ script, message }) => {
    const dir = await tempDir();
    python(`import tarfile, io\n${script}\nt.close()`, dir);
    const archive = path.join(dir, 'big.tar.gz');
    const { code, result } = await restore(dir, archive, '--to', 'out');
    expect(code).toBe(1);
    expect(result.error.code).toBe('ARCHIVE_DAMAGED');
    expect(result.error.message).toMatch(message);
    const verify = await runCli(['verify', archive, '--json'], { cwd: dir });
    expect(verify.code).toBe(1);
    const read = parseJsonResult(verify).results[0].checks.find((c: { name: string }) => c.name === 'read');
    expect(read).toEqual({ name: 'read', ok: false, detail: expect.stringMatching(message) });
  });
});

/** Deterministic pseudo-random bytes (mulberry32), so a failing seed can be run again. */
function seededBytes(seed: number, length: number): Buffer {
  let state = seed >>> 0;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

describe('damaged input', () => {
  it('random bytes, compressed random bytes and a damaged archive: restore and verify say damage (exit 1), never an unexpected error', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    execFileSync('tar', ['-czf', 'good.tar.gz', 'data'], { cwd: dir });
    execFileSync('tar', ['-cjf', 'good.tar.bz2', 'data'], { cwd: dir });
    const files: string[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      // Small enough that it is all written before the decompressor gives up: that once ended in
      // "Unexpected error: Cannot call end after a stream was destroyed".
      const noise = seededBytes(seed, 4000 + seed * 3000);
      for (const ext of ['tar.gz', 'tar.bz2']) {
        const raw = path.join(dir, `random-${seed}.${ext}`);
        await fs.writeFile(raw, noise);
        files.push(raw);
        if (seed > 2) continue;
        // Valid compression around a tar stream that is noise.
        const wrapped = path.join(dir, `wrapped-${seed}.${ext}`);
        await fs.writeFile(path.join(dir, 'noise'), noise);
        execFileSync('sh', ['-c', `${ext === 'tar.gz' ? 'gzip' : 'bzip2'} -c noise > "$1"`, 'sh', wrapped], { cwd: dir });
        // A good archive with noise written over its middle.
        const hurt = path.join(dir, `hurt-${seed}.${ext}`);
        const good = await fs.readFile(path.join(dir, `good.${ext}`));
        const at = Math.floor((good.length * seed) / 3);
        noise.copy(good, at, 0, Math.min(2048, good.length - at));
        await fs.writeFile(hurt, good);
        files.push(wrapped, hurt);
      }
    }
    for (const file of files) {
      const restored = await restore(dir, file, '--to', path.join(dir, 'out', path.basename(file)));
      expect(restored.code, `${path.basename(file)}: ${restored.result.error?.message}`).toBe(1);
      expect(restored.result.error.code, path.basename(file)).toBe('ARCHIVE_DAMAGED');
      const verify = await runCli(['verify', file, '--json'], { cwd: dir });
      expect(verify.code, path.basename(file)).toBe(1);
      const read = parseJsonResult(verify).results[0].checks.find((c: { name: string }) => c.name === 'read');
      expect(read.ok, path.basename(file)).toBe(false);
      expect(`${verify.stdout}${verify.stderr}${restored.stderr}`).not.toMatch(/Unexpected error/);
    }
  });
});

const PY = (format: string, ext: string): string[] => [
  'python3',
  '-c',
  `import tarfile; t = tarfile.open('x.${ext}', 'w:${ext === 'tar.gz' ? 'gz' : 'bz2'}', format=tarfile.${format}); t.add('data'); t.close()`,
];

const ROUND_TRIP: Array<{ name: string; ext: string; argv: string[] }> = [
  { name: 'GNU tar (gnu format)', ext: 'tar.gz', argv: ['tar', '--format=gnu', '-czf', 'x.tar.gz', 'data'] },
  { name: 'GNU tar (posix format)', ext: 'tar.bz2', argv: ['tar', '--format=posix', '-cjf', 'x.tar.bz2', 'data'] },
  { name: 'GNU tar (ustar format)', ext: 'tar.gz', argv: ['tar', '--format=ustar', '-czf', 'x.tar.gz', 'data'] },
  { name: 'bsdtar', ext: 'tar.gz', argv: ['bsdtar', '-czf', 'x.tar.gz', 'data'] },
  { name: 'bsdtar (gnutar format)', ext: 'tar.gz', argv: ['bsdtar', '--format=gnutar', '-czf', 'x.tar.gz', 'data'] },
  { name: 'Python tarfile (ustar)', ext: 'tar.gz', argv: PY('USTAR_FORMAT', 'tar.gz') },
  { name: 'Python tarfile (gnu)', ext: 'tar.bz2', argv: PY('GNU_FORMAT', 'tar.bz2') },
  { name: 'Python tarfile (pax)', ext: 'tar.gz', argv: PY('PAX_FORMAT', 'tar.gz') },
];

describe('archives from other tools round-trip', () => {
  it.each(ROUND_TRIP)('$name: contents, symlinks, hard links, modes and mtimes', async ({ ext, argv }) => {
    const dir = await tempDir();
    const src = await makeRichTree(dir);
    await fs.link(path.join(src, 'readme.txt'), path.join(src, 'hard-readme.txt'));
    await fs.chmod(path.join(src, 'binary.bin'), 0o600);
    await fs.utimes(path.join(src, 'readme.txt'), new Date('2020-02-03T04:05:06Z'), new Date('2020-02-03T04:05:06Z'));
    await fs.utimes(path.join(src, 'deep/a'), new Date('2019-01-01T00:00:00Z'), new Date('2019-01-01T00:00:00Z'));
    execFileSync(argv[0]!, argv.slice(1), { cwd: dir });
    const { code, result, stderr } = await restore(dir, path.join(dir, `x.${ext}`), '--to', 'out');
    expect(code, stderr).toBe(0);
    expect(result.notRestored).toEqual([]);
    const out = path.join(dir, 'out/data');
    expect(await describeTree(out)).toEqual(await describeTree(src));
    expect(await mtimes(out)).toEqual(await mtimes(src));
    const [a, b] = await Promise.all([fs.stat(path.join(out, 'readme.txt')), fs.stat(path.join(out, 'hard-readme.txt'))]);
    expect(b.ino).toBe(a.ino);
  });
});
