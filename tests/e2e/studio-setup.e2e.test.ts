// The studio's setup flows in a real browser against a real `schnell studio`: a model mirror set in
// Settings; the first run's model download (the fit verdict before a byte moves, a failure in one
// sentence, progress, Pause that stops the file growing, Discard, a studio restart that keeps the
// pause, Resume that continues with an HTTP Range from the kept bytes, the model installed and put
// to use); the Fireworks key pasted in the first run and in Settings (kept in secrets.json 0600,
// never in the page, an HTTP answer or an event); projects (a cover in the sidebar, per-project
// editor defaults) across a reload. There is no internet: the model files (the tiny reference
// fixtures, about 4 MB) come from a real, throttled HTTP server on 127.0.0.1 that the studio
// reaches through its model mirror setting, listed in a catalogue of its own (SCHNELL_MODEL_MANIFEST).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { fixtures, PARTS, tiny } from '../runtime/models/checkpoints.js';
import { FaultServer, sha256 } from '../runtime/models/fault-server.js';
import { axe, buildRenderer, launchBrowser, openStudio, ROOT, screenshots, serious, startStudio, type Browser, type RunningStudio, waiter } from './harness.js';

const MODEL_ID = 'flux1-schnell-fp8';
const REPO = 'schnell-e2e/flux-tiny';
/** Served at huggingface.co's path shape, so the mirror's rewrite is what finds them. */
const hubPath = (rel: string) => `/${REPO}/resolve/main/${rel}`;
const SOURCES = [
  { id: 'transformer', file: 'flux1-schnell-fp8-e4m3fn.safetensors', local: tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors'), kind: 'transformer', format: 'safetensors', precision: 'fp8' },
  { id: 't5', file: 't5xxl_fp8_e4m3fn.safetensors', local: PARTS.t5, kind: 't5', format: 'safetensors' },
  { id: 'clip', file: 'clip_l.safetensors', local: PARTS.clip, kind: 'clip', format: 'safetensors' },
  { id: 'ae', file: 'ae.safetensors', local: PARTS.autoencoder, kind: 'autoencoder', format: 'safetensors' },
  { id: 'vocab', folder: 'tokenizer', file: 'vocab.json', local: path.join(fixtures, 'tokenizers/clip/vocab.json'), kind: 'tokenizer', format: 'json' },
  { id: 'merges', folder: 'tokenizer', file: 'merges.txt', local: path.join(fixtures, 'tokenizers/clip/merges.txt'), kind: 'tokenizer', format: 'text' },
  { id: 't5tok', folder: 'tokenizer_2', file: 'tokenizer.json', local: path.join(fixtures, 'tokenizers/t5/tokenizer.json'), kind: 'tokenizer', format: 'json' },
] as const;
const KEY = `fw_e2eSecret${Math.random().toString(36).slice(2, 12)}XYZ`;

const { until, watch } = waiter('setup-');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (l: Locator) => l.innerText();
const sizeOf = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : -1);

/** The catalogue the studio reads instead of the bundled one: FLUX.1 schnell FP8 made of the tiny fixtures. */
function writeCatalogue(server: FaultServer, file: string): { total: number } {
  const files = SOURCES.map((s) => {
    const data = fs.readFileSync(s.local);
    const rel = 'folder' in s ? `${s.folder}/${s.file}` : s.file;
    // Throttled so that a person (and this test) can pause mid-transfer: 8 KiB every 50 ms.
    server.serve(hubPath(rel), data, { chunk: 8 * 1024, delayMs: 50 });
    return {
      id: s.id, ...('folder' in s ? { folder: s.folder } : {}), file: s.file, url: `https://huggingface.co${hubPath(rel)}`, repo: REPO,
      kind: s.kind, format: s.format, ...('precision' in s ? { precision: s.precision } : {}),
      bytes: data.length, bytes_exact: true, sha256: sha256(data), license: 'Apache-2.0', gated: false, purpose: `e2e ${s.id}`,
    };
  });
  const total = files.reduce((n, f) => n + f.bytes, 0);
  fs.writeFileSync(file, JSON.stringify({
    version: 1,
    files,
    models: [{
      id: MODEL_ID, kind: 'flux', name: 'FLUX.1 [schnell] FP8', description: 'the tiny reference weights, served as the real model would be', default: true,
      files: files.map((f) => f.id),
      components: { transformer: 'transformer', autoencoder: 'ae', t5: 't5', clip: 'clip', clip_tokenizer: 'tokenizer', t5_tokenizer: 'tokenizer_2' },
      disk_bytes: total, memory: { gpu_bytes: 64 * 1024 * 1024, cpu_bytes: 64 * 1024 * 1024 },
    }],
  }));
  return { total };
}

