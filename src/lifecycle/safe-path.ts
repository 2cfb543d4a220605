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

/**
 * A name as it may be printed or logged: control characters (C0, DEL, C1)
 * escaped as `\xNN` / `\u00NN`, so an archive's names cannot move the cursor,
 * clear the screen or forge a line.
 */
export function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x80 ? `\\x${code.toString(16).toUpperCase().padStart(2, '0')}` : `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
  });
}
