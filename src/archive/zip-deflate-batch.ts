/**
 * The zip entries of a batch of small files (and folders and symlinks),
 * encoded at once: CRC-32, raw deflate (or stored, when deflating does not
 * make the file smaller), local headers, and the central-directory records
 * with the offset left at 0 for the writer to fill in (it alone knows where
 * the batch lands in the archive). Pure and synchronous: it runs on the zip
 * deflate workers (zip-deflate-worker.ts), a batch at a time, so the main
 * thread does a few operations per batch instead of several per file.
 */
import zlib from 'node:zlib';
import type { ZipItem } from './source-reader.js';
import { METHOD_DEFLATED, METHOD_STORED, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, centralHeader, localHeader, type ZipEntryInfo } from './zip-format.js';

export type SmallZipItem = Extract<ZipItem, { k: 'dir' | 'link' | 'file' }>;

export interface DeflateJob {
  /** File contents; each file item's `at`/`size` point into it. */
  data: ArrayBuffer;
  items: SmallZipItem[];
  level: number;
}

export interface DeflateResult {
  /** Local headers and entry data, in order. */
  local: ArrayBuffer;
  localLength: number;
  /** Central-directory records, offsets 0. */
  central: ArrayBuffer;
  centralLength: number;
  /** Per item: where its entry starts in `local`, its record in `central`, and what was written. */
  localStart: Float64Array;
  centralStart: Float64Array;
  crc: Uint32Array;
  method: Uint8Array;
  compressedSize: Float64Array;
}

/** Local header and central record without the name: fixed part plus the 9-byte timestamp field. */
const LOCAL_FIXED = 30 + 9;
const CENTRAL_FIXED = 46 + 9;

export function withType(mode: number, type: number): number {
  return (mode & ~S_IFMT & 0xffff) | type;
}

/** The entry of `item` as zip-format.ts describes it (offset 0). */
export function itemInfo(item: SmallZipItem, method: number, crc: number, size: number, compressedSize: number): ZipEntryInfo {
  const type = item.k === 'dir' ? S_IFDIR : item.k === 'link' ? S_IFLNK : S_IFREG;
  return {
    name: item.k === 'dir' ? `${item.path}/` : item.path,
    mode: withType(item.mode, type),
    mtime: new Date(item.mtime),
    method,
    crc,
    size,
    compressedSize,
    offset: 0,
    descriptor: false,
    zip64: false,
  };
}

/**
 * zlib options for a one-shot deflate of `size` bytes. The window is no
 * larger than the input needs (zlib allocates and clears it on every call:
 * half the time of a small file went there); the output is the same, since
 * with a window of at least size + 262 bytes (zlib's MIN_LOOKAHEAD) no
 * match is ever out of reach. The output chunk is sized to the input too
 * (the 16 KiB default, a fresh buffer per file, piled up as garbage).
 */
export function deflateOptions(size: number, level: number): zlib.ZlibOptions {
  const bits = Math.ceil(Math.log2(size + 262));
  return {
    level,
    windowBits: Math.min(15, Math.max(9, bits)),
    chunkSize: Math.min(16 * 1024, Math.max(64, 2 ** Math.ceil(Math.log2(size + 64)))),
  };
}

export function deflateBatch(job: DeflateJob): DeflateResult {
  const { items } = job;
  const data = Buffer.from(job.data);
  const targets = items.map((item) => (item.k === 'link' ? Buffer.from(item.target, 'utf8') : undefined));
  let localRoom = 0;
  let centralRoom = 0;
  for (const [i, item] of items.entries()) {
    const nameBytes = Buffer.byteLength(item.path, 'utf8') + 1;
    localRoom += LOCAL_FIXED + nameBytes + (item.k === 'file' ? item.size : (targets[i]?.length ?? 0));
    centralRoom += CENTRAL_FIXED + nameBytes;
  }
  const local = Buffer.from(new ArrayBuffer(localRoom));
  const central = Buffer.from(new ArrayBuffer(centralRoom));
  const n = items.length;
  const result = {
    localStart: new Float64Array(n),
    centralStart: new Float64Array(n),
    crc: new Uint32Array(n),
    method: new Uint8Array(n),
    compressedSize: new Float64Array(n),
  };
  let localLength = 0;
  let centralLength = 0;
  for (const [i, item] of items.entries()) {
    let payload: Buffer;
    let method = METHOD_STORED;
    let crc = 0;
    let size = 0;
    if (item.k === 'file') {
      const contents = data.subarray(item.at, item.at + item.size);
      payload = contents;
      size = contents.length;
      if (size > 0) {
        crc = zlib.crc32(contents);
        const deflated = zlib.deflateRawSync(contents, deflateOptions(size, job.level));
        if (deflated.length < size) {
          payload = deflated;
          method = METHOD_DEFLATED;
        }
      }
    } else if (item.k === 'link') {
      payload = targets[i]!;
      size = payload.length;
      crc = size > 0 ? zlib.crc32(payload) : 0;
    } else {
      payload = data.subarray(0, 0);
    }
    const info = itemInfo(item, method, crc, size, payload.length);
    result.localStart[i] = localLength;
    localLength += localHeader(info).copy(local, localLength);
    localLength += payload.copy(local, localLength);
    result.centralStart[i] = centralLength;
    centralLength += centralHeader(info).copy(central, centralLength);
    result.crc[i] = crc;
    result.method[i] = method;
    result.compressedSize[i] = payload.length;
  }
  return { local: local.buffer as ArrayBuffer, localLength, central: central.buffer as ArrayBuffer, centralLength, ...result };
}

/** What to transfer (not copy) when posting a result. */
export function resultTransfers(result: DeflateResult): ArrayBuffer[] {
  return [
    result.local,
    result.central,
    result.localStart.buffer as ArrayBuffer,
    result.centralStart.buffer as ArrayBuffer,
    result.crc.buffer as ArrayBuffer,
    result.method.buffer as ArrayBuffer,
    result.compressedSize.buffer as ArrayBuffer,
  ];
}
