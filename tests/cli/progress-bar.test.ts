/**
 * The progress line fits the terminal: never longer than its width, the
 * rate and ETA kept down to 20 columns, less important parts left out
 * first; a resize redraws without leaving the old line behind.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatProgressLine, ProgressLine, writeAbove } from '../../src/cli/progress-line.js';
import { runProgressParts } from '../../src/cli/progress-bar.js';
import { byteProgressParts } from '../../src/cli/byte-progress.js';
import type { TtyWritable } from '../../src/cli/io.js';

const GiB = 1024 ** 3;
const run = runProgressParts({ bytes: 1.5 * GiB, totalBytes: 4 * GiB, files: 123_456, totalFiles: 300_000, uploadedBytes: 1.2 * GiB } as never, 75);
const verify = byteProgressParts('verifying data-20261126-020000-with-a-long-name.tar.gz', 700 * 1024 ** 2, 2 * GiB, 30);

describe('formatProgressLine', () => {
  const widths = Array.from({ length: 181 }, (_, i) => i + 20);
  it.each([
    ['run', run],
    ['verify', verify],
  ])('%s: at every width from 20 to 200, no longer than the width, rate and ETA kept', (_name, parts) => {
    for (const width of widths) {
      const line = formatProgressLine(parts, width);
      expect(line.length, `width ${width}: ${line}`).toBeLessThanOrEqual(width);
      expect(line, `width ${width}`).toContain(parts.rate);
      expect(line, `width ${width}`).toMatch(width >= 24 ? /ETA (\d+m)?\d+s$/ : / (\d+m)?\d+s$/);
      expect(line, `width ${width}`).toMatch(/\d+%/);
    }
  });

  it('wide: everything, and the bar grows with the room (up to its maximum)', () => {
    const at120 = formatProgressLine(run, 120);
    expect(at120).toContain('1.5 GiB of 4.0 GiB');
    expect(at120).toContain('123456/300000 files');
    expect(at120).toContain('S3 1.2 GiB sent');
    const bar = (line: string): number => (line.match(/[\u2588\u2591]+/)?.[0] ?? '').length;
    expect(bar(formatProgressLine(run, 140))).toBeGreaterThan(bar(at120));
    expect(bar(formatProgressLine(run, 200))).toBe(50);
    expect(formatProgressLine(verify, 150)).toMatch(/^ verifying data-20261126-020000-with-a-long-name\.tar\.gz [\u2588\u2591]+ 34% \| 700 MiB of 2\.0 GiB \| /);
  });

  it('narrow: the S3 part and the file count go before the sizes, the label shortens then goes, the bar last', () => {
    const at100 = formatProgressLine(run, 100);
    expect(at100).not.toContain('S3');
    expect(at100).toContain('files');
    expect(formatProgressLine(run, 80)).not.toContain('files');
    expect(formatProgressLine(run, 80)).toContain('1.5 GiB of 4.0 GiB');
    expect(formatProgressLine(verify, 80)).toMatch(/^ verifying data-\S*… [\u2588\u2591]{10} 34% \| 700 MiB of 2\.0 GiB \| /);
    expect(formatProgressLine(verify, 45)).toMatch(/^ [\u2588\u2591]+ 34% \| /);
    const at30 = formatProgressLine(run, 30);
    expect(at30).not.toMatch(/[\u2588\u2591]/);
    expect(at30).toBe(' 37% | 20 MiB/s | ETA 2m05s');
    expect(formatProgressLine(run, 20)).toBe('37% 20 MiB/s 2m05s');
  });

  it('escapes a hostile label', () => {
    expect(formatProgressLine({ ...verify, label: 'restoring \x1b[2Jx' }, 120)).toContain('restoring \\x1b[2Jx');
  });
});

describe('ProgressLine', () => {
  function terminal(columns: number): { stream: TtyWritable; written: () => string } {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns });
    let text = '';
    stream.setEncoding('utf8').on('data', (d: string) => (text += d));
    return { stream, written: () => text.replace(/\r/g, '<CR>').replace(/\x1b/g, '<ESC>') };
  }

  it('draws from the start of the line and clears to its end; redraws at most every 125 ms', async () => {
    const t = terminal(100);
    let now = 1000;
    const line = new ProgressLine(t.stream, (width) => `w${width}`, () => now);
    line.update();
    now += 50;
    line.update();
    now += 100;
    line.update();
    line.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.written()).toBe('<CR>w99<ESC>[K<CR>w99<ESC>[K<CR><ESC>[K');
  });

  it('a resize redraws at the new width; shrinking goes up over the rewrapped rows and clears below', async () => {
    const t = terminal(120);
    const line = new ProgressLine(t.stream, (width) => 'x'.repeat(width), () => 5000);
    line.update();
    t.stream.columns = 50;
    t.stream.emit('resize');
    t.stream.columns = 200;
    t.stream.emit('resize');
    line.stop();
    t.stream.emit('resize'); // after stop: nothing
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.written()).toBe(
      `<CR>${'x'.repeat(119)}<ESC>[K` + `<ESC>[2A<CR><ESC>[J${'x'.repeat(49)}<ESC>[K` + `<CR><ESC>[J${'x'.repeat(199)}<ESC>[K` + '<CR><ESC>[K',
    );
    expect(t.stream.listenerCount('resize')).toBe(0);
  });

  it('a warning written meanwhile goes above the line, which is drawn again below it', async () => {
    const t = terminal(40);
    writeAbove(t.stream, 'before\n');
    const line = new ProgressLine(t.stream, () => 'bar', () => 1000);
    writeAbove(t.stream, 'not drawn yet\n');
    line.update();
    writeAbove(t.stream, 'warning: skipped x\n');
    line.stop();
    writeAbove(t.stream, 'after\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.written()).toBe(
      'before\n<CR><ESC>[Knot drawn yet\n<CR>bar<ESC>[K<CR><ESC>[Kwarning: skipped x\n<CR>bar<ESC>[K<CR><ESC>[Kafter\n',
    );
  });
});
