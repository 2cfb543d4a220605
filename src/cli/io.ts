/**
 * Everything the CLI needs from the outside world, passed in by src/bin.ts
 * (or by tests), so commands never reach for `process` themselves.
 */
import type { Readable, Writable } from 'node:stream';

export type TtyWritable = Writable & { isTTY?: boolean; columns?: number };
export type TtyReadable = Readable & { isTTY?: boolean };

export interface CliIO {
  stdin: TtyReadable;
  stdout: TtyWritable;
  stderr: TtyWritable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  now: () => Date;
  host: string;
  /** The user's home folder, for `~/` in paths. */
  home: string;
}
