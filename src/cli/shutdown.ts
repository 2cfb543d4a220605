/**
 * How src/bin.ts ends a command after the first SIGTERM / Ctrl-C. By
 * default it aborts the command's signal and, if the command has not ended
 * CANCEL_GRACE_MS later (a clean-up stuck in a hung file system), leaves
 * with exit 130. A command that stops child processes of its own on a
 * longer bounded wait (`backup daemon`: SIGTERM, up to 90 s, then SIGKILL
 * of their process groups) registers that here, so bin.ts does not cut the
 * wait short and leave the children running without it (they are in their
 * own process groups: nothing else would stop them).
 */
export interface OwnShutdown {
  /** How long bin.ts waits after the first signal before it leaves anyway (longer than the command's own wait). */
  graceMs: number;
  /** Called (synchronously) just before bin.ts leaves without the command: a second signal, or graceMs passed. */
  forceStop: () => void;
}

let registered: OwnShutdown | undefined;

/** The running command stops its own children; bin.ts waits for it (see above). */
export function handleOwnShutdown(shutdown: OwnShutdown): void {
  registered = shutdown;
}

export function ownShutdown(): OwnShutdown | undefined {
  return registered;
}
