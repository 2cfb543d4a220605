/** The errors of a spawned compressor (lbzip2, bzip2), shared by the stream filter and the parallel bzip2. */
import path from 'node:path';
import { ArchiveError } from '../errors.js';

/** Why a compressor process failed, as one error: its exit status and what it said on stderr. */
export function compressorFailure(command: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): ArchiveError {
  const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  return new ArchiveError(`${path.basename(command)} ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, { code: 'COMPRESSOR_FAILED' });
}

/** The error for a compressor that could not be started at all. */
export function compressorNotRun(command: string, error: Error): ArchiveError {
  return new ArchiveError(`Could not run ${command}: ${error.message}`, { code: 'COMPRESSOR_FAILED', cause: error });
}
