/**
 * Waiting for an event a test can only look at (a file appearing, S3
 * holding a part): looks again until `check` returns something, with the
 * timeout only as a safety net that fails the test when the event never
 * comes. Never a fixed sleep standing in for the event.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
