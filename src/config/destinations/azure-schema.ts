/**
 * settings.json `destinations[]` entry of type `azure` (Azure Blob Storage).
 * Secrets are never fields: the connection string, account key or SAS token
 * come from the environment (or .env), under the default names below or the
 * names given by `connectionStringEnv` / `keyEnv` / `sasEnv`; with none of
 * them set, DefaultAzureCredential (`az login`, managed identity, workload
 * identity, AZURE_CLIENT_ID/SECRET/TENANT_ID) is used for `account`.
 */
import { z } from 'zod';
import { envNameSchema } from '../notify-schema.js';
import { destinationNameSchema } from '../destinations-schema.js';

export const AZURE_TIERS = ['Hot', 'Cool', 'Cold', 'Archive'] as const;
export type AzureTier = (typeof AZURE_TIERS)[number];

/** Default environment variable names (README). */
export const AZURE_ENV_DEFAULTS = {
  connectionStringEnv: 'AZURE_STORAGE_CONNECTION_STRING',
  accountEnv: 'AZURE_STORAGE_ACCOUNT',
  keyEnv: 'AZURE_STORAGE_KEY',
  sasEnv: 'AZURE_STORAGE_SAS_TOKEN',
} as const;

/** Azure's container naming rules (https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata). */
export const azureContainerSchema = z
  .string()
  .trim()
  .min(3, 'a container name has 3 to 63 characters')
  .max(63, 'a container name has 3 to 63 characters')
  .refine((value) => !value.includes('/'), { error: 'a container name has no slashes (put folders in "prefix")' })
  .refine((value) => /^[a-z0-9-]+$/.test(value), { error: 'a container name has only lowercase letters, digits and hyphens' })
  .refine((value) => /^[a-z0-9].*[a-z0-9]$/.test(value) && !value.includes('--'), {
    error: 'a container name begins and ends with a letter or digit and has no two hyphens in a row',
  });

export const azureAccountSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9]{3,24}$/, 'a storage account name has 3 to 24 lowercase letters and digits (the NAME, not a URL or a key)');

/** Not imported from schema.ts: schema.ts will import this file (no import cycle). */
const endpointSchema = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

export const azureTierSchema = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .refine((value) => AZURE_TIERS.some((tier) => tier.toLowerCase() === value), {
    error: `expected one of ${AZURE_TIERS.join(', ')}`,
  })
  .transform((value) => AZURE_TIERS.find((tier) => tier.toLowerCase() === value)!);

export const azureDestinationSchema = z
  .object({
    /** Default: the type ("azure"); needed to tell two Azure destinations apart. */
    name: destinationNameSchema.optional(),
    type: z.literal('azure'),
    container: azureContainerSchema,
    /** Blob name prefix, used as given (`host1/` for a folder-like prefix). */
    prefix: z
      .string()
      .max(900, 'a prefix is at most 900 characters (a blob name is at most 1024)')
      .refine((value) => !value.startsWith('/'), { error: 'a prefix does not start with "/" (write "host1/", not "/host1/")' })
      .default(''),
    /** The storage account's name; needed unless a connection string is set. Not a secret. */
    account: azureAccountSchema.optional(),
    /** The blob service URL (Azurite, sovereign clouds, private endpoints); default https://ACCOUNT.blob.core.windows.net. */
    endpoint: endpointSchema.optional(),
    /** Access tier set on the archive at commit; default: the account's default tier. Sidecars stay in it. */
    tier: azureTierSchema.optional(),
    connectionStringEnv: envNameSchema.optional(),
    keyEnv: envNameSchema.optional(),
    sasEnv: envNameSchema.optional(),
    /** A request without an answer (or an upload without progress) this long fails; default 60. */
    timeoutSeconds: z.number().positive().max(3600).optional(),
  })
  .strict();

export type AzureDestinationSettings = z.infer<typeof azureDestinationSchema>;

/**
 * Why `key` cannot be an account key, or undefined. Azure's keys are base64
 * (64 bytes: 88 characters ending in "=="); anything else would only fail
 * later as "the server refused the signature", after a round trip.
 */
export function azureKeyProblem(key: string): string | undefined {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(key) && key.length % 4 === 0
    ? undefined
    : 'an account key is base64 (88 characters ending in "==", on the storage account\'s "Access keys" page; copy "Key", not the connection string)';
}
