/**
 * Counts what the archive writers have consumed, for progress display and
 * the result. Callers read the counters; `onChange` is throttled by the
 * consumer, not here.
 */
import type { Entry } from './walk.js';

export interface ProgressSnapshot {
  files: number;
  entries: number;
  bytes: number;
}

export class ArchiveProgress {
  /** Regular files stored. */
  files = 0;
  /** All entries stored (files, folders, symlinks). */
  entries = 0;
  /** Source bytes read. */
  bytesRead = 0;

  constructor(private readonly onChange?: (snapshot: ProgressSnapshot) => void) {}

  bytes(n: number): void {
    this.bytesRead += n;
    this.onChange?.(this.snapshot());
  }

  /** Files and entries completed and source bytes read, counted in a batch. */
  add(files: number, entries: number, bytes: number): void {
    this.files += files;
    this.entries += entries;
    this.bytesRead += bytes;
    this.onChange?.(this.snapshot());
  }

  entryDone(entry: Entry): void {
    this.entries += 1;
    if (entry.kind === 'file') this.files += 1;
    this.onChange?.(this.snapshot());
  }

  snapshot(): ProgressSnapshot {
    return { files: this.files, entries: this.entries, bytes: this.bytesRead };
  }
}
