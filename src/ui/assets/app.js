// The dashboard's page: plain DOM, no framework, no build step, nothing from the internet.
// Every text from the server goes in as a text node (never as HTML). Every action shows the
// command line that does the same from a terminal.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const main = document.getElementById('main');
const activity = document.getElementById('activity');
const jobSelect = document.getElementById('job');

/** h('div', {class: 'x', onclick: f}, 'text', child) */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const cmd = (line) => h('code', { class: 'cmd', title: 'The same from a terminal' }, line);

async function api(path, options = {}) {
  const init = { headers: { Accept: 'application/json' }, ...options };
  if (options.body !== undefined) {
    init.method = 'POST';
    init.headers = { ...init.headers, 'Content-Type': 'application/json', 'X-CSRF-Token': csrf };
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok && !(data && (data.problems || data.action))) {
    const message = data?.error?.message ?? `${response.status} ${response.statusText}`;
    throw Object.assign(new Error(message), { status: response.status, data });
  }
  return { status: response.status, data };
}

function formatBytes(n) {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

function localTime(iso) {
  if (!iso) return '-';
  const d = new Date(iso);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A path under the folder the dashboard runs in, shown as the commands name it (relative); others as they are. */
let cwd = null;
function shownPath(p) {
  if (typeof p !== 'string' || !cwd) return p;
  const base = cwd.endsWith('/') ? cwd : `${cwd}/`;
  return p.startsWith(base) && p.length > base.length ? p.slice(base.length) : p;
}

function errorBox(error) {
  return h('p', { class: 'err-msg', role: 'alert' }, error instanceof Error ? error.message : String(error));
}

// ---- jobs and the job picker ------------------------------------------------------------

let jobs = [];
let currentJob = null;

async function loadJobs() {
  const { data } = await api('/api/jobs');
  jobs = data.jobs;
  cwd = data.cwd ?? cwd;
  jobSelect.replaceChildren(...jobs.map((j) => h('option', { value: j.id }, `${j.name} (${j.file})`)));
  if (!jobs.some((j) => j.id === currentJob)) currentJob = jobs[0]?.id ?? null;
  if (currentJob) jobSelect.value = currentJob;
  jobSelect.parentElement.hidden = jobs.length < 2;
  return data;
}
jobSelect.addEventListener('change', () => {
  currentJob = jobSelect.value;
  route();
});

// ---- actions: run, verify, restore with live progress -----------------------------------

const watched = new Map();
const DISMISSED = 'dismissed-actions';
const dismissed = new Set(JSON.parse(localStorage.getItem(DISMISSED) ?? '[]'));

function dismiss(id) {
  dismissed.add(id);
  localStorage.setItem(DISMISSED, JSON.stringify([...dismissed].slice(-50)));
  watched.get(id)?.box.remove();
  watched.delete(id);
  main.focus({ preventScroll: true });
}

function progressLine(p) {
  if (!p) return '0 % · starting';
  const parts = [`${p.percent} %`, p.total ? `${p.done} of ${p.total}` : p.done];
  if (p.files) parts.push(p.files);
  parts.push(p.rate, `ETA ${p.eta ?? '-'}`);
  if (p.extra) parts.push(p.extra);
  return parts.join(' · ');
}

function renderAction(view, box) {
  const state = view.state === 'done' ? (view.ok ? 'ok' : 'failed') : view.state;
  const children = [
    h('div', { class: 'row' }, h('strong', { class: 'grow' }, view.title), h('span', { class: `badge b-${view.state === 'done' ? (view.ok ? 'ok' : 'failed') : 'running'}` }, state)),
  ];
  if (view.progress || view.state !== 'done') {
    const percent = view.progress?.percent ?? 0;
    children.push(
      h('progress', { max: 100, value: percent, 'aria-label': `${view.title}: progress`, 'aria-valuetext': `${percent} percent` }),
      h('div', { class: 'progress-text', 'data-role': 'progress' }, progressLine(view.progress)),
    );
  }
  if (view.state === 'done') {
    children[0].append(h('button', { type: 'button', class: 'link', 'data-dismiss': view.id, 'aria-label': `Dismiss: ${view.title}` }, 'Dismiss'));
    children[0].lastChild.addEventListener('click', () => dismiss(view.id));
    if (view.ok) children.push(h('p', { class: 'ok-msg', 'data-role': 'result' }, summary(view)));
    else {
      const problems = (view.result?.results ?? []).flatMap((r) => r.problems ?? []);
      const notRestored = (view.result?.notRestored ?? []).map((p) => `${p.path}: ${p.reason}`);
      children.push(h('p', { class: 'err-msg', 'data-role': 'result' }, `${view.error?.code ?? 'FAILED'}: ${view.error?.message ?? `exit ${view.exitCode}`}`, [...problems, ...notRestored].slice(0, 20).map((line) => `\n- ${line}`)));
    }
  } else {
    children.push(
      h('div', { class: 'row' }, h('button', { type: 'button', disabled: view.state === 'cancelling', onclick: () => cancel(view.id) }, view.state === 'cancelling' ? 'Cancelling…' : 'Cancel')),
    );
  }
  children.push(cmd(view.command));
  if (view.log.length > 0) children.push(h('details', {}, h('summary', {}, `Log (${view.log.length} lines)`), h('div', { class: 'log-lines' }, view.log.join('\n'))));
  box.replaceChildren(...children);
}

function summary(view) {
  const r = view.result ?? {};
  if (view.kind === 'run') {
    const where = (r.destinations ?? []).map((d) => `${d.name}: ${shownPath(d.location)}`).join('; ');
    return `Backup complete: ${r.files ?? '?'} files, ${formatBytes(r.bytes)}${where ? ` → ${where}` : ''}`;
  }
  if (view.kind === 'verify') {
    const first = (r.results ?? r.verified ?? [])[0];
    return `Verified: ${shownPath(first?.location) ?? ''} ${first ? `(${first.entries} entries, sha256 matches)` : 'ok'}`;
  }
  return `Restored ${r.files ?? '?'} files (${formatBytes(r.bytes)}) into ${shownPath(r.to ?? r.target) ?? 'the folder'}${r.existing?.length ? `; ${r.existing.length} existing files kept` : ''}`;
}

function watch(view) {
  let box = watched.get(view.id)?.box;
  if (!box) {
    box = h('div', { class: 'card', 'data-action': view.id, 'data-kind': view.kind });
    activity.prepend(box);
  }
  renderAction(view, box);
  if (view.state === 'done' || watched.get(view.id)?.source) {
    watched.set(view.id, { box, source: watched.get(view.id)?.source });
    return;
  }
  const source = new EventSource(`/api/actions/${view.id}/events`);
  watched.set(view.id, { box, source });
  let current = view;
  source.addEventListener('state', (event) => {
    current = JSON.parse(event.data);
    renderAction(current, box);
    if (current.state === 'done') {
      source.close();
      watched.set(view.id, { box });
      onActionDone(current);
      whenDone.get(view.id)?.();
      whenDone.delete(view.id);
    }
  });
  source.addEventListener('log', (event) => {
    current.log = [...current.log, JSON.parse(event.data).line].slice(-100);
  });
}

/** Called once when the action of that id ends (seen by this page). */
const whenDone = new Map();

/** Starts an action; its id, or null when the server refused it (the reason is shown). */
async function start(path, body) {
  try {
    const { data } = await api(path, { body });
    watch(data.action);
    activity.scrollIntoView({ block: 'nearest' });
    return data.action.id;
  } catch (error) {
    activity.prepend(h('div', { class: 'card' }, errorBox(error)));
    return null;
  }
}

async function cancel(id) {
  try {
    await api(`/api/actions/${id}/cancel`, { body: {} });
  } catch (error) {
    activity.prepend(h('div', { class: 'card' }, errorBox(error)));
  }
}

function onActionDone(view) {
  // What the action changed (a new backup, a verification) shows on the page now.
  const page = location.hash.split('/')[1] || 'jobs';
  if ((view.kind === 'run' || view.kind === 'verify') && (page === 'jobs' || page === 'backups')) route();
}

// ---- pages ---------------------------------------------------------------------------------

const VERDICT = { ok: 'ok', failing: 'failing', late: 'late', 'never run': 'never' };

async function jobsPage() {
  const data = await loadJobs();
  const title = h('h1', {}, 'Jobs');
  if (jobs.length === 0) {
    return [title, h('p', {}, 'No settings file yet. Make one with the wizard, then start the dashboard again:'), cmd('npx backup')];
  }
  return [
    title,
    ...data.jobs.map((job) => {
      const s = job.status;
      const verdict = s?.verdict ?? (job.settingsError ? 'failing' : 'never run');
      const running = job.running.length > 0;
      return h(
        'section',
        { class: 'card', 'data-job': job.id },
        h('div', { class: 'row' }, h('h2', { class: 'grow flush' }, job.name), h('span', { class: `badge b-${VERDICT[verdict] ?? 'never'}`, 'data-role': 'verdict' }, verdict)),
        h('p', { class: 'muted' }, s?.reason ?? job.settingsError ?? ''),
        h(
          'div',
          { class: 'row' },
          h('span', {}, 'Last run: ', s?.lastRun ? `${localTime(s.lastRun.start)} (${s.lastRun.outcome})` : 'never'),
          h('span', {}, 'Next run: ', s?.nextRun ? localTime(s.nextRun) : s?.schedule ? '-' : 'no schedule'),
          h('span', {}, 'Destinations: ', job.destinations.length ? job.destinations.map((d) => `${d.name} (${d.type})`).join(', ') : '-'),
        ),
        h('p', { class: 'muted mono' }, job.file),
        h(
          'div',
          { class: 'row' },
          h('button', { type: 'button', class: 'primary', disabled: Boolean(job.settingsError), onclick: () => start(`/api/jobs/${job.id}/run`, {}) }, running ? 'Run now (one is running)' : 'Run now'),
          h('a', { href: '#/backups', onclick: () => (currentJob = job.id) }, 'Backups'),
          h('a', { href: '#/settings', onclick: () => (currentJob = job.id) }, 'Settings'),
        ),
        cmd(job.commands.run),
      );
    }),
  ];
}

let lastList = null;

async function backupsPage() {
  await loadJobs();
  if (!currentJob) return [h('h1', {}, 'Backups'), h('p', {}, 'No job.')];
  const { data } = await api(`/api/jobs/${currentJob}/backups`);
  lastList = data;
  const out = [h('h1', {}, 'Backups'), cmd(data.command)];
  if (data.error && (!data.locations || data.locations.length === 0)) out.push(errorBox(data.error.message));
  for (const loc of data.locations ?? []) {
    out.push(h('h2', {}, `${loc.name} `, h('span', { class: 'muted mono', title: loc.location }, shownPath(loc.location))));
    if (loc.error) {
      out.push(errorBox(`${loc.error.code}: ${loc.error.message}`));
      continue;
    }
    if (loc.backups.length === 0) {
      out.push(h('p', { class: 'muted' }, 'No backups here yet.'));
      continue;
    }
    out.push(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'stack', 'data-destination': loc.name },
          h('thead', {}, h('tr', {}, h('th', {}, 'Created'), h('th', {}, 'Name'), h('th', {}, 'Format'), h('th', { class: 'num' }, 'Size'), h('th', { class: 'num' }, 'Files'), h('th', {}, 'Verified'), h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
          h(
            'tbody',
            {},
            loc.backups.map((b) =>
              h(
                'tr',
                { 'data-backup': b.name },
                h('td', { 'data-label': 'Created' }, localTime(b.created)),
                h('td', { class: 'name mono' }, b.name),
                h('td', { 'data-label': 'Format' }, b.format),
                h('td', { class: 'num', 'data-label': 'Size' }, formatBytes(b.bytes)),
                h('td', { class: 'num', 'data-label': 'Files' }, b.files ?? '-'),
                h('td', { 'data-label': 'Verified' }, b.verifiedAt ? h('span', { class: `badge b-${b.verifiedOk ? 'ok' : 'failed'}` }, `${b.verifiedOk ? 'ok' : 'FAILED'} ${localTime(b.verifiedAt)}`) : '-'),
                h(
                  'td',
                  {},
                  h('div', { class: 'row' },
                    h('button', { type: 'button', onclick: () => start(`/api/jobs/${currentJob}/verify`, { from: loc.name, name: b.name }) }, 'Verify'),
                    h('a', { href: `#/restore/${encodeURIComponent(loc.name)}/${encodeURIComponent(b.name)}` }, 'Restore…'),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }
  return out;
}

async function restorePage(from, name) {
  await loadJobs();
  if (!currentJob) return [h('h1', {}, 'Restore'), h('p', {}, 'No job.')];
  if (!from || !name) {
    const { data } = lastList ? { data: lastList } : await api(`/api/jobs/${currentJob}/backups`);
    const choices = (data.locations ?? []).flatMap((loc) => loc.backups.map((b) => ({ from: loc.name, name: b.name, created: b.created })));
    return [
      h('h1', {}, 'Restore'),
      choices.length === 0
        ? h('p', {}, 'No backups to restore yet.')
        : h('ul', {}, choices.map((c) => h('li', {}, h('a', { href: `#/restore/${encodeURIComponent(c.from)}/${encodeURIComponent(c.name)}` }, `${c.name}`), ` on ${c.from}, ${localTime(c.created)}`))),
    ];
  }
  const selected = new Set();
  const base = name.replace(/\.(zip|tar\.gz|tar\.bz2|tgz|tbz2?)$/i, '');
  const to = h('input', { type: 'text', id: 'restore-to', value: `restore-${base}`, size: 40, autocomplete: 'off' });
  const overwrite = h('input', { type: 'checkbox', id: 'restore-overwrite' });
  const preview = h('code', { class: 'cmd', 'data-role': 'restore-command' }, '');
  const chosen = h('p', { class: 'muted', 'data-role': 'selection' }, 'Nothing picked: the whole backup is restored.');
  const body = () => ({ from, name, to: to.value, overwrite: overwrite.checked, paths: [...selected] });
  let previewTimer;
  const updatePreview = () => {
    clearTimeout(previewTimer);
    chosen.textContent = selected.size === 0 ? 'Nothing picked: the whole backup is restored.' : `${selected.size} picked: ${[...selected].slice(0, 5).join(', ')}${selected.size > 5 ? ', …' : ''}`;
    previewTimer = setTimeout(async () => {
      if (to.value.trim() === '') {
        preview.textContent = '(give a folder to restore into)';
        return;
      }
      try {
        const { data } = await api(`/api/jobs/${currentJob}/restore`, { body: { ...body(), preview: true } });
        preview.textContent = data.command;
      } catch (error) {
        preview.textContent = error.message;
      }
    }, 150);
  };
  to.addEventListener('input', updatePreview);
  overwrite.addEventListener('change', updatePreview);

  const treeBox = h('div', { 'data-role': 'tree' }, h('p', { class: 'muted' }, 'Reading the backup’s contents… (a tar archive is read once from start to end)'));
  // A ticked folder brings everything under it: its entries show ticked and cannot be unticked
  // one by one (the command would say otherwise), and picks made under it before are folded in.
  const covering = (path) => [...selected].find((s) => path.startsWith(`${s}/`));
  const showCovered = () => {
    for (const b of treeBox.querySelectorAll('input[type=checkbox][data-path]')) {
      const by = covering(b.dataset.path);
      b.disabled = by !== undefined;
      b.checked = by !== undefined || selected.has(b.dataset.path);
      if (by !== undefined) b.title = `restored with ${by}/`;
      else b.removeAttribute('title');
    }
  };
  const folderList = async (path, container, top) => {
    const q = new URLSearchParams({ from, name, path });
    const { data } = await api(`/api/jobs/${currentJob}/tree?${q}`);
    const list = h('ul', { class: `tree${top ? ' top' : ''}` });
    for (const entry of data.entries) {
      const box = h('input', { type: 'checkbox', 'aria-label': `restore ${entry.path}`, 'data-path': entry.path, checked: selected.has(entry.path) });
      box.addEventListener('change', () => {
        if (box.checked) {
          selected.add(entry.path);
          for (const p of [...selected]) if (p.startsWith(`${entry.path}/`)) selected.delete(p);
        } else selected.delete(entry.path);
        showCovered();
        updatePreview();
      });
      const li = h('li', {});
      const row = h('div', { class: 'tree-row' }, box);
      if (entry.kind === 'dir') {
        const sub = h('div', {});
        let open = false;
        const arrow = h('span', { 'aria-hidden': 'true' }, '▸');
        const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': 'false', 'data-folder': entry.path }, arrow, ` ${entry.name}/`);
        toggle.addEventListener('click', async () => {
          open = !open;
          toggle.setAttribute('aria-expanded', String(open));
          arrow.textContent = open ? '▾' : '▸';
          if (open && sub.childElementCount === 0) {
            try {
              await folderList(entry.path, sub, false);
            } catch (error) {
              sub.replaceChildren(errorBox(error));
            }
          }
          sub.hidden = !open;
        });
        row.append(toggle, h('span', { class: 'size' }, `${entry.files} files, ${formatBytes(entry.size)}`));
        li.append(row, sub);
      } else {
        row.append(h('span', { class: 'mono' }, entry.name), h('span', { class: 'size' }, entry.kind === 'file' ? formatBytes(entry.size) : entry.kind));
        li.append(row);
      }
      list.append(li);
    }
    if (data.more > 0) list.append(h('li', { class: 'muted' }, `… and ${data.more} more (pick the folder, or restore from a terminal with --include)`));
    const notes = [];
    if (top && data.total.leftOut > 0) notes.push(h('p', { class: 'muted' }, `${data.total.leftOut} entries past the first ${data.total.entries} are not shown.`));
    if (top && data.total.unsafe > 0) notes.push(h('p', { class: 'err-msg' }, `${data.total.unsafe} entries have unsafe names (absolute, "..", empty): restore refuses them.`));
    container.replaceChildren(list, ...notes);
    showCovered();
  };
  folderList('', treeBox, true).catch((error) => treeBox.replaceChildren(errorBox(error)));
  updatePreview();

  const go = h('button', { type: 'button', class: 'primary' }, 'Restore');
  go.addEventListener('click', () => {
    if (to.value.trim() === '') {
      to.focus();
      return;
    }
    // One restore at a time from this page: a double click would start two into the same folder.
    go.disabled = true;
    start(`/api/jobs/${currentJob}/restore`, body()).then((id) => {
      if (id === null) go.disabled = false;
      else whenDone.set(id, () => (go.disabled = false));
    });
  });
  return [
    h('h1', {}, 'Restore ', h('span', { class: 'mono' }, name)),
    h('p', { class: 'muted' }, `from ${from}. Pick folders or files (none: everything), a folder to restore into, then Restore. Existing files are kept unless you tick “replace”.`),
    h('div', { class: 'card' }, treeBox),
    h('div', { class: 'card' },
      h('div', { class: 'row' }, h('label', { for: 'restore-to' }, 'Restore into'), to),
      h('div', { class: 'row' }, overwrite, h('label', { for: 'restore-overwrite' }, 'replace files that already exist')),
      chosen,
      h('div', { class: 'row' }, go),
      preview,
    ),
  ];
}

async function settingsPage() {
  await loadJobs();
  if (!currentJob) return [h('h1', {}, 'Settings'), h('p', {}, 'No job.')];
  const { data } = await api(`/api/jobs/${currentJob}/settings`);
  let version = data.version;
  const area = h('textarea', { id: 'settings-text', spellcheck: 'false', 'aria-label': `settings of ${data.file}`, readonly: !data.editable });
  area.value = data.text;
  const problems = h('ul', { class: 'problems', 'data-role': 'problems', 'aria-live': 'polite' });
  const saved = h('p', { 'aria-live': 'polite' });
  const showProblems = (list) => {
    // The CLI's message starts with the path ("schedule: ..."); the path is shown once, as code.
    const message = (p) => (p.path && p.message.startsWith(`${p.path}: `) ? p.message.slice(p.path.length + 2) : p.message);
    problems.replaceChildren(...list.map((p) => h('li', { 'data-path': p.path ?? '' }, p.path ? h('code', {}, p.path) : null, p.path ? ' ' : null, message(p))));
  };
  showProblems(data.problems);
  const save = h('button', { type: 'button', class: 'primary', disabled: !data.editable }, 'Save');
  save.addEventListener('click', async () => {
    saved.textContent = '';
    saved.className = '';
    try {
      const { status, data: r } = await api(`/api/jobs/${currentJob}/settings`, { body: { text: area.value, version } });
      if (status === 200 && r.ok) {
        version = r.version;
        showProblems([]);
        saved.className = 'ok-msg';
        saved.textContent = 'Saved. The next run uses it.';
      } else {
        showProblems(r.problems ?? []);
        saved.className = 'err-msg';
        saved.textContent = status === 409 ? 'Not saved.' : 'Not saved: fix the problems above (nothing was written).';
      }
    } catch (error) {
      saved.replaceChildren(errorBox(error));
    }
  });
  let schedule = null;
  let channels = 0;
  try {
    const parsed = JSON.parse(data.text);
    schedule = parsed.schedule ?? null;
    channels = Array.isArray(parsed.notify) ? parsed.notify.length : 0;
  } catch {
    // Shown as a problem above.
  }
  return [
    h('h1', {}, 'Settings ', h('span', { class: 'mono muted' }, data.file)),
    data.why ? h('p', { class: 'err-msg' }, data.why) : h('p', { class: 'muted' }, 'Checked with the same rules and messages as the command line; saved only when valid, in one step.'),
    problems,
    area,
    h('div', { class: 'row' }, save),
    saved,
    h('h2', {}, 'Schedule and alerts'),
    h('p', {}, schedule ? `schedule: ${schedule}` : 'No "schedule": the job runs when started.', ' · ', channels ? `${channels} alert channel(s)` : 'no alert channels ("notify")'),
    cmd(data.commands.scheduleInstall),
    cmd(data.commands.notifyTest),
  ];
}

async function logPage() {
  await loadJobs();
  if (!currentJob) return [h('h1', {}, 'Log'), h('p', {}, 'No job.')];
  const level = h('select', { id: 'log-level' }, ['debug', 'info', 'warn', 'error'].map((l) => h('option', { value: l }, l === 'debug' ? 'everything' : `${l} and worse`)));
  level.value = sessionStorage.getItem('log-level') ?? 'info';
  const list = h('div', { 'data-role': 'log' });
  const file = h('span', { class: 'mono muted' });
  const load = async () => {
    sessionStorage.setItem('log-level', level.value);
    try {
      const { data } = await api(`/api/jobs/${currentJob}/log?level=${level.value}`);
      file.textContent = data.file;
      list.replaceChildren(
        ...(data.problem ? [h('p', { class: 'muted' }, data.problem)] : []),
        ...data.entries
          .slice()
          .reverse()
          .map((e) => h('div', { class: `log-entry lv-${e.level}` }, `${localTime(e.at)} [${e.source}] ${e.level.toUpperCase()} ${e.message}`)),
      );
    } catch (error) {
      list.replaceChildren(errorBox(error));
    }
  };
  level.addEventListener('change', load);
  await load();
  return [
    h('h1', {}, 'Log ', file),
    h('div', { class: 'row' }, h('label', { for: 'log-level' }, 'Show'), level, h('button', { type: 'button', onclick: load }, 'Refresh')),
    h('p', { class: 'muted' }, 'Newest first. Secrets are redacted.'),
    list,
  ];
}

// ---- routing -----------------------------------------------------------------------------

const PAGES = { jobs: jobsPage, backups: backupsPage, restore: restorePage, settings: settingsPage, log: logPage };

/** Identifies a control across a re-render (the same button of the same job or backup). */
function focusKey(el) {
  if (!el || el === main || !main.contains(el)) return null;
  const owner = el.closest('[data-job],[data-backup]');
  // "Run now (one is running)" is still the Run now button.
  return `${owner?.dataset.job ?? ''}|${owner?.dataset.backup ?? ''}|${el.tagName}|${el.id}|${el.textContent.replace(/\s*\(.*\)$/, '')}`;
}

let routeSeq = 0;

async function route() {
  // Only the newest navigation may draw the page: a slow one started earlier must not
  // replace it when it ends.
  const seq = ++routeSeq;
  const [, page = 'jobs', ...rest] = location.hash.split('/');
  const render = PAGES[page] ?? jobsPage;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    const content = await render(...rest.map(decodeURIComponent));
    if (seq !== routeSeq) return;
    // A redraw (a run ended) keeps the keyboard where it was, not back at the top of the page.
    const key = focusKey(document.activeElement);
    main.replaceChildren(...content);
    if (key) [...main.querySelectorAll('button, a, input, select, textarea')].find((el) => focusKey(el) === key)?.focus({ preventScroll: true });
  } catch (error) {
    if (seq !== routeSeq) return;
    main.replaceChildren(h('h1', {}, 'Something went wrong'), errorBox(error));
  }
}

window.addEventListener('hashchange', () => {
  route().then(() => main.focus({ preventScroll: true }));
});

// Actions going on (a reload, a second tab) show with their progress, and those that ended in
// the last minutes with their outcome; older ones are in the log, not piled above every page.
// After the first page: it tells where the dashboard runs, so paths show as the commands name them.
const RECENT_MS = 15 * 60 * 1000;
route().then(() =>
  api('/api/actions')
    .then(({ data }) => {
      const shown = data.actions.filter((a) => !dismissed.has(a.id) && (a.state !== 'done' || Date.now() - Date.parse(a.endedAt) < RECENT_MS));
      for (const view of shown.slice(0, 3).reverse()) watch(view);
    })
    .catch(() => undefined),
);
