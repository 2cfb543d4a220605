/**
 * vitest globalSetup: one real S3-compatible server for the whole run
 * (a throw-away Ceph radosgw on 127.0.0.1, or S3_TEST_ENDPOINT), warmed up
 * outside any test's timeout, stopped at the end. Tests read it with
 * `inject('s3')`. If no server can be had the run fails: S3 tests never
 * silently skip.
 */
import type { TestProject } from 'vitest/node';
import { s3TestServer, warmUp } from '../helpers/ceph.js';

declare module 'vitest' {
  export interface ProvidedContext {
    s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The SDK's "releases after January 2027 need Node 22" notice: noise in the test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'note: not running as root: the tests that drop privileges (setpriv), mount a tmpfs or chown are skipped; run npm test as root for all of them.\n',
    );
  }
  const server = await s3TestServer();
  try {
    await warmUp(server.endpoint, server);
  } catch (error) {
    await server.stop();
    throw error;
  }
  project.provide('s3', {
    endpoint: server.endpoint,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    region: server.region,
  });
  return () => server.stop();
}
