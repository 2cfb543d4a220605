/**
 * settings.json `s3.preset`: a user names the service (and an account id or
 * a region) instead of typing an endpoint URL. Pure tables for the endpoint
 * each preset gives and what it needs; the merge's precedence (an explicit
 * endpoint or region always wins); and one real upload through a preset to
 * the suite's S3 server (`minio`, with the server's endpoint).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { presetTarget, type S3Preset } from '../../src/config/s3-presets.js';
import { checkS3Target, mergeSettings } from '../../src/config/merge-settings.js';
import { validateSettings } from '../../src/config/load-settings.js';
import { ConfigError } from '../../src/errors.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { freshBucket, listKeys, s3Env, s3Server } from '../helpers/s3.js';

const ACCOUNT = '0123456789abcdef0123456789abcdef';

describe('presetTarget', () => {
  it.each<[S3Preset, { region?: string; accountId?: string; endpoint?: string }, object]>([
    ['aws', {}, {}],
    ['r2', { accountId: ACCOUNT }, { endpoint: `https://${ACCOUNT}.r2.cloudflarestorage.com`, region: 'auto' }],
    ['r2', { accountId: ACCOUNT.toUpperCase(), region: 'eeur' }, { endpoint: `https://${ACCOUNT}.r2.cloudflarestorage.com`, region: 'eeur' }],
    ['b2', { region: 'us-west-004' }, { endpoint: 'https://s3.us-west-004.backblazeb2.com' }],
    ['wasabi', { region: 'eu-central-1' }, { endpoint: 'https://s3.eu-central-1.wasabisys.com' }],
    ['wasabi', { region: 'us-east-1' }, { endpoint: 'https://s3.wasabisys.com' }],
    ['spaces', { region: 'fra1' }, { endpoint: 'https://fra1.digitaloceanspaces.com' }],
    ['gcs', {}, { endpoint: 'https://storage.googleapis.com', region: 'auto' }],
    ['minio', { endpoint: 'http://127.0.0.1:9000' }, {}],
    // An explicit endpoint wins over the preset's.
    ['b2', { endpoint: 'https://b2.example.lan' }, {}],
  ])('%s %j -> %j', (preset, given, expected) => {
    expect(presetTarget(preset, given)).toEqual(expected);
  });

  it.each<[S3Preset, { region?: string; accountId?: string }, RegExp]>([
    ['r2', {}, /"r2" preset needs "accountId": your Cloudflare account id/],
    ['r2', { accountId: 'not-hex' }, /"r2" preset needs "accountId"/],
    ['b2', {}, /"b2" preset needs "region"/],
    ['wasabi', {}, /"wasabi" preset needs "region"/],
    ['spaces', {}, /"spaces" preset needs "region"/],
    ['minio', { region: 'us-east-1' }, /"minio" preset needs "endpoint"/],
  ])('%s %j: says what is missing', (preset, given, problem) => {
    const result = presetTarget(preset, given);
    expect('problem' in result && result.problem).toMatch(problem);
  });
});

describe('presets in settings.json', () => {
  it('the preset fills in endpoint and region; flags and the environment still win', () => {
    const file = validateSettings({ s3: { bucket: 'b', preset: 'r2', accountId: ACCOUNT } }, 'f');
    expect(mergeSettings(file, {}).s3).toMatchObject({ endpoint: `https://${ACCOUNT}.r2.cloudflarestorage.com`, region: 'auto', preset: 'r2' });
    expect(mergeSettings(file, { s3Endpoint: 'http://127.0.0.1:9000', s3Region: 'x-1' }).s3).toMatchObject({ endpoint: 'http://127.0.0.1:9000', region: 'x-1' });
    expect(mergeSettings(file, {}, { AWS_ENDPOINT_URL_S3: 'https://proxy.lan' }).s3).toMatchObject({ endpoint: 'https://proxy.lan' });
  });

  it('a preset missing what it needs is a configuration error naming it (exit 2), before any request', () => {
    const file = validateSettings({ s3: { bucket: 'b', preset: 'b2' } }, 'settings.json');
    expect(() => checkS3Target(mergeSettings(file, {}).s3, { file: 'settings.json' })).toThrow(
      new ConfigError('settings.json', 's3.preset: the "b2" preset needs "region": the region of the bucket\'s endpoint, e.g. "us-west-004" (from s3.us-west-004.backblazeb2.com)'),
    );
  });

  it.each([
    [{ s3: { bucket: 'b', preset: 'backblaze' } }, 's3.preset: expected one of "aws", "r2", "b2", "wasabi", "spaces", "gcs", "minio"'],
    [{ s3: { bucket: 'b', preset: 'r2', accountId: 'abc' } }, 's3.accountId: expected the 32 hex digits of your Cloudflare account id'],
  ])('%j -> %s', (data, message) => {
    expect(() => validateSettings(data, 'settings.json')).toThrow(new ConfigError('settings.json', message));
  });

  it('a real upload through the "minio" preset to the suite\'s S3 server', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const bucket = await freshBucket();
    await fs.mkdir(path.join(root, 'config'));
    await fs.writeFile(
      path.join(root, 'config', 'settings.json'),
      JSON.stringify({ sources: ['data'], s3: { bucket, preset: 'minio', endpoint: s3Server().endpoint, region: s3Server().region, keepLocal: false } }),
    );
    const env = { ...s3Env(), AWS_ENDPOINT_URL_S3: undefined, AWS_ENDPOINT_URL: undefined };
    const run = await runCli(['run', '--json'], { cwd: root, env });
    expect(run.code, run.stderr).toBe(0);
    const result = parseJsonResult(run);
    expect(result.s3.bucket).toBe(bucket);
    expect(await listKeys(bucket)).toEqual(expect.arrayContaining([result.s3.key, `${result.s3.key}.sha256`, `${result.s3.key}.manifest.json`]));
  });
});
