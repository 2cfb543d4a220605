/**
 * Loaded into the Azurite process (`node --import azurite-guard.mjs
 * azurite/dist/src/blob/main.js ...`, see azurite.ts): when its stdin closes
 * — the test process that started it is gone, even by SIGKILL, which runs no
 * 'exit' handler — it removes its own data folder (AZURITE_GUARD_DIR) and
 * exits. Azurite itself never reads stdin, so nothing else closes it.
 *
 * Plain JavaScript: Node 20 cannot run TypeScript.
 */
import { rmSync } from 'node:fs';

const dir = process.env.AZURITE_GUARD_DIR;

function orphaned() {
  if (dir) rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

process.stdin.on('end', orphaned);
process.stdin.on('error', orphaned);
process.stdin.resume();
// Azurite's own SIGTERM/SIGINT handling closes its server and then waits for
// the event loop to drain, which the open stdin would prevent forever.
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => process.stdin.destroy());
