/**
 * A 4.5 GiB file (sparse: mostly a hole, with random bytes at the start,
 * across the 4 GiB boundary and at the end) through the built CLI as zip
 * (which needs zip64: the size does not fit 32 bits) and tar.gz. Each archive
 * is tested (`unzip -t`, `gzip -t`), read by Python's zipfile / tarfile (the
 * member's size, and its bytes hashed), restored with the system tool and
 * compared by streamed SHA-256; the CLI's peak RSS stays under 200 MiB
 * whatever the file size.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseJsonResult } from '../helpers/cli.js';
import {
  GiB,
  KiB,
  RSS_LIMIT_BYTES,
  bigTempDir,
  mib,
  python,
  record,
  requireFreeSpace,
  run,
  runCliMeasured,
  secs,
  sha256File,
  sharedBigDir,
} from './large-helpers.js';

const SIZE = 4.5 * GiB;
const MEMBER = 'big/sparse.bin';
/** Random bytes at the start, straddling 4 GiB (where 32-bit offsets wrap) and at the very end. */
const PATCHES = [
  { offset: 0, data: randomBytes(4 * KiB) },
  { offset: 4 * GiB - 2 * KiB, data: randomBytes(4 * KiB) },
  { offset: SIZE - 4 * KiB, data: randomBytes(4 * KiB) },
];

/** Python's zipfile: the member's sizes, whether its central-directory entry carries a zip64 extra field, its bytes hashed (CRC checked by zipfile). */
const PY_ZIP = String.raw`
import hashlib, json, struct, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    info = zf.getinfo(sys.argv[2])
    ids, extra = [], info.extra
    while len(extra) >= 4:
        tag, size = struct.unpack('<HH', extra[:4])
        ids.append(tag)
        extra = extra[4 + size:]
    h = hashlib.sha256()
    with zf.open(info) as f:
        while True:
            b = f.read(4 << 20)
            if not b:
                break
            h.update(b)
    print(json.dumps({"entries": len(zf.infolist()), "file_size": info.file_size, "compress_size": info.compress_size,
                      "zip64_extra": 1 in ids, "sha256": h.hexdigest()}))
`;

/** Python's tarfile: the member's size and type, its bytes hashed. */
const PY_TAR = String.raw`
import hashlib, json, sys, tarfile
with tarfile.open(sys.argv[1], 'r:gz') as tf:
    info = tf.getmember(sys.argv[2])
    h = hashlib.sha256()
    f = tf.extractfile(info)
    while True:
        b = f.read(4 << 20)
        if not b:
            break
        h.update(b)
    print(json.dumps({"entries": len(tf.getmembers()), "size": info.size, "is_file": info.isfile(), "sha256": h.hexdigest()}))
`;

let root: string;
let sourceSha: string;

beforeAll(async () => {
  root = await sharedBigDir();
  const file = path.join(root, MEMBER);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, '');
  await fs.truncate(file, SIZE);
  const handle = await fs.open(file, 'r+');
  try {
    for (const { offset, data } of PATCHES) await handle.write(data, 0, data.length, offset);
  } finally {
    await handle.close();
  }
  expect((await fs.stat(file)).size).toBe(SIZE);
  const started = Date.now();
  sourceSha = await sha256File(file);
  record('sparse source', { size: SIZE, sha256: sourceSha, hashSeconds: secs(Date.now() - started) });
});

