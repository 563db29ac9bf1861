// make test-browser: JupyterLab in a real browser (Debian's Chromium driven by
// playwright-core; no browser download). It starts `gorepro lab` on a free
// port, opens a copy of the tour, runs Run → "Run All Cells" and checks what a
// user sees: a rendered figure, the backend table (the %%backend plugin's
// output when the tour has that cell, else the Go-rendered table) and the
// RESULT line. Screenshots go to build/screenshots/.
//
// Run: node --test tests/browser/   (from the repository root, or anywhere)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = process.env.GOREPRO_ROOT || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VENV = process.env.GOREPRO_VENV || path.join(ROOT, '.venv');
const CHROMIUM = process.env.GOREPRO_CHROMIUM || '/usr/bin/chromium';
const TOUR = path.join(ROOT, 'notebooks', '00_tour.ipynb');
const SHOTS = path.join(ROOT, 'build', 'screenshots');
const LOGS = path.join(ROOT, 'build', 'logs');

const TOTAL_MS = 5 * 60_000; // the whole test
const SERVER_MS = 90_000; // server up
const KERNEL_MS = 120_000; // kernel started
const RUN_MS = 240_000; // Run All Cells until RESULT and figures

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Every live descendant of pid (Jupyter starts kernels in their own sessions,
// so the server's process group does not cover them).
function descendants(pid) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // gone
    }
  }
  const out = [];
  const walk = (p) => {
    for (const c of children.get(p) || []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

// A process's start time (clock ticks since boot), so that a pid reused by
// someone else's process is never signalled.
function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return null;
  }
}

function remember(known, pids) {
  for (const p of pids) if (!known.has(p)) known.set(p, startTime(p));
}

async function waitFor(what, ms, fn, every = 500) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

