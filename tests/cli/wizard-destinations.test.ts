/**
 * The wizard's destinations list: more than the local folder (another
 * folder, S3 on the suite's Ceph, Azure Blob on Azurite), each checked by its
 * real store before the backup runs, a failing one fixed / left out / quit;
 * the saved settings in the `destinations` list form loading back through the
 * real loader and running again. SFTP and rclone questions in isolation
 * (their stores are wired in separately).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { answersToSettings, checkWizardDestination, wizardCommand } from '../../src/cli/wizard-command.js';
import { askDestinations, checkDestinationName, destinationLabel, uniqueName, type DestinationsContext } from '../../src/cli/wizard-destinations.js';
import { askRcloneQuestions, askSftpQuestions, rcloneLabel, sftpLabel } from '../../src/cli/wizard-remote-kinds.js';
import type { WizardAnswers } from '../../src/cli/wizard.js';
import { main } from '../../src/cli/program.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { mergeSettings } from '../../src/config/merge-settings.js';
import { saveSettings } from '../../src/config/save-settings.js';
import { startAzureFixture, type AzureFixture } from '../helpers/azure-store.js';
import { runCli } from '../helpers/cli.js';
import { listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { freshBucket, listKeys, s3Server, testClient } from '../helpers/s3.js';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { Act, ENTER, NO_AUTOMATION, ScriptedPrompter, fakeTerminal } from '../helpers/wizard-script.js';

const ARCHIVE = 'data-20261126-020000.tar.gz';
const FILES = [ARCHIVE, `${ARCHIVE}.manifest.json`, `${ARCHIVE}.sha256`];

/** The suite's S3 server's credentials where the AWS SDK reads them (this process's environment); no ~/.aws of the machine. */
function stubS3Credentials(): void {
  const server = s3Server();
  vi.stubEnv('AWS_ACCESS_KEY_ID', server.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', server.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', undefined);
  vi.stubEnv('AWS_PROFILE', undefined);
  vi.stubEnv('AWS_REGION', undefined);
  vi.stubEnv('AWS_DEFAULT_REGION', undefined);
  vi.stubEnv('AWS_ENDPOINT_URL_S3', undefined);
  vi.stubEnv('AWS_ENDPOINT_URL', undefined);
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent');
}

let azure: AzureFixture;
beforeAll(async () => {
  azure = await startAzureFixture();
});
afterAll(async () => {
  await azure?.stop();
  vi.unstubAllEnvs();
});