describe.each(['zip', 'tar.gz'] as const)('a 4.5 GiB sparse file as %s', (format) => {
  it('is archived with flat memory, passes the integrity test, reads in Python and restores byte for byte', async () => {
    // The restore writes the full 4.5 GiB (extractors do not punch holes).
    await requireFreeSpace(SIZE + 2 * GiB);
    const dir = await bigTempDir();
    const figures: Record<string, unknown> = { format };

    const cli = await runCliMeasured(['run', '-s', path.join(root, 'big'), '-d', 'out', '-f', format, '-n', 'sparse', '--json'], { cwd: dir });
    Object.assign(figures, { cliWall: secs(cli.wallMs), peakRss: mib(cli.peakRssBytes), peakRssBytes: cli.peakRssBytes, rssMethod: cli.rssMethod, exitCode: cli.code });
    record(`sparse ${format} (cli)`, figures);
    expect(cli.code, cli.stderr).toBe(0);
    const result = parseJsonResult(cli);
    expect(result).toMatchObject({ ok: true, format, files: 1, sourceBytes: SIZE, error: null, skipped: [] });
    const archive = path.join(dir, result.archive as string);
    expect((await fs.stat(archive)).size).toBe(result.bytes);
    expect(await sha256File(archive)).toBe(result.sha256);
    Object.assign(figures, { archiveBytes: result.bytes, durationMs: result.durationMs });

    // The integrity test of the standard tool.
    const test = format === 'zip' ? await run('unzip', ['-t', archive]) : await run('gzip', ['-t', archive]);
    figures.integrityTest = secs(test.ms);
    expect.soft(test.code, `${format === 'zip' ? 'unzip -t' : 'gzip -t'}:\n${test.stdout}${test.stderr}`).toBe(0);
    if (format === 'zip') expect.soft(test.stdout).toMatch(/No errors detected/);

    // Python reads the member: its size (zip64 for the zip) and its bytes.
    if (format === 'zip') {
      const py = await python(PY_ZIP, archive, MEMBER);
      figures.python = secs(py.run.ms);
      expect.soft(py.run.code, `python zipfile:\n${py.run.stderr}`).toBe(0);
      expect.soft(py.json).toMatchObject({ file_size: SIZE, zip64_extra: true, sha256: sourceSha });
    } else {
      const py = await python(PY_TAR, archive, MEMBER);
      figures.python = secs(py.run.ms);
      expect.soft(py.run.code, `python tarfile:\n${py.run.stderr}`).toBe(0);
      expect.soft(py.json).toMatchObject({ size: SIZE, is_file: true, sha256: sourceSha });
    }

    // Restored with the system tool, compared by streamed SHA-256.
    const restored = path.join(dir, 'restored');
    await fs.mkdir(restored);
    const extract = format === 'zip' ? await run('unzip', ['-q', archive, '-d', restored]) : await run('tar', ['-xzf', archive, '-C', restored]);
    figures.extract = secs(extract.ms);
    expect.soft(extract.code, `extract:\n${extract.stdout}${extract.stderr}`).toBe(0);
    const out = path.join(restored, MEMBER);
    const stat = await fs.stat(out).catch(() => undefined);
    expect.soft(stat?.size, 'restored size').toBe(SIZE);
    if (stat) {
      const started = Date.now();
      expect.soft(await sha256File(out), 'restored SHA-256').toBe(sourceSha);
      figures.restoredHash = secs(Date.now() - started);
    }
    await fs.rm(restored, { recursive: true, force: true });

    // Our own reader: verify (zip64 central directory, every byte inflated and checked) and restore.
    const verify = await runCliMeasured(['verify', archive, '--json'], { cwd: dir });
    Object.assign(figures, { verifyWall: secs(verify.wallMs), verifyPeakRss: mib(verify.peakRssBytes) });
    expect.soft(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect.soft(parseJsonResult(verify).results[0]).toMatchObject({ ok: true, entries: 2, files: 1, fileBytes: SIZE, sha256: result.sha256 });
    const ours = await runCliMeasured(['restore', archive, '--to', 'ours', '--json'], { cwd: dir });
    Object.assign(figures, { restoreWall: secs(ours.wallMs), restorePeakRss: mib(ours.peakRssBytes) });
    expect.soft(ours.code, ours.stdout + ours.stderr).toBe(0);
    expect.soft(parseJsonResult(ours)).toMatchObject({ checksum: 'match', files: 1, bytes: SIZE });
    expect.soft(await sha256File(path.join(dir, 'ours', MEMBER)), 'restored by us: SHA-256').toBe(sourceSha);
    await fs.rm(path.join(dir, 'ours'), { recursive: true, force: true });
    record(`sparse ${format}`, figures);
    expect(verify.peakRssBytes, `verify peak RSS ${mib(verify.peakRssBytes)}`).toBeLessThan(RSS_LIMIT_BYTES);
    expect(ours.peakRssBytes, `restore peak RSS ${mib(ours.peakRssBytes)}`).toBeLessThan(RSS_LIMIT_BYTES);

    // Memory does not grow with the input.
    expect(cli.peakRssBytes, `peak RSS ${mib(cli.peakRssBytes)} (${cli.rssMethod})`).toBeLessThan(RSS_LIMIT_BYTES);
  });
});
