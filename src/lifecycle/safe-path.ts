/**
 * Is an archive entry's path safe to restore below a folder? Pure. A path
 * is refused when it is absolute (`/etc/x`, `C:\x`), climbs (`..`
 * anywhere), is empty, or holds a NUL byte: the "zip slip" family. The
 * other escape, through a symbolic link restored earlier, is caught when
 * writing (restore.ts never writes through a link).
 */

export type PathCheck = { ok: true; parts: string[] } | { ok: false; reason: string };

export function checkEntryPath(raw: string): PathCheck {
  if (raw.includes('\0')) return { ok: false, reason: 'its name contains a NUL byte' };
  if (raw.startsWith('/')) return { ok: false, reason: 'it has an absolute path' };
  if (/^[A-Za-z]:[\\/]/.test(raw) || raw.startsWith('\\\\')) return { ok: false, reason: 'it has an absolute (Windows) path' };
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) return { ok: false, reason: 'its path contains ".." (it would climb out of the folder)' };
  if (parts.length === 0) return { ok: false, reason: 'its path is empty' };
  return { ok: true, parts };
}


/** Names as they may be printed: control characters escaped (defined beside the readers that decode names). */
export { printable } from '../archive/read/archive-entry.js';
