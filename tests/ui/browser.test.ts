/**
 * `backup ui` in a real browser: Debian's headless Chromium driven by
 * playwright-core, against the real CLI (`node dist/bin.js ui`) serving two
 * jobs whose first one writes to a local folder and to the suite's Ceph S3.
 * Everything the page does runs for real (the CLI children it starts, the
 * archives they write, the files a restore puts back), and every wait is for
 * a state the page shows (data-role / data-* attributes), never a sleep.
 *
 * Screenshots of each page (desktop 1280x800 and 360 px wide) go to
 * UI_SCREENSHOT_DIR (default .ci/out/screenshots): artifacts, not compared.
 * With UPDATE_README_SCREENSHOTS=1 the jobs and restore pages are also
 * written to docs/ui-jobs.png and docs/ui-restore.png for the README.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, PROJECT_ROOT } from '../helpers/cli.js';
import { describeTree } from '../helpers/fixtures.js';
import { freshBucket, listKeys, s3Env, testClient } from '../helpers/s3.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = path.resolve(PROJECT_ROOT, process.env.UI_SCREENSHOT_DIR ?? '.ci/out/screenshots');
const README_SHOTS = process.env.UPDATE_README_SCREENSHOTS === '1';
/** How long a state the page is waiting for may take (a CLI child on 2 busy cores): a safety net only. */
const STATE_MS = 45_000;

let root: string;
let demo: string;
let bucket: string;
let ui: ChildProcess;
let uiStderr = '';
let url: string;
let browser: Browser;
let desktop: BrowserContext;
let page: Page;
const pageProblems: string[] = [];
/** The first job's backup (its name as `backup list` shows it). */
let backupName: string;

function watchProblems(p: Page, label: string): void {
  p.on('pageerror', (error) => pageProblems.push(`${label}: ${error.message}`));
  p.on('console', (message) => {
    // A refused settings save is a 422 on purpose; Chromium logs every such response.
    if (message.type() === 'error' && !/^Failed to load resource: .* status of 422 /.test(message.text())) pageProblems.push(`${label}: ${message.text()}`);
  });
}

async function shot(p: Page, name: string, options: { fullPage?: boolean } = { fullPage: true }): Promise<void> {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: options.fullPage ?? true, animations: 'disabled' });
}

async function writeFile(file: string, data: string | Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
}

/** A bucket with a plain name for the pictures when the (throw-away) server has none yet, else a fresh one. */
async function demoBucket(): Promise<string> {
  try {
    await testClient().send(new CreateBucketCommand({ Bucket: 'demo-backups' }));
    // Some servers answer 200 for a bucket of the same owner that already exists.
    if ((await listKeys('demo-backups')).length === 0) return 'demo-backups';
  } catch {
    // Taken (another run on a shared server): a fresh one.
  }
  return freshBucket();
}

/** Waits for the `backup ui` child to print its URL. */
function printedUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: string): void => {
      out += chunk;
      const found = /Backup dashboard: (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)/.exec(out);
      if (found) {
        child.stdout!.off('data', onData);
        resolve(found[1]!);
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`backup ui ended (${code}) before printing its URL:\n${out}\n${uiStderr}`)));
  });
}

/** Goes to a page by its nav link (as a person does) and waits for its heading. */
async function openPage(p: Page, name: 'Jobs' | 'Backups' | 'Restore' | 'Settings' | 'Log'): Promise<void> {
  await p.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name, exact: true }).click();
  await p.locator('main h1', { hasText: name }).waitFor({ timeout: STATE_MS });
}

/** Clicks `button`, which starts an action; returns the action's card once the action has ended. */
async function startAndFinish(p: Page, button: Locator, route: RegExp): Promise<Locator> {
  const [response] = await Promise.all([p.waitForResponse((r) => route.test(new URL(r.url()).pathname) && r.request().method() === 'POST'), button.click()]);
  expect(response.status(), await response.text()).toBe(202);
  const { action } = (await response.json()) as { action: { id: string } };
  const card = p.locator(`#activity [data-action="${action.id}"]`);
  await card.locator('[data-role=result]').waitFor({ timeout: STATE_MS });
  return card;
}

async function expectOk(card: Locator): Promise<void> {
  const result = card.locator('[data-role=result]');
  expect(await result.getAttribute('class'), await card.innerText()).toBe('ok-msg');
}