/** Two images in Posters and one in Sketches, made by the CLI with the demo model before the studio opens the library. */
function seedLibrary(home: string, library: string): void {
  const env = { ...process.env, SCHNELL_HOME: home, NO_COLOR: '1' };
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/schnell.mjs'), ...args], { cwd: ROOT, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`schnell ${args[0]} failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const demo = path.join(home, 'cli-demo');
  cli(['demo-model', '--out', demo]);
  for (const [project, prompt, samples] of [['Posters', 'a poster of a lighthouse', '2'], ['Sketches', 'a sketch of a fox', '1']] as const) {
    cli(['generate', prompt, '--model', demo, '--width', '64', '--height', '64', '--steps', '1', '--seed', '7', '--samples', samples, '--library', library, '--project', project, '--json']);
  }
}

describe('studio setup flows in Chromium', { timeout: 180_000 }, () => {
  let server: FaultServer;
  let studio: RunningStudio;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let home: string;
  let studioOptions: Parameters<typeof startStudio>[0];
  let total = 0;
  /** Every /api/ response body the page received, to prove the key never comes back. */
  const answers: string[] = [];

  before(async () => {
    buildRenderer();
    server = await FaultServer.start();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-e2e-setup-'));
    const catalogue = path.join(home, 'e2e-models.json');
    ({ total } = writeCatalogue(server, catalogue));
    const library = path.join(home, 'library');
    seedLibrary(home, library);
    // The catalogue comes from the environment; the mirror is set in Settings, as a person would.
    studioOptions = { home, library, env: { SCHNELL_MODEL_MANIFEST: catalogue, SCHNELL_MODEL_MIRROR: '', HF_ENDPOINT: '' } };
    studio = await startStudio(studioOptions);
    browser = await launchBrowser();
    await open();
  });

  async function open(): Promise<void> {
    ({ page, errors } = await openStudio(browser, studio));
    watch(page);
    page.on('response', (r) => {
      if (!new URL(r.url()).pathname.startsWith('/api/') || r.url().includes('/api/events')) return;
      r.text().then((t) => answers.push(t), () => undefined);
    });
  }

  after(async () => {
    await browser?.close();
    await studio?.stop();
    await server?.close();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  test('an offline machine sets a model mirror in Settings; a bad address is refused in one sentence', async () => {
    const first = page.getByRole('dialog', { name: 'Make your first image' });
    await first.waitFor();
    await page.keyboard.press('Escape');
    await first.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Settings' }).click();
    const dialog = page.getByRole('dialog', { name: 'Settings' });
    const field = dialog.getByRole('textbox', { name: 'Model mirror (optional)' });
    const local = dialog.getByRole('group', { name: 'Local model' });
    await field.fill('ftp://mirror.example');
    await local.getByRole('button', { name: 'Save' }).click();
    await until('the refusal', async () => /model mirror must be an http\(s\) address/.test(await text(dialog.getByRole('alert'))));
    await field.fill(server.url('/'));
    await local.getByRole('button', { name: 'Save' }).click();
    await until('the mirror saved', async () => JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8')).modelMirror === server.url('/'));
    assert.equal(await dialog.getByRole('alert').count(), 0, 'the error is gone once a good address is saved');
    await screenshots(page, 'setup-settings-mirror');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('first run: the fit verdict before any byte, progress, pause keeps the file, resume continues with a Range, the model installs and serves', async () => {
    await page.getByRole('button', { name: 'Models' }).click();
    let dialog = page.getByRole('dialog', { name: 'Make your first image' });
    await dialog.waitFor();
    const verdict = page.getByTestId('fit-verdict');
    await until('the fit verdict', async () => /^FLUX\.1 \[schnell\] FP8 needs about [\d.]+ [GM]iB at 1024x1024 .*(it fits|too small|more than is free)/.test(await text(verdict)));
    const download = dialog.getByRole('button', { name: /^Download/ });
    assert.equal(await download.isEnabled(), true, 'Download is offered once the verdict is in');
    assert.match(await text(dialog.getByRole('region', { name: 'Download FLUX.1 schnell' })), /to download/);
    assert.equal(server.log.length, 0, 'nothing was fetched before the user chose to download');
    await screenshots(page, 'setup-download');
    const found = serious(await axe(page));
    assert.deepEqual(found, [], `download screen: axe found serious or critical violations:\n${JSON.stringify(found, null, 2)}`);

    // A mirror that lacks a file: the failure is one sentence naming the file and where it looked.
    server.fault(hubPath(SOURCES[0].file), { kind: 'status', code: 404 });
    await download.click();
    const failure = dialog.getByRole('alert');
    await until('the failure in one sentence', async () => /^flux1-schnell-fp8-e4m3fn\.safetensors: the server has no such file \(HTTP 404\) at http:\/\/127\.0\.0\.1:\d+\/schnell-e2e\//.test(await text(failure)));
    await dialog.getByRole('button', { name: 'Try again' }).click();
    const bar = () => dialog.getByRole('progressbar', { name: 'Download' });
    await until('download progress above 0', async () => Number(await bar().getAttribute('aria-valuenow')) > 0);
    // Whichever file is on its way when Pause is pressed (the first, unless this machine is slow).
    const folder = path.join(home, 'models', MODEL_ID);
    const partial = () => (fs.existsSync(folder) ? (fs.readdirSync(folder, { recursive: true }) as string[]).filter((f) => f.endsWith('.part')).map((f) => path.join(folder, f)) : []);
    await until('bytes on disk', async () => partial().some((f) => sizeOf(f) > 32 * 1024));
    assert.match(await text(dialog), /downloading/);

    const pause = async () => {
      await dialog.getByRole('button', { name: 'Pause download' }).click();
      await until('the paused state', async () => /paused/.test(await text(dialog)) && (await dialog.getByRole('button', { name: 'Resume download' }).count()) === 1);
    };
    await pause();
    // Second thoughts: Discard deletes what was kept, and the download starts over from nothing.
    await dialog.getByRole('button', { name: 'Discard download' }).click();
    // "Download anyway" where this machine's verdict is that it does not fit.
    const again = dialog.getByRole('button', { name: /^Download( anyway)?$/ });
    await until('the partial download deleted', async () => !fs.existsSync(folder) && (await again.count()) === 1);
    assert.equal(await dialog.getByRole('progressbar', { name: 'Download' }).count(), 0, 'no progress is left over');
    const requestsBefore = server.log.length;
    await again.click();
    await until('bytes on disk again', async () => partial().some((f) => sizeOf(f) > 32 * 1024));
    assert.equal(server.log[requestsBefore]?.range, undefined, 'a discarded download starts from the first byte');
    await pause();
    assert.equal(partial().length, 1, `one partial file is kept: ${partial().join(', ')}`);
    const part = partial()[0]!;
    const rel = path.relative(folder, part).slice(0, -'.part'.length).split(path.sep).join('/');
    const source = SOURCES.find((x) => ('folder' in x ? `${x.folder}/${x.file}` : x.file) === rel)!;
    const urlPath = hubPath(rel);
    const kept = sizeOf(part);
    assert.ok(kept > 0 && kept < fs.statSync(source.local).size, `a partial file is kept (${kept} bytes of ${rel})`);
    const requestsAtPause = server.log.length;
    await sleep(1500);
    assert.equal(sizeOf(part), kept, 'the file on disk stops growing while paused');
    assert.equal(server.log.length, requestsAtPause, 'no request while paused');
    assert.equal(await dialog.getByRole('button', { name: /^Use FLUX/ }).count(), 0, 'a half-downloaded model is not offered for use');
    assert.doesNotMatch(await text(dialog), /min left/, 'no time left is promised while paused');
    await screenshots(page, 'setup-download-paused');
    const pausedAxe = serious(await axe(page));
    assert.deepEqual(pausedAxe, [], `paused download: axe found serious or critical violations:\n${JSON.stringify(pausedAxe, null, 2)}`);

    // The pause outlives the studio: after a restart the first run offers to resume what was kept.
    assert.deepEqual(errors, [], 'no page errors');
    await page.close();
    await studio.stop();
    assert.equal(sizeOf(part), kept, 'stopping the studio keeps the partial file');
    studio = await startStudio(studioOptions);
    await open();
    dialog = page.getByRole('dialog', { name: 'Make your first image' });
    await dialog.waitFor();
    await until('the kept download after a restart', async () => /paused · [\d.]+ (KB|MB) of 4\.\d MB/.test(await text(dialog)));
    await until('the fit verdict for the half-downloaded model', async () => /^FLUX\.1 \[schnell\] FP8 needs about/.test(await text(page.getByTestId('fit-verdict'))));
    assert.equal(await dialog.getByRole('alert').count(), 0, 'no error in the first run');
    assert.equal(server.log.length, requestsAtPause, 'a restart fetches nothing by itself');

    // Resume at full speed: the rest of that file must come as a Range from the kept bytes.
    for (const s of server.files.values()) s.delayMs = 0;
    await dialog.getByRole('button', { name: 'Resume download' }).click();
    const use = dialog.getByRole('button', { name: 'Use FLUX.1 schnell' });
    await use.waitFor({ timeout: 60_000 });
    const resumed = server.log.slice(requestsAtPause).find((l) => l.path === urlPath);
    assert.ok(resumed, `${rel} was asked for again`);
    assert.equal(resumed.range, `bytes=${kept}-`, 'resume asks for the bytes after the kept ones');
    assert.equal(resumed.status, 206);
    const installed = path.join(home, 'models', MODEL_ID);
    assert.equal(fs.existsSync(part), false, 'the .part file became the real one');
    assert.equal(sha256(fs.readFileSync(path.join(installed, rel))), sha256(fs.readFileSync(source.local)), 'the resumed file is whole and correct');
    assert.ok(fs.existsSync(path.join(installed, 'schnell-model.json')));
    assert.ok(server.sentFor(urlPath) >= fs.statSync(source.local).size);
    assert.equal(Number(await bar().getAttribute('aria-valuenow')), 100);
    assert.match(await text(dialog), new RegExp(`complete · ${(total / 1024 ** 2).toFixed(1)} MB of ${(total / 1024 ** 2).toFixed(1)} MB`));

    await use.click();
    await dialog.waitFor({ state: 'detached' });
    const settings = await page.evaluate(async () => (await (await fetch('/api/settings.get', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as { result: { model: string | null } });
    assert.equal(settings.result.model, MODEL_ID);
    await page.getByRole('radio', { name: 'This machine' }).click();
    await until('the editor to say this machine serves', async () => /^Runs here on cpu with FLUX\.1 \[schnell\] FP8/.test(await text(page.getByTestId('serving'))));
    // The Models door lists it as installed and in use.
    await page.getByRole('button', { name: 'Models' }).click();
    await until('the installed list', async () => (await dialog.getByRole('button', { name: 'Use FLUX.1 [schnell] FP8' }).textContent()) === 'In use');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('a Fireworks key pasted in the first run and in Settings: kept 0600, never shown back, the editor says the cloud serves, removing it works', async () => {
    const serving = page.getByTestId('serving');
    await page.getByRole('radio', { name: 'Cloud', exact: true }).click();
    await until('no cloud without a key', async () => /^Cannot use the cloud: no Fireworks key/.test(await text(serving)));

    // The event stream is an HTTP answer too: keep what it says while the key changes.
    await page.evaluate(() => {
      const w = window as unknown as { seenEvents: string[] };
      w.seenEvents = [];
      const es = new EventSource('/api/events');
      for (const name of ['settings.changed', 'models.changed', 'runtime.restarted', 'apiServer.changed']) es.addEventListener(name, (e) => w.seenEvents.push(`${name} ${(e as MessageEvent<string>).data}`));
    });
    await page.getByRole('button', { name: 'Models' }).click();
    const first = page.getByRole('dialog', { name: 'Make your first image' });
    await first.getByLabel('Fireworks API key').fill(KEY);
    await first.getByRole('button', { name: 'Save key' }).click();
    await first.waitFor({ state: 'detached' });
    await until('the cloud to serve', async () => (await text(serving)) === 'Runs on Fireworks (cloud).');
    await page.getByRole('radio', { name: 'Auto' }).click();
    await until('auto to name the cloud as the fallback', async () => /^Auto: runs here on cpu, cloud as fallback\.$/.test(await text(serving)));
    await page.getByRole('radio', { name: 'Cloud', exact: true }).click();
    const secrets = path.join(home, 'secrets.json');
    assert.equal(fs.statSync(secrets).mode & 0o777, 0o600, 'secrets.json is readable by its owner only');
    assert.ok(fs.readFileSync(secrets, 'utf8').includes(KEY), 'the key is kept in secrets.json');

    await page.getByRole('button', { name: 'Settings' }).click();
    const dialog = page.getByRole('dialog', { name: 'Settings' });
    await dialog.waitFor();
    const cloud = dialog.getByRole('group', { name: 'Fireworks cloud' });
    assert.match(await text(cloud), /A key is stored/);
    assert.equal(await dialog.getByLabel('Fireworks API key').inputValue(), '', 'the stored key is not put back in the field');
    await screenshots(page, 'setup-settings-key');

    await cloud.getByRole('button', { name: 'Remove' }).click();
    await until('the key removed', async () => /No key is stored/.test(await text(cloud)));
    assert.ok(!fs.readFileSync(secrets, 'utf8').includes(KEY), 'removing deletes it from secrets.json');
    await until('the editor to say the cloud is off', async () => /^Cannot use the cloud/.test(await text(serving)));

    // Pasted again, in Settings this time.
    await dialog.getByLabel('Fireworks API key').fill(KEY);
    await cloud.getByRole('button', { name: 'Save' }).click();
    await until('the key stored again', async () => /A key is stored/.test(await text(cloud)));
    // The stored-key line can arrive (settings.changed) a moment before Save's own answer clears the field.
    await until('the key field emptied after saving', async () => (await dialog.getByLabel('Fireworks API key').inputValue()) === '');
    await until('the cloud to serve again', async () => (await text(serving)) === 'Runs on Fireworks (cloud).');
    assert.ok(fs.readFileSync(secrets, 'utf8').includes(KEY));
    assert.equal(fs.statSync(secrets).mode & 0o777, 0o600);

    const direct = await page.evaluate(async () => (await fetch('/api/settings.get', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).text());
    assert.match(direct, /"hasFireworksKey":true/);
    assert.ok(!direct.includes(KEY) && !direct.includes(KEY.slice(4, 16)), 'the settings answer does not carry the key');
    const shown = await page.evaluate(() => document.body.innerText + [...document.querySelectorAll('input,textarea')].map((e) => (e as HTMLInputElement).value).join('\n'));
    assert.ok(!shown.includes(KEY.slice(4, 16)), 'the page never shows the key');
    await sleep(200);
    assert.ok(answers.length > 5, `the page's answers were recorded (${answers.length})`);
    for (const a of answers) assert.ok(!a.includes(KEY.slice(4, 16)), `an HTTP answer carries the key: ${a.slice(0, 200)}`);
    const events = await page.evaluate(() => (window as unknown as { seenEvents: string[] }).seenEvents);
    assert.ok(events.some((e) => e.startsWith('settings.changed') && e.includes('"hasFireworksKey":true')), `the events said a key is stored: ${events.join('\n').slice(0, 300)}`);
    for (const e of events) assert.ok(!e.includes(KEY.slice(4, 16)), `an event carries the key: ${e.slice(0, 200)}`);

    await cloud.getByRole('button', { name: 'Remove' }).click();
    await until('the key removed again', async () => /No key is stored/.test(await text(cloud)));
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('projects: a cover in the sidebar and each project\'s own editor defaults survive a reload', async () => {
    const nav = page.getByRole('navigation', { name: 'Library' });
    const project = (name: string) => nav.getByRole('button', { name: new RegExp(`^${name}`) });
    const steps = page.getByRole('spinbutton', { name: 'Steps' });
    const chip = (re: RegExp) => page.getByRole('radio', { name: re });

    // Until one is chosen, a project's cover is its newest image; choose the other one.
    const cover = project('Posters').locator('img');
    const loaded = (img: Locator) => img.evaluate((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0);
    const thumb = (src: string | null) => /thumbs\/[^?#]+/.exec(src ?? '')?.[0] ?? `none:${src}`;
    await project('Posters').click();
    const before = thumb(await cover.getAttribute('src'));
    const grid = page.getByRole('listbox', { name: 'Images' });
    await until('the project\'s two images', async () => (await grid.getByRole('option').count()) === 2);
    let chosen = '';
    for (const option of await grid.getByRole('option').all()) {
      const t = thumb(await option.locator('img').first().getAttribute('src'));
      if (t !== before) {
        chosen = t;
        await option.dblclick();
        break;
      }
    }
    assert.ok(chosen.startsWith('thumbs/'), `an image other than the current cover (${before}) is in the grid`);
    await page.getByRole('complementary', { name: 'Image details' }).waitFor();
    await page.getByRole('button', { name: 'Back to the gallery' }).first().click();
    await page.getByRole('group', { name: 'Project Posters' }).getByRole('button', { name: /cover/i }).click();
    await until('the chosen cover in the sidebar', async () => thumb(await cover.getAttribute('src')) === chosen && (await loaded(cover)));
    const sketchesCover = thumb(await project('Sketches').locator('img').getAttribute('src'));
    assert.notEqual(sketchesCover, chosen, 'the other project keeps its own cover');

    // Posters: a wide size and 6 steps; Sketches: a tall size and 3 steps.
    await chip(/1344 by 768/).click();
    await steps.fill('6');
    await page.getByRole('group', { name: 'Project Posters' }).getByRole('button', { name: 'Save editor settings as defaults' }).click();
    await until('the saved note', async () => /Saved: Posters now opens with these editor settings/.test(await page.locator('body').innerText()));
    await screenshots(page, 'setup-projects');
    assert.equal(await nav.evaluate((el) => el.scrollWidth <= el.clientWidth), true, 'the project\'s tools fit the sidebar (no sideways scroll)');
    await project('Sketches').click();
    assert.equal(await page.getByRole('group', { name: 'Project Sketches' }).getByRole('button', { name: 'Use last opened as cover' }).isDisabled(), true, 'an image of Posters cannot become the cover of Sketches');
    await chip(/768 by 1344/).click();
    await steps.fill('3');
    await page.getByRole('group', { name: 'Project Sketches' }).getByRole('button', { name: 'Save editor settings as defaults' }).click();
    await nav.getByRole('button', { name: 'All images' }).click();
    await chip(/1024 by 1024/).click();
    await steps.fill('4');

    await page.reload();
    await nav.waitFor();
    await until('the chosen cover after the reload', async () => thumb(await cover.getAttribute('src')) === chosen && (await loaded(cover)));
    await project('Posters').click();
    await until('Posters\' defaults in the editor', async () => (await steps.inputValue()) === '6' && (await chip(/1344 by 768/).getAttribute('aria-checked')) === 'true');
    await project('Sketches').click();
    await until('Sketches\' own defaults', async () => (await steps.inputValue()) === '3' && (await chip(/768 by 1344/).getAttribute('aria-checked')) === 'true');
    await project('Posters').click();
    await until('Posters\' defaults again', async () => (await steps.inputValue()) === '6' && (await chip(/1344 by 768/).getAttribute('aria-checked')) === 'true');

    // Back to the newest image as the cover.
    await page.getByRole('group', { name: 'Project Posters' }).getByRole('button', { name: 'Newest image as cover' }).click();
    await until('the newest image as the cover again', async () => thumb(await cover.getAttribute('src')) === before && (await loaded(cover)));
    assert.deepEqual(errors, [], 'no page errors');
  });
});
