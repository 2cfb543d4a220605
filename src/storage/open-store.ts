/**
 * The one place that turns a destination's options into a Store of its
 * kind. Each kind's module (and its SDK) is loaded only when a destination
 * of that kind is used: the AWS and Azure SDKs are most of the start-up time.
 */
import type { Store } from './store.js';
import type { S3Target } from './s3.js';
import type { AzureTarget } from './azure.js';
import type { SftpEntry } from './sftp-target.js';
import type { RcloneTarget } from './rclone.js';
import type { Logger } from '../log/logger-types.js';

/** What a store may read from its surroundings: never a global, so tests pass their own. */
export interface StoreContext {
  /** The destination's name (settings.json), for messages and the result. */
  name: string;
  env: Record<string, string | undefined>;
  home: string;
  cwd: string;
  /** Warnings a store has to give while it works (a reconnect); default: none. */
  logger?: Logger;
}

export type StoreSpec =
  | { name: string; type: 'local'; path: string }
  | { name: string; type: 's3'; target: S3Target }
  | { name: string; type: 'azure'; target: AzureTarget }
  | { name: string; type: 'sftp'; target: SftpEntry }
  | { name: string; type: 'rclone'; target: RcloneTarget };

export async function openStore(spec: StoreSpec, ctx: Omit<StoreContext, 'name'>): Promise<Store> {
  switch (spec.type) {
    case 'local': {
      const { LocalStore } = await import('./local-store.js');
      return new LocalStore(spec.path, spec.name);
    }
    case 's3': {
      const [{ createS3Client }, { S3Store }] = await Promise.all([import('./s3.js'), import('./s3-store.js')]);
      return new S3Store(createS3Client(spec.target), spec.target, spec.name);
    }
    case 'azure': {
      const { openAzureStore } = await import('./azure.js');
      return openAzureStore(spec.target, { ...ctx, name: spec.name });
    }
    case 'sftp': {
      const [{ openSftpStore }, { sftpTargetFromSettings }] = await Promise.all([import('./sftp.js'), import('./sftp-target.js')]);
      return openSftpStore(sftpTargetFromSettings(spec.target, ctx), { ...ctx, name: spec.name });
    }
    case 'rclone': {
      const { openRcloneStore } = await import('./rclone.js');
      return openRcloneStore(spec.target, { ...ctx, name: spec.name });
    }
  }
}