/** Takes the focus off whatever has it (a focus ring in a picture is noise). */
async function blur(p: Page): Promise<void> {
  await p.locator('body').evaluate((body) => (body.ownerDocument.activeElement as { blur?: () => void } | null)?.blur?.());
}

async function horizontalOverflow(p: Page): Promise<{ scrollWidth: number; clientWidth: number }> {
  // (The test is compiled without the DOM's types: the page's objects are reached through the element given.)
  return p.locator('html').evaluate((html) => ({ scrollWidth: html.ownerDocument.scrollingElement!.scrollWidth, clientWidth: html.ownerDocument.scrollingElement!.clientWidth }));
}

beforeAll(async () => {
  await fs.mkdir(SHOTS, { recursive: true });
  if (README_SHOTS) await fs.mkdir(path.join(PROJECT_ROOT, 'docs'), { recursive: true });
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'backup-ui-'));
  demo = path.join(root, 'demo');
  // A small project: text, a binary big enough for a few progress lines, a name with a space and an accent.
  await writeFile(path.join(demo, 'projects/website/index.html'), '<!doctype html>\n<title>Shop</title>\n<h1>Welcome</h1>\n');
  await writeFile(path.join(demo, 'projects/website/src/main.js'), 'import { start } from "./lib/app.js";\nstart();\n');
  await writeFile(path.join(demo, 'projects/website/src/lib/app.js'), 'export function start() { document.title = "Shop"; }\n');
  await writeFile(path.join(demo, 'projects/website/assets/hero.jpg'), randomBytes(3 * 1024 * 1024));
  await writeFile(path.join(demo, 'projects/website/assets/menu café.txt'), 'Soup 4.50\nBread 2.00\n');
  await writeFile(path.join(demo, 'projects/notes/todo.md'), '- renew the domain\n- back up the shop\n');
  await writeFile(path.join(demo, 'projects/notes/2026/meeting.md'), '# Meeting\nNothing to report.\n');
  await writeFile(path.join(demo, 'photos/2026/beach.jpg'), randomBytes(64 * 1024));
  await fs.mkdir(path.join(root, 'home'));
  bucket = await demoBucket();
  await writeFile(
    path.join(demo, 'config/settings.json'),
    `${JSON.stringify(
      {
        sources: ['./projects'],
        format: 'tar.gz',
        destinations: [
          { name: 'local', type: 'local', path: './backups' },
          { name: 'offsite', type: 's3', bucket, prefix: '' },
        ],
        logFile: 'logs/backup.log',
      },
      null,
      2,
    )}\n`,
  );
  await writeFile(
    path.join(demo, 'config/photos.json'),
    `${JSON.stringify({ sources: ['./photos'], format: 'zip', destinations: [{ name: 'local', type: 'local', path: './backups/photos' }], schedule: 'daily 02:30', logFile: 'logs/backup.log' }, null, 2)}\n`,
  );

  ui = spawn(process.execPath, [BIN, 'ui', '--config', 'config/settings.json', '--config', 'config/photos.json', '--port', '0'], {
    cwd: demo,
    env: { ...process.env, ...s3Env(), HOME: path.join(root, 'home'), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  ui.stderr!.setEncoding('utf8').on('data', (chunk: string) => (uiStderr += chunk));
  [url, browser] = await Promise.all([printedUrl(ui), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
  desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', reducedMotion: 'reduce' });
  page = await desktop.newPage();
  watchProblems(page, 'desktop');
});

afterAll(async () => {
  await browser?.close();
  if (ui && ui.exitCode === null && ui.signalCode === null) {
    const exited = once(ui, 'exit');
    ui.kill('SIGINT');
    const timer = setTimeout(() => ui.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  if (root) await fs.rm(root, { recursive: true, force: true });
});

describe('backup ui in headless Chromium', () => {
  it('opens the printed URL: the token becomes a cookie and the jobs show', async () => {
    await page.goto(url);
    // The token left the address bar.
    expect(page.url()).not.toContain('token=');
    const projects = page.locator('[data-job]', { has: page.locator('h2', { hasText: 'demo' }) });
    const photos = page.locator('[data-job]', { has: page.locator('h2', { hasText: 'photos' }) });
    await projects.waitFor({ timeout: STATE_MS });
    await expect.poll(() => projects.locator('[data-role=verdict]').innerText()).toBe('never run');
    expect(await projects.innerText()).toContain('local (local), offsite (s3)');
    expect(await photos.innerText()).toMatch(/Next run: \d{4}-\d\d-\d\d 02:30/);
    // Two jobs: the picker is there.
    await expect.poll(() => page.locator('#job').isVisible()).toBe(true);
    expect(await page.locator('#job option').allInnerTexts()).toEqual(['demo (config/settings.json)', 'photos (config/photos.json)']);
  });

  it('Run now: progress reaches 100 %, the result is ok, the archive is on both destinations', async () => {
    const projects = page.locator('[data-job]', { has: page.locator('h2', { hasText: 'demo' }) });
    const card = await startAndFinish(page, projects.getByRole('button', { name: 'Run now' }), /^\/api\/jobs\/1\/run$/);
    await expectOk(card);
    expect(await card.locator('[data-role=progress]').innerText()).toMatch(/^100 % · [\d.]+ MiB of [\d.]+ MiB · 7\/7 files · /);
    expect(await card.locator('progress').evaluate((el) => (el as unknown as { value: number }).value)).toBe(100);
    expect(await card.locator('code.cmd').innerText()).toBe('npx backup run --config config/settings.json');
    const result = await card.locator('[data-role=result]').innerText();
    const local = await fs.readdir(path.join(demo, 'backups'));
    backupName = local.find((f) => f.endsWith('.tar.gz'))!;
    expect(backupName).toMatch(/^projects-\d{8}-\d{6}\.tar\.gz$/);
    expect((await fs.stat(path.join(demo, 'backups', backupName))).size).toBeGreaterThan(3 * 1024 * 1024);
    expect(await listKeys(bucket)).toContain(backupName);
    expect(result).toBe(`Backup complete: 7 files, ${result.match(/[\d.]+ MiB/)![0]} → local: backups/${backupName}; offsite: s3://${bucket}/${backupName}`);
    // The page shows what the run changed: the verdict is now the status's.
    await expect.poll(() => projects.locator('[data-role=verdict]').innerText(), { timeout: STATE_MS }).toBe('ok');
    expect(await projects.innerText()).toMatch(/Last run: \d{4}-\d\d-\d\d \d\d:\d\d \(ok\)/);
    await shot(page, 'desktop-jobs');
    if (README_SHOTS) await page.screenshot({ path: path.join(PROJECT_ROOT, 'docs/ui-jobs.png') });
  });

  it('Backups: both destinations list the backup; Verify says ok on each, and the list shows it', async () => {
    await openPage(page, 'Backups');
    const localRow = page.locator(`table[data-destination=local] tr[data-backup="${backupName}"]`);
    const s3Row = page.locator(`table[data-destination=offsite] tr[data-backup="${backupName}"]`);
    await localRow.waitFor({ timeout: STATE_MS });
    await s3Row.waitFor({ timeout: STATE_MS });
    expect(await page.locator('main code.cmd').first().innerText()).toBe('npx backup list --config config/settings.json');
    for (const [row, from, where] of [
      [localRow, 'local', `backups/${backupName}`],
      [s3Row, 'offsite', `s3://${bucket}/${backupName}`],
    ] as const) {
      expect(await row.locator('td[data-label=Verified]').innerText()).toBe('-');
      const card = await startAndFinish(page, row.getByRole('button', { name: 'Verify' }), /^\/api\/jobs\/1\/verify$/);
      await expectOk(card);
      expect(await card.locator('[data-role=result]').innerText()).toMatch(new RegExp(`^Verified: ${where.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(\\d+ entries, sha256 matches\\)$`));
      expect(await card.locator('code.cmd').innerText()).toBe(`npx backup verify --config config/settings.json --from ${from} -- ${backupName}`);
      // The list is read again after a verification: the outcome is recorded in the manifest.
      await row.locator('td[data-label=Verified] .badge.b-ok').waitFor({ timeout: STATE_MS });
    }
    await shot(page, 'desktop-backups');
  });

  it('Dismiss takes the finished actions off the page', async () => {
    const cards = page.locator('#activity > .card');
    expect(await cards.count()).toBe(3);
    while ((await cards.count()) > 0) await cards.first().locator('[data-dismiss]').click();
    expect(await page.locator('#activity').isVisible()).toBe(false);
  });

  it('Restore: pick the backup, tick one folder, restore it; the files are the source byte for byte', async () => {
    await openPage(page, 'Restore');
    await page.locator('main a', { hasText: backupName }).first().click();
    await page.locator('main h1', { hasText: backupName }).waitFor({ timeout: STATE_MS });
    const tree = page.locator('[data-role=tree]');
    await tree.locator('[data-folder=projects]').click();
    await tree.locator('[data-folder="projects/website"]').click();
    await tree.locator('[data-path="projects/website/index.html"]').waitFor({ timeout: STATE_MS });
    expect(await tree.locator('[data-folder="projects/website"]').getAttribute('aria-expanded')).toBe('true');
    await page.getByLabel('Restore into').fill('restored');
    const command = page.locator('[data-role=restore-command]');
    // A file picked first, then its folder: the folder brings it (and everything else under it).
    await tree.locator('[data-path="projects/website/index.html"]').check();
    await expect.poll(() => command.innerText(), { timeout: STATE_MS }).toContain('--include /projects/website/index.html --');
    await tree.locator('[data-path="projects/website"]').check();
    for (const inside of ['projects/website/index.html', 'projects/website/src', 'projects/website/assets']) {
      const box = tree.locator(`[data-path="${inside}"]`);
      expect([await box.isChecked(), await box.isDisabled()], inside).toEqual([true, true]);
    }
    expect(await tree.locator('[data-path="projects/notes"]').isChecked()).toBe(false);
    const expected = `npx backup restore --config config/settings.json --from local --to restored --include /projects/website -- ${backupName}`;
    await expect.poll(() => command.innerText(), { timeout: STATE_MS }).toBe(expected);
    expect(await page.locator('[data-role=selection]').innerText()).toBe('1 picked: projects/website');
    await blur(page);
    await shot(page, 'desktop-restore');
    if (README_SHOTS) await page.screenshot({ path: path.join(PROJECT_ROOT, 'docs/ui-restore.png') });

    const card = await startAndFinish(page, page.getByRole('button', { name: 'Restore', exact: true }), /^\/api\/jobs\/1\/restore$/);
    await expectOk(card);
    expect(await card.locator('code.cmd').innerText()).toBe(expected);
    expect(await card.locator('[data-role=result]').innerText()).toMatch(/^Restored 5 files \(3\.\d MiB\) into restored$/);
    const source = await describeTree(path.join(demo, 'projects/website'));
    const restored = await describeTree(path.join(demo, 'restored/projects/website'));
    expect(source.size).toBe(8);
    expect(restored).toEqual(source);
    // Only the folder that was ticked.
    expect(await fs.readdir(path.join(demo, 'restored/projects'))).toEqual(['website']);
    await shot(page, 'desktop-restore-done');
  });

  it('Settings: a broken field is refused with its JSON path, and the file on disk is unchanged', async () => {
    const file = path.join(demo, 'config/settings.json');
    const before = await fs.readFile(file);
    await openPage(page, 'Settings');
    const area = page.getByLabel('settings of config/settings.json');
    const text = await area.inputValue();
    expect(text).toBe(before.toString('utf8'));
    const broken = JSON.parse(text) as Record<string, unknown>;
    broken.schedule = 'every full moon';
    broken.threads = 0;
    await area.fill(JSON.stringify(broken, null, 2));
    await page.getByRole('button', { name: 'Save' }).click();
    const problems = page.locator('[data-role=problems]');
    await problems.locator('li[data-path=schedule]').waitFor({ timeout: STATE_MS });
    expect(await problems.locator('li[data-path=schedule]').innerText()).toMatch(/^schedule "every full moon" is neither a schedule word nor a cron expression/);
    expect(await problems.locator('li[data-path=threads]').innerText()).toMatch(/^threads /);
    expect(await problems.locator('li').count()).toBe(2);
    expect(await page.getByText('Not saved: fix the problems above (nothing was written).').isVisible()).toBe(true);
    expect(await fs.readFile(file)).toEqual(before);
    await shot(page, 'desktop-settings');
  });

  it('Log: the lines of the runs, newest first, filtered by level', async () => {
    await openPage(page, 'Log');
    const log = page.locator('[data-role=log]');
    await log.locator('.log-entry', { hasText: 'backup complete' }).first().waitFor({ timeout: STATE_MS });
    const lines = await log.locator('.log-entry').allInnerTexts();
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.some((line) => / INFO ui: serving 2 job\(s\)/.test(line))).toBe(true);
    await shot(page, 'desktop-log');
    await page.getByLabel('Show').selectOption('error');
    // Nothing failed: no line is left once only errors are shown.
    await expect.poll(() => log.locator('.log-entry').count(), { timeout: STATE_MS }).toBe(0);
    await page.getByLabel('Show').selectOption('info');
    await log.locator('.log-entry', { hasText: 'backup complete' }).first().waitFor({ timeout: STATE_MS });
  });

  it('keyboard: Tab reaches Run now with a visible focus ring, Enter runs it, focus stays on it', async () => {
    await openPage(page, 'Jobs');
    const run = page.locator('[data-job="1"]').getByRole('button', { name: 'Run now' });
    await run.waitFor({ timeout: STATE_MS });
    await blur(page);
    let reached = false;
    for (let i = 0; i < 25 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await run.evaluate((el) => el === el.ownerDocument.activeElement);
    }
    expect(reached).toBe(true);
    expect(await run.evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).outlineStyle)).toBe('solid');
    await run.evaluate((el) => el.setAttribute('data-before', ''));
    const [response] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/api/jobs/1/run'), page.keyboard.press('Enter')]);
    expect(response.status()).toBe(202);
    const { action } = (await response.json()) as { action: { id: string } };
    const card = page.locator(`#activity [data-action="${action.id}"]`);
    await card.locator('[data-role=result]').waitFor({ timeout: STATE_MS });
    await expectOk(card);
    // The page is drawn again when the run ends; the keyboard is still on Run now.
    await page.locator('[data-job="1"] button:not([data-before])', { hasText: 'Run now' }).waitFor({ timeout: STATE_MS });
    expect(await run.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    expect((await fs.readdir(path.join(demo, 'backups'))).filter((f) => f.endsWith('.tar.gz'))).toHaveLength(2);
  });

  it('360 px wide: no page scrolls sideways, and the buttons are in reach', async () => {
    const narrow = await browser.newContext({ viewport: { width: 360, height: 740 }, colorScheme: 'light', reducedMotion: 'reduce' });
    try {
      const phone = await narrow.newPage();
      watchProblems(phone, '360px');
      await phone.goto(url);
      await phone.locator('[data-job="1"] [data-role=verdict]').waitFor({ timeout: STATE_MS });
      const check = async (name: string): Promise<void> => {
        const { scrollWidth, clientWidth } = await horizontalOverflow(phone);
        expect(clientWidth, name).toBe(360);
        expect(scrollWidth, `${name}: the page is ${scrollWidth} px wide`).toBeLessThanOrEqual(360);
        await shot(phone, `narrow-${name}`);
      };
      await check('jobs');
      await openPage(phone, 'Backups');
      const verify = phone.locator(`table[data-destination=local] tr[data-backup="${backupName}"]`).getByRole('button', { name: 'Verify' });
      await verify.waitFor({ timeout: STATE_MS });
      const box = (await verify.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(360);
      await check('backups');
      await phone.goto(`${new URL(url).origin}/#/restore/local/${encodeURIComponent(backupName)}`);
      await phone.locator('[data-role=tree] [data-folder=projects]').click();
      await phone.locator('[data-role=tree] [data-folder="projects/website"]').click();
      await phone.locator('[data-role=tree] [data-folder="projects/website/assets"]').click();
      await phone.locator('[data-path="projects/website/assets/menu café.txt"]').check();
      await expect.poll(() => phone.locator('[data-role=restore-command]').innerText(), { timeout: STATE_MS }).toContain('--include');
      await check('restore');
      await openPage(phone, 'Settings');
      await phone.getByLabel('settings of config/settings.json').waitFor({ timeout: STATE_MS });
      await check('settings');
      await openPage(phone, 'Log');
      await phone.locator('[data-role=log] .log-entry').first().waitFor({ timeout: STATE_MS });
      await check('log');
    } finally {
      await narrow.close();
    }
  });

  it('the page logged no error (no script error, nothing the CSP blocked)', () => {
    expect(pageProblems).toEqual([]);
  });
});
