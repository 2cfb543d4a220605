/**
 * Azure stores for the tests: one Azurite (tests/helpers/azurite.ts), one
 * container per test file, a fresh prefix per store, and direct SDK access
 * to see what the server holds.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  type ContainerClient,
} from '@azure/storage-blob';
import { openAzureStore, type AzureTarget } from '../../src/storage/azure.js';
import type { Store } from '../../src/storage/store.js';
import { startAzurite, type AzuriteServer } from './azurite.js';

export interface AzureFixture {
  azurite: AzuriteServer;
  container: ContainerClient;
  containerName: string;
  /** The target of a fresh location (new prefix) with the account key in env. */
  target(overrides?: Partial<AzureTarget>): AzureTarget;
  keyEnv(): Record<string, string | undefined>;
  open(target: AzureTarget, env?: Record<string, string | undefined>): Store;
  /** Committed blob names under `prefix` (the server's view; uncommitted blocks are invisible and cannot be deleted). */
  rawNames(prefix: string): Promise<string[]>;
  /** Names under `prefix` that have uncommitted blocks only. */
  uncommittedNames(prefix: string): Promise<string[]>;
  sas(permissions: string): string;
  stop(): Promise<void>;
}

export async function startAzureFixture(): Promise<AzureFixture> {
  const azurite = await startAzurite();
  const service = new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
  const containerName = `backups-${randomUUID().slice(0, 8)}`;
  const container = service.getContainerClient(containerName);
  await container.create();
  const opened: Store[] = [];
  const names = async (prefix: string, uncommitted: boolean) => {
    const out: string[] = [];
    for await (const item of container.listBlobsFlat({ prefix, includeUncommitedBlobs: uncommitted })) out.push(item.name);
    return out.sort();
  };
  return {
    azurite,
    container,
    containerName,
    target: (overrides = {}) => ({
      container: containerName,
      prefix: `t-${randomUUID().slice(0, 8)}/`,
      account: azurite.accountName,
      endpoint: azurite.endpoint,
      timeoutSeconds: 10,
      ...overrides,
    }),
    keyEnv: () => ({ AZURE_STORAGE_KEY: azurite.accountKey }),
    open(target, env = { AZURE_STORAGE_KEY: azurite.accountKey }) {
      const store = openAzureStore(target, { name: 'blob', env, home: os.homedir(), cwd: process.cwd() });
      opened.push(store);
      return store;
    },
    rawNames: (prefix) => names(prefix, false),
    async uncommittedNames(prefix) {
      const all = await names(prefix, true);
      const committed = new Set(await names(prefix, false));
      return all.filter((n) => !committed.has(n));
    },
    sas(permissions) {
      return generateBlobSASQueryParameters(
        {
          containerName,
          permissions: ContainerSASPermissions.parse(permissions),
          startsOn: new Date(Date.now() - 60_000),
          expiresOn: new Date(Date.now() + 3_600_000),
        },
        new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
      ).toString();
    },
    async stop() {
      for (const store of opened) await store.close();
      await azurite.stop();
    },
  };
}
