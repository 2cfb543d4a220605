/**
 * One progress line on a terminal, fitted to its width: the bar takes the
 * room the text leaves (up to MAX_BAR); on a narrow terminal the less
 * important parts go first (the S3 upload, the file count, the label, the
 * sizes, the bar), the percentage, the rate and the ETA last. Redrawn at
 * most every REDRAW_MS, and at once when the terminal is resized, clearing
 * what the old, longer line left behind.
 */
import type { TtyWritable } from './io.js';
import { printable } from '../log/printable.js';

export interface ProgressParts {
  /** What is in progress, e.g. "verifying x.tar.gz" (shown first, shortened or dropped when narrow). */
  label?: string;
  /** 0..1 */
  fraction: number;
  /** "1.2 MiB" */
  done: string;
  /** "5.0 MiB" */
  total?: string;
  /** "12/40 files" */
  files?: string;
  /** "3.1 MiB/s" */
  rate: string;
  /** "1m05s"; undefined while unknown */
  eta?: string;
  /** "S3 1.0 MiB sent, 0.5 MiB/s" */
  extra?: string;
}

const MIN_BAR = 10;
const MAX_BAR = 50;
const MIN_LABEL = 16;
const REDRAW_MS = 125;

function bar(fraction: number, width: number): string {
  const full = Math.round(Math.min(Math.max(fraction, 0), 1) * width);
  return '\u2588'.repeat(full) + '\u2591'.repeat(width - full);
}

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(width - 1, 0))}…`;
}

/** The line for `width` columns: never longer than `width`. Pure. */
export function formatProgressLine(parts: ProgressParts, width: number): string {
  const percent = `${Math.floor(Math.min(Math.max(parts.fraction, 0), 1) * 100)}%`;
  const eta = `ETA ${parts.eta ?? '-'}`;
  const label = parts.label === undefined ? undefined : printable(parts.label);
  // Each step leaves out one more of the less important parts.
  const steps: Array<{ label?: string; size?: string; files?: boolean; extra?: boolean; bar: boolean }> = [
    { label, size: parts.total ? `${parts.done} of ${parts.total}` : parts.done, files: true, extra: true, bar: true },
    { label, size: parts.total ? `${parts.done} of ${parts.total}` : parts.done, files: true, bar: true },
    { label, size: parts.total ? `${parts.done} of ${parts.total}` : parts.done, bar: true },
    { label, size: parts.done, bar: true },
    { label, bar: true },
    { bar: true },
    { bar: false },
  ];
  const compose = (step: (typeof steps)[number], stepLabel: string | undefined, barText: string | undefined): string => {
    const head = [stepLabel, barText, percent].filter((s) => s !== undefined && s !== '').join(' ');
    const tail = [step.size, step.files ? parts.files : undefined, `${parts.rate}`, step.extra ? parts.extra : undefined, eta].filter(
      (s): s is string => s !== undefined && s !== '',
    );
    return ` ${[head, ...tail].join(' | ')}`;
  };
  for (const step of steps) {
    const withoutBar = compose(step, step.label, step.bar ? '' : undefined);
    const room = width - withoutBar.length - (step.bar ? 1 : 0);
    if (!step.bar) {
      if (withoutBar.length <= width) return withoutBar;
      continue;
    }
    if (room >= MIN_BAR) return compose(step, step.label, bar(parts.fraction, Math.min(room, MAX_BAR)));
    // The label can give up some of its room before it goes.
    if (step.label !== undefined) {
      const labelRoom = step.label.length - (MIN_BAR - room);
      if (labelRoom >= MIN_LABEL) return compose(step, shorten(step.label, labelRoom), bar(parts.fraction, MIN_BAR));
    }
  }
  // The fewest words that still say how far, how fast and how long.
  for (const compact of [` ${percent} | ${parts.rate} | ${eta}`, ` ${percent} ${parts.rate} ${eta}`, `${percent} ${parts.rate} ${parts.eta ?? '-'}`]) {
    if (compact.length <= width) return compact;
  }
  return shorten(`${percent} ${parts.rate} ${parts.eta ?? '-'}`, width);
}

/** The progress line showing on each stream, so other output can go above it. */
const shown = new WeakMap<TtyWritable, ProgressLine>();

/**
 * Writes text (whole lines) to a stream that may be showing a progress
 * line: the line is cleared first and drawn again below the text, so a
 * warning never ends up glued to the bar.
 */
export function writeAbove(stream: TtyWritable, text: string): void {
  const line = shown.get(stream);
  if (!line) {
    stream.write(text);
    return;
  }
  stream.write(`\r\x1b[K${text}`);
  line.update(true);
}

/** Draws one progress line on a terminal stream (stderr), fitted to its width, until stop(). */
export class ProgressLine {
  private lastDraw = 0;
  private lastLength = 0;
  private stopped = false;
  private readonly onResize = (): void => this.redrawAfterResize();

  constructor(
    private readonly stream: TtyWritable,
    private readonly line: (width: number) => string,
    private readonly now: () => number = Date.now,
  ) {
    stream.on('resize', this.onResize);
    shown.set(stream, this);
  }

  /** Columns available: one less than the terminal, so the line never wraps at the edge. */
  private width(): number {
    const columns = this.stream.columns;
    return Math.max((columns && columns > 0 ? columns : 80) - 1, 1);
  }

  /** Redraws when the last drawing is older than REDRAW_MS (or `force`). */
  update(force = false): void {
    if (this.stopped) return;
    // Nothing drawn yet: text written above needs no redraw.
    if (force && this.lastDraw === 0) return;
    const now = this.now();
    if (!force && this.lastDraw !== 0 && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.draw('\r');
  }

  private draw(prefix: string): void {
    const text = this.line(this.width());
    this.lastLength = text.length;
    // Back to the start of the line, the new text, clear to the end of the line.
    this.stream.write(`${prefix}${text}\x1b[K`);
  }

  /**
   * After a resize, a terminal that rewraps its lines may have split the old
   * line over several rows: go up to its first row and clear to the end of the screen.
   */
  private redrawAfterResize(): void {
    if (this.stopped || this.lastDraw === 0) return;
    const columns = this.stream.columns && this.stream.columns > 0 ? this.stream.columns : 80;
    const rows = Math.floor(Math.max(this.lastLength - 1, 0) / columns);
    this.draw(`${rows > 0 ? `\x1b[${rows}A` : ''}\r\x1b[J`);
  }

  /** Clears the line and stops listening to the terminal. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stream.off('resize', this.onResize);
    if (shown.get(this.stream) === this) shown.delete(this.stream);
    if (this.lastDraw !== 0) this.stream.write('\r\x1b[K');
  }
}