test('JupyterLab runs the tour on the gorepro kernel in Chromium', { timeout: TOTAL_MS }, async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install -y chromium chromium-driver`);
  assert.ok(fs.existsSync(path.join(VENV, 'bin', 'gorepro')), `${VENV}/bin/gorepro missing: run make setup`);
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.mkdirSync(LOGS, { recursive: true });

  const tour = JSON.parse(fs.readFileSync(TOUR, 'utf8'));
  assert.equal(tour.metadata?.kernelspec?.name, 'gorepro', 'the tour should name the gorepro kernel');
  const src = (c) => (Array.isArray(c.source) ? c.source.join('') : c.source || '');
  const codeCells = tour.cells.filter((c) => c.cell_type === 'code');
  const pluginIndex = tour.cells.findIndex((c) => c.cell_type === 'code' && /^%%backend\b/.test(src(c)));

  const rand = randomBytes(6).toString('hex');
  const token = randomBytes(24).toString('hex');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // Not a dot-file: Jupyter's contents API refuses hidden files by default.
  const nbName = `browser-test-${rand}.ipynb`;
  const nbPath = path.join(ROOT, 'notebooks', nbName);
  const checkpoints = path.join(ROOT, 'notebooks', '.ipynb_checkpoints');
  const checkpointsExisted = fs.existsSync(checkpoints);
  const checkpoint = path.join(checkpoints, `browser-test-${rand}-checkpoint.ipynb`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gorepro-browser-'));
  const settingsDir = path.join(tmp, 'settings');
  const logFile = path.join(LOGS, 'browser-test-lab.log');

  // Hermetic JupyterLab settings: every cell in the DOM (no windowing), no news prompt.
  const setting = (plugin, file, value) => {
    const dir = path.join(settingsDir, plugin);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${file}.jupyterlab-settings`), JSON.stringify(value));
  };
  setting('@jupyterlab/notebook-extension', 'tracker', { windowingMode: 'none' });
  setting('@jupyterlab/apputils-extension', 'notification', { fetchNews: 'false', checkForUpdates: false });

  let server;
  let serverExited = null;
  let browser;
  const known = new Map(); // pid -> start time
  const logStream = fs.createWriteStream(logFile);
  try {
    fs.copyFileSync(TOUR, nbPath);

    const env = {
      ...process.env,
      GOREPRO_ROOT: ROOT,
      GOREPRO_VENV: VENV,
      PATH: `${path.join(VENV, 'bin')}:${process.env.PATH}`,
      JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime'),
    };
    const args = [
      'lab',
      `--port=${port}`,
      '--ServerApp.port_retries=0',
      `--IdentityProvider.token=${token}`,
      '--ServerApp.open_browser=False',
      `--LabApp.user_settings_dir=${settingsDir}`,
      `--LabApp.workspaces_dir=${path.join(tmp, 'workspaces')}`,
    ];
    log(`starting gorepro lab on ${base} (log: ${logFile})`);
    server = spawn(path.join(VENV, 'bin', 'gorepro'), args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout.pipe(logStream, { end: false });
    server.stderr.pipe(logStream, { end: false });
    server.on('exit', (code, sig) => {
      serverExited = `exit code ${code}, signal ${sig}`;
    });

    const api = async (p, init = {}) => {
      const r = await fetch(`${base}${p}`, { ...init, headers: { Authorization: `token ${token}`, ...(init.headers || {}) } });
      return r;
    };
    const t0 = Date.now();
    await waitFor('the Jupyter server', SERVER_MS, async () => {
      if (serverExited) throw new Error(`gorepro lab exited (${serverExited}); see ${logFile}`);
      return (await api('/api/status')).ok;
    });
    log(`server up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // A fresh profile (--user-data-dir) in the temp dir; Playwright takes it as launchPersistentContext's argument.
    browser = await chromium.launchPersistentContext(path.join(tmp, 'chromium'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = browser.pages()[0] || (await browser.newPage());
    // Console errors (with the URL they come from: a failed resource load names it only there) and
    // uncaught page errors, asserted to be none after the run.
    const consoleErrors = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(`${m.text()} (at ${m.location()?.url || 'unknown'})`));
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));

    const tLoad = Date.now();
    await page.goto(`${base}/lab/tree/${nbName}?token=${token}`, { waitUntil: 'domcontentloaded', timeout: SERVER_MS });
    const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
    await notebook.locator('.jp-Cell').first().waitFor({ timeout: KERNEL_MS });
    const cells = notebook.locator('.jp-Cell');
    await waitFor(`all ${tour.cells.length} cells rendered`, KERNEL_MS, async () => (await cells.count()) === tour.cells.length);
    // The kernel: the server's session for this notebook runs gorepro and has left "starting".
    const session = await waitFor('the gorepro kernel', KERNEL_MS, async () => {
      if (serverExited) throw new Error(`gorepro lab exited (${serverExited})`);
      const sessions = await (await api('/api/sessions')).json();
      const s = sessions.find((x) => x.path === nbName || x.notebook?.path === nbName);
      if (!s || !s.kernel) return null;
      if (s.kernel.execution_state === 'starting') return null;
      return s;
    });
    assert.equal(session.kernel.name, 'gorepro');
    await page.getByRole('button', { name: /Go \(gorepro\)/ }).first().waitFor({ timeout: KERNEL_MS });
    log(`notebook and kernel (${session.kernel.name}, ${session.kernel.execution_state}) ready in ${((Date.now() - tLoad) / 1000).toFixed(1)} s`);
    remember(known, descendants(server.pid));
    await page.screenshot({ path: path.join(SHOTS, 'lab-1-loaded.png') });

    // Run → Run All Cells, through the menu as a user would.
    await cells.first().click();
    await page.getByRole('menuitem', { name: 'Run', exact: true }).click();
    await page.getByRole('menuitem', { name: /^Run All Cells/ }).click();
    const tRun = Date.now();
    log('clicked Run → Run All Cells');

    const outputs = notebook.locator('.jp-OutputArea-output');
    const result = outputs.filter({ hasText: 'RESULT {"notebook":"00_tour"' });
    const figure = notebook.locator(
      ['image/svg+xml', 'image/png'].map((m) => `.jp-OutputArea-output[data-mime-type="${m}"] :is(img, svg)`).join(', '),
    );
    const errors = notebook.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
    // Wait for the RESULT line, or the first error output, whichever comes first.
    await waitFor('the RESULT line', RUN_MS, async () => {
      if (serverExited) throw new Error(`gorepro lab exited (${serverExited})`);
      if ((await result.count()) > 0) return true;
      return false;
    }, 1000).catch(async (e) => {
      await page.screenshot({ path: path.join(SHOTS, 'lab-2-run-failed.png') }).catch(() => {});
      const errText = await errors.allInnerTexts().catch(() => []);
      throw new Error(`${e.message}\nstderr outputs:\n${errText.join('\n---\n')}`);
    });
    log(`RESULT after ${((Date.now() - tRun) / 1000).toFixed(1)} s`);
    await waitFor('two rendered figures', 30_000, async () => (await figure.count()) >= 2);
    log(`figures after ${((Date.now() - tRun) / 1000).toFixed(1)} s`);

    // Every code cell ran: no "[*]" or empty prompt left.
    await waitFor('every code cell to finish', 30_000, async () => {
      const prompts = await notebook.locator('.jp-CodeCell .jp-InputArea-prompt').allInnerTexts();
      return prompts.length === codeCells.length && prompts.every((p) => /\[\d+\]/.test(p));
    });

    // The figure: an image that the browser actually decoded, with a size.
    const fig = figure.first();
    await fig.scrollIntoViewIfNeeded();
    const box = await fig.boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, `figure too small: ${JSON.stringify(box)}`);
    const decoded = await fig.evaluate((el) => (el.tagName.toLowerCase() === 'img' ? el.complete && el.naturalWidth > 0 : true));
    assert.ok(decoded, 'the figure image did not decode');
    // The figures are the tour's: their SVG sources carry the titles.
    const sources = await figure.evaluateAll((els) =>
      els.map((el) => {
        if (el.tagName.toLowerCase() === 'svg') return el.outerHTML;
        const src = el.getAttribute('src') || '';
        const data = src.slice(src.indexOf(',') + 1);
        try {
          return src.includes(';base64,') ? atob(data) : decodeURIComponent(data);
        } catch {
          return '';
        }
      }),
    );
    for (const title of ['Training loss', 'Fit after training']) {
      assert.ok(sources.some((x) => x.includes(title)), `no rendered figure titled ${JSON.stringify(title)}`);
    }
    const how = await fig.evaluate((el) => `<${el.tagName.toLowerCase()}> in ${el.closest('[data-mime-type]')?.getAttribute('data-mime-type')}`);
    log(`${await figure.count()} figures, first ${Math.round(box.width)}×${Math.round(box.height)} px, ${how}`);
    // After the run: the view scrolled to the first figure, with its cell above it.
    await fig.evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await sleep(500);
    await page.screenshot({ path: path.join(SHOTS, 'lab-2-run.png') });
    await fig.screenshot({ path: path.join(SHOTS, 'lab-3-figure.png') });
    const fig2 = figure.nth(1);
    await fig2.scrollIntoViewIfNeeded();
    await fig2.screenshot({ path: path.join(SHOTS, 'lab-4-figure-fit.png') });

    // The backend table: the %%backend plugin's output if the tour has that cell, else the Go-rendered one.
    let tableScope;
    if (pluginIndex >= 0) {
      tableScope = cells.nth(pluginIndex).locator('.jp-OutputArea-output table');
      log(`checking the %%backend plugin cell's table (cell ${pluginIndex})`);
    } else {
      tableScope = notebook.locator('.jp-OutputArea-output table');
      log('the tour has no %%backend cell: checking the Go-rendered backend table');
    }
    const backendTable = tableScope.filter({ hasText: 'xla:cpu' });
    assert.ok((await backendTable.count()) > 0, 'no output table lists xla:cpu');
    const tableText = await backendTable.first().innerText();
    for (const b of ['go', 'xla:cpu', 'xla:cuda']) {
      assert.ok(tableText.includes(b), `backend table lacks ${b}:\n${tableText}`);
    }
    await backendTable.first().scrollIntoViewIfNeeded();
    await backendTable.first().screenshot({ path: path.join(SHOTS, 'lab-5-backend-table.png') });

    // The RESULT line parses and every claim holds.
    const resultText = (await result.first().innerText()).split('\n').find((l) => l.startsWith('RESULT {'));
    assert.ok(resultText, 'RESULT line not found in its output');
    const res = JSON.parse(resultText.slice('RESULT '.length));
    assert.equal(res.notebook, '00_tour');
    assert.ok(res.claims.length > 0 && res.claims.every((c) => c.holds), `claims: ${JSON.stringify(res.claims)}`);
    log(`RESULT backend=${res.backend} profile=${res.profile} seconds=${res.seconds}`);

    const errTexts = await errors.allInnerTexts();
    if (errTexts.length) log(`stderr outputs (${errTexts.length}):\n${errTexts.join('\n---\n')}`);
    assert.equal(await notebook.locator('.jp-OutputArea-output.jp-mod-error, [data-mime-type="application/vnd.jupyter.error"]').count(), 0, 'an error output');

    await result.first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SHOTS, 'lab-2-run-result.png') });
    // No browser console errors. HARMLESS would name the only ones let through, each with why; it is
    // empty: a run in an offline sandbox (news and update checks off in the settings above, Chromium's
    // background networking off) logged none — no favicon 404, no extension-manager network error.
    // Add an entry only for an exact message seen, with its reason.
    const HARMLESS = [];
    const unexpected = consoleErrors.filter((e) => !HARMLESS.some(({ re }) => re.test(e)));
    if (consoleErrors.length) log(`browser console errors (${consoleErrors.length}):\n  ${consoleErrors.slice(0, 20).join('\n  ')}`);
    assert.deepEqual(unexpected, [], `browser console errors:\n  ${unexpected.join('\n  ')}`);
    log(`screenshots in ${SHOTS}`);

    // Shut the kernel down through the API, as JupyterLab would.
    await api(`/api/sessions/${session.id}`, { method: 'DELETE' }).catch(() => {});
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (server && !serverExited) {
      remember(known, descendants(server.pid));
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // gone
      }
      const deadline = Date.now() + 15_000;
      while (!serverExited && Date.now() < deadline) await sleep(200);
      if (!serverExited) {
        try {
          process.kill(-server.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    // Kernels live in their own sessions: end whatever of the server's tree is left.
    await sleep(500);
    for (const [p, started] of known) {
      if (started === null || startTime(p) !== started) continue;
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue; // exited, not yet reaped
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 160);
        log(`killing leftover process ${p}: ${cmd}`);
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    fs.rmSync(nbPath, { force: true });
    fs.rmSync(checkpoint, { force: true });
    if (!checkpointsExisted) {
      try {
        fs.rmdirSync(checkpoints); // only if empty: it was made by this run's server
      } catch {
        // not empty, or absent
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    logStream.end();
  }
});
