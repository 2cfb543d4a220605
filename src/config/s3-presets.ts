/**
 * S3-compatible services by name (settings.json `s3.preset`): the endpoint
 * pattern and default region of each, so a user types `r2` and an account
 * id, not a URL. Everything else about a custom endpoint (path-style
 * addressing, checksums only when required) already follows from having an
 * endpoint (src/storage/s3.ts). Pure.
 */
export const S3_PRESETS = ['aws', 'r2', 'b2', 'wasabi', 'spaces', 'gcs', 'minio'] as const;
export type S3Preset = (typeof S3_PRESETS)[number];

/** What a preset needs besides the bucket, for messages. */
const NEEDS: Record<S3Preset, string> = {
  aws: 'nothing more (the AWS endpoints)',
  r2: '"accountId": your Cloudflare account id (32 hex digits, on the R2 overview page)',
  b2: '"region": the region of the bucket\'s endpoint, e.g. "us-west-004" (from s3.us-west-004.backblazeb2.com)',
  wasabi: '"region": the bucket\'s region, e.g. "us-east-1" or "eu-central-1"',
  spaces: '"region": the Space\'s region, e.g. "nyc3" or "fra1"',
  gcs: 'nothing more (Cloud Storage\'s XML API with HMAC keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)',
  minio: '"endpoint": your MinIO server\'s URL, e.g. "https://minio.example.lan:9000"',
};

export interface PresetTarget {
  endpoint?: string;
  region?: string;
}

/**
 * The endpoint and region a preset gives, or a problem naming what is
 * missing. `region` / `accountId` / `endpoint` are what the user gave (an
 * explicit endpoint always wins over the preset's).
 */
export function presetTarget(preset: S3Preset, given: { region?: string; accountId?: string; endpoint?: string }): PresetTarget | { problem: string } {
  const need = (): { problem: string } => ({ problem: `the "${preset}" preset needs ${NEEDS[preset]}` });
  switch (preset) {
    case 'aws':
      return {};
    case 'r2':
      if (given.endpoint) return { region: given.region ?? 'auto' };
      if (!given.accountId || !/^[0-9a-f]{32}$/i.test(given.accountId)) return need();
      return { endpoint: `https://${given.accountId.toLowerCase()}.r2.cloudflarestorage.com`, region: given.region ?? 'auto' };
    case 'b2':
      if (given.endpoint) return {};
      if (!given.region) return need();
      return { endpoint: `https://s3.${given.region}.backblazeb2.com` };
    case 'wasabi':
      if (given.endpoint) return {};
      if (!given.region) return need();
      return { endpoint: given.region === 'us-east-1' ? 'https://s3.wasabisys.com' : `https://s3.${given.region}.wasabisys.com` };
    case 'spaces':
      if (given.endpoint) return {};
      if (!given.region) return need();
      return { endpoint: `https://${given.region}.digitaloceanspaces.com` };
    case 'gcs':
      return given.endpoint ? { region: given.region ?? 'auto' } : { endpoint: 'https://storage.googleapis.com', region: given.region ?? 'auto' };
    case 'minio':
      return given.endpoint ? {} : need();
  }
}
