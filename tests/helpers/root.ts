/**
 * Tests that only mean something as root: dropping privileges with setpriv
 * (root reads every file, so "unreadable" needs another user), mounting a
 * small tmpfs for a full disk, chown. Not root: they are skipped, their
 * names say why, and the run says so once (tests/setup/s3-server.ts).
 */
import { it } from 'vitest';

export const IS_ROOT = process.getuid?.() === 0;

export const ROOT_NOTE = 'needs root: setpriv / mount / chown';

/** `it` for a test that needs root; skipped with the reason in its name otherwise. */
export function itAsRoot(name: string, fn: () => Promise<void> | void, timeout?: number): void {
  if (IS_ROOT) it(name, fn, timeout);
  else it.skip(`${name} [skipped: ${ROOT_NOTE}]`, fn, timeout);
}