describe('local + another folder + S3 (Ceph)', () => {
  it('asks each, checks each, backs up to all three; saves the destinations list, which loads back and runs again', async () => {
    stubS3Credentials();
    const bucket = await freshBucket();
    const endpoint = s3Server().endpoint;
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([
      'data', false, ENTER, ENTER, ENTER,
      true, // also send the backup elsewhere
      'local', 'mirror', ENTER, // another folder, named local-2
      true, // add another destination
      ENTER, 'other', bucket, ENTER, endpoint, 'us-east-1', ENTER, ENTER, // S3 (the default kind), named s3
      false, // no more
      ENTER, // keep ./backups too
      true, // start
      true, // save
      ...NO_AUTOMATION,
    ]);

    const code = await wizardCommand(term.io, { verbose: false }, prompts);

    expect(code, term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    expect(prompts.rejected).toEqual([]);
    expect(prompts.asked.filter((q) => q.message.startsWith('Name for this destination')).map((q) => q.default)).toEqual(['local-2', 's3']);
    const out = term.stdout();
    expect(out).toContain(`OK: local-2 can be created and written.`);
    expect(out).toContain(`OK: s3 can be reached and written.`);
    // The summary: every destination, by name, kind and where.
    expect(out).toContain(`  into:        local    folder  ${path.join(root, 'backups')}\n`);
    expect(out).toContain(`               local-2  folder  ${path.join(root, 'mirror')}\n`);
    expect(out).toContain(`               s3       S3      s3://${bucket}/testhost/ at ${endpoint}\n`);
    expect(out).toContain('No single command line repeats it');

    expect(await listDir(path.join(root, 'backups'))).toEqual(FILES);
    expect(await listDir(path.join(root, 'mirror'))).toEqual(FILES);
    expect(await listKeys(bucket)).toEqual(FILES.map((f) => `testhost/${f}`));

    const file = path.join(root, 'config', 'settings.json');
    const saved = {
      sources: ['data'],
      format: 'tar.gz',
      destinations: [
        { name: 'local', type: 'local', path: './backups' },
        { name: 'local-2', type: 'local', path: 'mirror' },
        { name: 's3', type: 's3', bucket, prefix: 'testhost/', endpoint, region: 'us-east-1', storageClass: 'STANDARD' },
      ],
    };
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toStrictEqual(saved);
    expect(await loadSettings(file)).toStrictEqual(saved);
    expect(mergeSettings(await loadSettings(file), {}).destinations.map((d) => d.name)).toEqual(['local', 'local-2', 's3']);

    // The saved file repeats the backup to all three without prompts.
    const later = fakeTerminal(root, false, new Date(2026, 10, 26, 3, 0, 0));
    expect(await main(['run', '--config', 'config/settings.json'], later.io), later.stderr()).toBe(0);
    const rerun = 'data-20261126-030000.tar.gz';
    expect(await listDir(path.join(root, 'backups'))).toContain(rerun);
    expect(await listDir(path.join(root, 'mirror'))).toContain(rerun);
    expect(await listKeys(bucket)).toContain(`testhost/${rerun}`);
  });
});

describe('a destination whose check fails (the S3 bucket does not exist, on Ceph)', () => {
  const missing = (): string => `missing-${randomBytes(4).toString('hex')}`;
  const upToTheCheck = (bucket: string): Array<string | boolean | typeof ENTER> => [
    'data', false, ENTER, ENTER, ENTER, true, ENTER, 'other', bucket, ENTER, s3Server().endpoint, 'us-east-1', ENTER, ENTER,
  ];

  it('says which destination and why; "fix" asks its questions again (Enter keeps each) and the fixed one passes; saved in the older keys', async () => {
    stubS3Credentials();
    const bucket = await freshBucket();
    const wrong = missing();
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([
      ...upToTheCheck(wrong),
      'fix', ENTER, bucket, ENTER, ENTER, ENTER, ENTER, ENTER,
      false, ENTER,
      false, // do not start
      true, // save
      ...NO_AUTOMATION,
    ]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    const out = term.stdout();
    expect(out).toMatch(new RegExp(`Destination "s3" \\(s3://${wrong}/testhost/ at [^)]+\\) cannot be used: .*${wrong}.*`));
    expect(out).toContain('OK: s3 can be reached and written.');
    // The second round offered the first round's answers.
    const buckets = prompts.asked.filter((q) => q.message === 'S3 bucket:');
    expect(buckets.map((q) => q.default)).toEqual([undefined, wrong]);
    // Only the local folder and one bucket named "s3": the older keys, as before this list existed.
    const file = path.join(root, 'config', 'settings.json');
    expect(await loadSettings(file)).toStrictEqual({
      sources: ['data'],
      destination: './backups',
      format: 'tar.gz',
      s3: { bucket, prefix: 'testhost/', region: 'us-east-1', endpoint: s3Server().endpoint, storageClass: 'STANDARD', keepLocal: true },
    });
  });

  it('"skip": left out (said so), the backup goes to the local folder only, and the saved settings have no S3', async () => {
    stubS3Credentials();
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([...upToTheCheck(missing()), 'skip', false, true, true, ...NO_AUTOMATION]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    expect(term.stdout()).toContain('Left out "s3".');
    expect(await listDir(path.join(root, 'backups'))).toEqual(FILES);
    expect(await loadSettings(path.join(root, 'config', 'settings.json'))).toStrictEqual({ sources: ['data'], destination: './backups', format: 'tar.gz' });
  });

  it('"retry" checks again: still missing, the menu again; once the bucket exists, it passes', async () => {
    stubS3Credentials();
    const bucket = missing();
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([
      ...upToTheCheck(bucket),
      'retry',
      new Act(async () => void (await testClient().send(new CreateBucketCommand({ Bucket: bucket })))),
      'retry',
      false, ENTER, false, false,
    ]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    expect(prompts.asked.filter((q) => q.message === 'What now with "s3"?')).toHaveLength(2);
    expect(term.stdout()).toContain('OK: s3 can be reached and written.');
  });

  it('no AWS credentials anywhere: says so and how to give them, readably (no "[redacted]" in the advice)', async () => {
    stubS3Credentials();
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', undefined);
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([...upToTheCheck(missing()), 'quit']);

    expect(await wizardCommand(term.io, { verbose: false }, prompts)).toBe(130);
    const out = term.stdout();
    expect(out).toContain('No AWS credentials were found');
    expect(out).toContain('a .env file in this folder that sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (one NAME=value line each)');
    expect(out).not.toContain('[redacted]');
  });

  it('"quit" ends with 130: nothing backed up, nothing saved', async () => {
    stubS3Credentials();
    const root = await tempDir();
    await makeRichTree(root);
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([...upToTheCheck(missing()), 'quit']);

    expect(await wizardCommand(term.io, { verbose: false }, prompts)).toBe(130);
    expect(prompts.unused).toEqual([]);
    expect(term.stderr()).toContain('Quit: nothing was backed up. Fix destination "s3", then run `npx backup` again.');
    const left = await listDir(root);
    expect(left).not.toContain('backups');
    expect(left).not.toContain('config');
  });
});

describe('Azure Blob (Azurite)', () => {
  it('the account key is asked masked, checked with the real store, used for the run, kept in .env (0600) and never in settings.json; the saved file runs again', async () => {
    for (const name of ['AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_STORAGE_ACCOUNT']) vi.stubEnv(name, undefined);
    const root = await tempDir();
    await makeRichTree(root);
    const prefix = `t-${randomBytes(4).toString('hex')}/`;
    const term = fakeTerminal(root, true);
    const prompts = new ScriptedPrompter([
      'data', false, ENTER, ENTER, ENTER, true,
      'azure', azure.containerName, 'key',
      'the-key-is-in-the-portal', // not base64: refused at once, typed again
      azure.azurite.accountKey, azure.azurite.accountName, azure.azurite.endpoint, prefix, 'Cool', ENTER,
      false, ENTER, true, true, ...NO_AUTOMATION,
    ]);

    expect(await wizardCommand(term.io, { verbose: false }, prompts), term.stderr()).toBe(0);
    expect(prompts.unused).toEqual([]);
    expect(prompts.rejected).toEqual([{ message: 'Account key (hidden):', typed: '(hidden)', problem: expect.stringMatching(/^Not an account key: an account key is base64/) }]);
    const signIn = prompts.asked.find((q) => q.message === 'How does this machine sign in to Azure Storage?')!;
    expect(signIn.choices!.map((c) => c.value)).toEqual(['key', 'sas', 'connection-string', 'default']);
    expect(prompts.asked.find((q) => q.kind === 'password')!.message).toBe('Account key (hidden):');
    const out = term.stdout();
    expect(out).toContain('OK: azure can be reached and written.');
    expect(out).toContain(`azure://${azure.azurite.accountName}/${azure.containerName}/${prefix} at ${azure.azurite.endpoint}, Cool`);
    expect(out).toContain('Saved AZURE_STORAGE_KEY in .env');
    expect(out + term.stderr()).not.toContain(azure.azurite.accountKey);
    expect(await azure.rawNames(prefix)).toEqual(FILES.map((f) => `${prefix}${f}`));
    expect(await listDir(path.join(root, 'backups'))).toEqual(FILES);

    const file = path.join(root, 'config', 'settings.json');
    const text = await fs.readFile(file, 'utf8');
    expect(text).not.toContain(azure.azurite.accountKey);
    expect(await loadSettings(file)).toStrictEqual({
      sources: ['data'],
      format: 'tar.gz',
      destinations: [
        { name: 'local', type: 'local', path: './backups' },
        { name: 'azure', type: 'azure', container: azure.containerName, prefix, account: azure.azurite.accountName, endpoint: azure.azurite.endpoint, tier: 'Cool' },
      ],
    });
    const env = path.join(root, '.env');
    expect(await fs.readFile(env, 'utf8')).toBe(`AZURE_STORAGE_KEY='${azure.azurite.accountKey}'\n`);
    expect((await fs.stat(env)).mode & 0o777).toBe(0o600);

    // The saved settings run by themselves: the built CLI reads the key from ./.env.
    const run = await runCli(['run', '--config', 'config/settings.json', '--name', 'again'], { cwd: root, env: { AZURE_STORAGE_KEY: undefined } });
    expect(run.code, run.stderr).toBe(0);
    expect(await azure.rawNames(prefix)).toContain(`${prefix}again.tar.gz`);
  });

  it('a wrong key: the check names the destination and the reason; "fix" offers the key typed before or a new one', async () => {
    for (const name of ['AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_STORAGE_ACCOUNT']) vi.stubEnv(name, undefined);
    const root = await tempDir();
    await makeRichTree(root);
    const said: string[] = [];
    const wrongKey = Buffer.from('not the key of this account').toString('base64');
    const prefix = `t-${randomBytes(4).toString('hex')}/`;
    const prompts = new ScriptedPrompter([
      true, 'azure', azure.containerName, 'key', wrongKey, azure.azurite.accountName, azure.azurite.endpoint, prefix, ENTER, 'blob',
      'fix', ENTER, 'key', azure.azurite.accountKey, ENTER, ENTER, ENTER, ENTER, ENTER,
      false, false,
    ]);
    const term = fakeTerminal(root, true);
    const ctx: DestinationsContext = {
      cwd: root,
      home: os.homedir(),
      host: 'testhost',
      env: {},
      say: (line) => said.push(line),
      // The wizard's own check (the real store's check()).
      checkDestination: (d, secrets) => checkWizardDestination(term.io, d, secrets),
    };
    const answers = await askDestinations(prompts, ctx, { typed: './backups', abs: path.join(root, 'backups'), sources: [path.join(root, 'data')] });

    expect(prompts.unused).toEqual([]);
    expect(said.find((l) => l.startsWith('Destination "blob"'))).toMatch(/^Destination "blob" \(azure:\/\/devstoreaccount1\/[^)]+\) cannot be used: .+/);
    const second = prompts.asked.filter((q) => q.message === 'How does this machine sign in to Azure Storage?')[1]!;
    expect(second.choices!.map((c) => c.value)).toEqual(['keep', 'key', 'sas', 'connection-string', 'default']);
    expect(answers.extras).toEqual([
      { name: 'blob', type: 'azure', container: azure.containerName, prefix, account: azure.azurite.accountName, endpoint: azure.azurite.endpoint },
    ]);
    expect(answers.secrets).toEqual({ AZURE_STORAGE_KEY: azure.azurite.accountKey });
    expect(answers.keepLocal).toBe(false);
  });
});

describe('names, labels and the saved form', () => {
  it('names default to the kind, made unique; a name is checked like settings.json checks it', () => {
    expect(uniqueName('s3', ['local'])).toBe('s3');
    expect(uniqueName('s3', ['local', 's3', 's3-2'])).toBe('s3-3');
    expect(uniqueName('local', ['local'])).toBe('local-2');
    expect(checkDestinationName('s3', ['local', 's3'])).toMatch(/"s3" already names another destination/);
    expect(checkDestinationName('-x', [])).toMatch(/starting with a letter or digit/);
    expect(checkDestinationName('offsite.1', ['local'])).toBeUndefined();
  });

  it('one S3 not named "s3", or any other kind, is saved as the destinations list, which the real loader takes; without the local copy it is left out', async () => {
    const base: WizardAnswers = {
      sources: ['/w/data'], sourcesTyped: ['data'], destination: '/w/backups', destinationTyped: './backups', format: 'tar.gz', name: '',
      extras: [{ name: 'offsite', type: 's3', bucket: 'bkt', prefix: 'h/', storageClass: 'STANDARD' }], keepLocal: false, secrets: {},
    };
    const settings = answersToSettings(base);
    expect(settings).toStrictEqual({ sources: ['data'], format: 'tar.gz', destinations: [{ name: 'offsite', type: 's3', bucket: 'bkt', prefix: 'h/', storageClass: 'STANDARD' }] });
    const file = path.join(await tempDir(), 'settings.json');
    await saveSettings(file, settings);
    expect(await loadSettings(file)).toStrictEqual(settings);

    // A preset's endpoint is filled in by the loader, as for a hand-written file.
    const r2: WizardAnswers = { ...base, extras: [{ name: 's3', type: 's3', bucket: 'bkt', preset: 'r2', accountId: 'a'.repeat(32), prefix: '' }], keepLocal: true };
    expect(answersToSettings(r2).s3).toMatchObject({ bucket: 'bkt', preset: 'r2', accountId: 'a'.repeat(32) });
    await saveSettings(file, answersToSettings(r2));
    expect(mergeSettings(await loadSettings(file), {}).s3).toMatchObject({ endpoint: `https://${'a'.repeat(32)}.r2.cloudflarestorage.com`, region: 'auto' });
  });

  it('labels say where each kind is', () => {
    const ctx = { cwd: '/w', home: '/home/u' };
    expect(destinationLabel({ name: 'm', type: 'local', path: '~/mirror' }, ctx)).toBe('/home/u/mirror');
    expect(destinationLabel({ name: 's3', type: 's3', bucket: 'b', prefix: 'h/', preset: 'b2', region: 'us-west-004' }, ctx)).toBe('s3://b/h/ (Backblaze B2)');
    expect(sftpLabel({ type: 'sftp', host: 'nas', port: 2222, user: 'bk', path: 'backups/h' })).toBe('sftp://bk@nas:2222/~/backups/h');
    expect(sftpLabel({ type: 'sftp', host: 'nas', path: '/srv/b' })).toBe('sftp://nas/srv/b');
    expect(rcloneLabel({ type: 'rclone', remote: 'gdrive', path: 'backups/h' })).toBe('gdrive:backups/h');
  });
});

describe('SFTP and rclone questions (their settings shapes)', () => {
  const ctx = { host: 'testhost', home: '/home/u', say: () => {} };

  it('SFTP: host, port, user, folder, key file, known_hosts; defaults left out; user@host and host:port refused at the host prompt', async () => {
    const prompts = new ScriptedPrompter(['bk@nas', 'nas:22', 'nas.example.lan', '0', '2222', 'bk', ENTER, '~/.ssh/backup_ed25519', ENTER]);
    expect(await askSftpQuestions(prompts, ctx)).toStrictEqual({
      type: 'sftp', host: 'nas.example.lan', port: 2222, user: 'bk', path: 'backups/testhost', identityFile: '/home/u/.ssh/backup_ed25519',
    });
    expect(prompts.rejected.map((r) => r.typed)).toEqual(['bk@nas', 'nas:22', '0']);
    expect(prompts.unused).toEqual([]);

    const plain = new ScriptedPrompter(['nas', ENTER, ENTER, '/srv/backups', ENTER, ENTER]);
    expect(await askSftpQuestions(plain, ctx)).toStrictEqual({ type: 'sftp', host: 'nas', path: '/srv/backups' });
  });

  it('rclone: the remote without its colon (a colon is refused with what to type), then the folder', async () => {
    const prompts = new ScriptedPrompter(['gdrive:backups', 'gdrive', ENTER]);
    expect(await askRcloneQuestions(prompts, ctx)).toStrictEqual({ type: 'rclone', remote: 'gdrive', path: 'backups/testhost' });
    expect(prompts.rejected).toEqual([expect.objectContaining({ typed: 'gdrive:backups', problem: expect.stringContaining('Without the colon: type gdrive') })]);
  });
});
