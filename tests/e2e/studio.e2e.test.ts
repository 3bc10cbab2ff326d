// The studio UI in a real browser against a real `schnell studio` with the demo model: first run,
// generate with progress, remix and lineage, search, filter, favourite, projects, trash and undo,
// a reload that finds everything, and the same by keyboard alone. Controls are found by their
// accessible names; axe-core checks each main screen; screenshots land in .tmp/screenshots.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { axe, buildRenderer, launchBrowser, openStudio, screenshots, serious, startStudio, type Browser, type RunningStudio, waiter } from './harness.js';

const GENERATION_MS = 240_000;
/** Waits that photograph the page on time-out (.tmp/screenshots/failed-*.png), so a red run shows what the user saw. */
const { until, watch } = waiter('');

const grid = (page: Page) => page.getByRole('listbox', { name: 'Images' });
const cells = (page: Page) => grid(page).getByRole('option');

async function cellCount(page: Page, n: number, ms = 20_000): Promise<void> {
  await until(`${n} image(s) in the gallery`, async () => (await cells(page).count()) === n, ms);
}

async function noSeriousAxe(page: Page, screen: string): Promise<void> {
  const found = serious(await axe(page));
  assert.deepEqual(found, [], `${screen}: axe found serious or critical violations:\n${JSON.stringify(found, null, 2)}`);
}

/** Records every "step n/m" the queue shows, so a short run's progress cannot slip between two looks. */
async function watchProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { seenSteps: string[] };
    w.seenSteps = [];
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[role=progressbar][aria-label=Progress]')) {
        const t = el.getAttribute('aria-valuetext') ?? '';
        if (/^Step \d+ of \d+/.test(t) && !w.seenSteps.includes(t)) w.seenSteps.push(t);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
}

async function generate(page: Page, prompt: string, opts: { size?: RegExp } = {}): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Prompt', exact: true });
  await box.fill(prompt);
  if (opts.size) await page.getByRole('radio', { name: opts.size }).click();
  await page.getByRole('spinbutton', { name: 'Steps' }).fill('2');
  await page.getByRole('button', { name: 'Generate', exact: true }).click();
}

async function jobsDone(page: Page, n: number): Promise<void> {
  await until(
    `${n} finished job(s)`,
    async () => {
      const failed = page.locator('.job[data-status=failed] [role=alert]');
      if ((await failed.count()) > 0) throw new Error(`a job failed: ${await failed.first().textContent()}`);
      return (await page.locator('.job[data-status=done]').count()) >= n;
    },
    GENERATION_MS,
  );
}

async function backToGallery(page: Page): Promise<void> {
  const back = page.getByRole('button', { name: 'Back to the gallery' });
  if (await back.count()) await back.first().click();
  await grid(page).waitFor();
}

async function pick(page: Page, nav: string | RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Library' }).getByRole('button', { name: nav }).first().click();
}

async function search(page: Page, text: string): Promise<void> {
  await page.getByRole('searchbox', { name: 'Search' }).fill(text);
}

function text(l: Locator): Promise<string> {
  return l.innerText();
}

describe('the studio in a browser', { timeout: 15 * 60_000 }, () => {
  let studio: RunningStudio;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  before(async () => {
    buildRenderer();
    studio = await startStudio();
    browser = await launchBrowser();
    ({ page, errors } = await openStudio(browser, studio));
    watch(page);
  });

  after(async () => {
    await browser?.close();
    await studio?.stop();
  });

  test('first run offers three ways in; the demo model makes the studio ready', async () => {
    const dialog = page.getByRole('dialog', { name: 'Make your first image' });
    await dialog.waitFor();
    for (const name of ['Download FLUX.1 schnell', 'Use the Fireworks cloud', 'Try the demo model']) {
      assert.equal(await dialog.getByRole('heading', { name }).count(), 1, name);
    }
    // The fit verdict arrives before anything is downloaded.
    await until('the fit verdict', async () => !/Checking/.test(await text(page.getByTestId('fit-verdict'))));
    await screenshots(page, 'first-run');
    await noSeriousAxe(page, 'first run');
    await dialog.getByRole('button', { name: 'Try the demo model' }).click();
    await dialog.waitFor({ state: 'detached' });
    await until('the editor to say the demo model serves', async () => /here|this machine/i.test(await text(page.getByTestId('serving'))));
    assert.match(await text(page.getByRole('list', { name: 'What the model will ignore' })), /untrained/);
  });

  test('type a prompt, Generate, see progress, find the image in the gallery', async () => {
    // An empty prompt is refused in place, in one sentence.
    await page.getByRole('textbox', { name: 'Prompt', exact: true }).fill('');
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    assert.equal(await text(page.getByRole('alert').filter({ hasText: 'prompt' })), 'Write a prompt first.');

    await watchProgress(page);
    // Every live preview the queue shows, and whether it loaded: recorded in the page as it happens,
    // like the steps, because a demo run is over in seconds.
    await page.evaluate(() => {
      const w = window as unknown as { livePreviews: { src: string; width: number }[] };
      w.livePreviews = [];
      const live = (n: EventTarget | null): n is HTMLImageElement =>
        n instanceof HTMLImageElement && n.alt === 'Live preview of the image forming' && n.closest('section[aria-label=Queue]') !== null;
      const note = (img: HTMLImageElement) => {
        const src = img.getAttribute('src') ?? '';
        const seen = w.livePreviews.find((p) => p.src === src) ?? (w.livePreviews.push({ src, width: 0 }), w.livePreviews.at(-1)!);
        if (img.complete) seen.width = Math.max(seen.width, img.naturalWidth);
      };
      new MutationObserver(() => document.querySelectorAll('section[aria-label=Queue] img').forEach((img) => live(img) && note(img)))
        .observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
      document.addEventListener('load', (e) => live(e.target) && note(e.target), true);
    });
    await generate(page, 'a lighthouse at dusk over a calm sea');
    await jobsDone(page, 1);
    const seen = await page.evaluate(() => (window as unknown as { seenSteps: string[] }).seenSteps);
    assert.ok(seen.some((s) => /^Step \d+ of 2/.test(s)), `the queue showed per-step progress (saw ${JSON.stringify(seen)})`);
    const previews = await page.evaluate(() => (window as unknown as { livePreviews: { src: string; width: number }[] }).livePreviews);
    assert.ok(previews.some((p) => p.src.startsWith('/previews/')), `the queue showed a live preview of the image forming (saw ${JSON.stringify(previews)})`);
    assert.ok(previews.some((p) => p.width > 0), `a live preview loaded in the page (saw ${JSON.stringify(previews)})`);
    // Once the job is done the queue shows the saved image instead.
    assert.equal(await page.getByRole('img', { name: 'Live preview of the image forming' }).count(), 0);
    await cellCount(page, 1);
    assert.match(await text(page.getByTestId('result-count')), /1 image\b/);
    const name = await cells(page).first().getAttribute('aria-label');
    assert.match(name ?? '', /lighthouse at dusk/);
    await screenshots(page, 'gallery');
    await noSeriousAxe(page, 'gallery');
  });

  test('open it, remix with a new seed, and the lineage shows both', async () => {
    await cells(page).first().dblclick();
    const details = page.getByRole('complementary', { name: 'Image details' });
    await details.waitFor();
    const parentSeed = await text(page.getByTestId('detail-seed'));
    await details.getByRole('button', { name: 'Vary seed' }).click();
    await jobsDone(page, 2);
    const lineage = page.getByRole('list', { name: 'Lineage' });
    await until('the lineage to show parent and remix', async () => (await lineage.getByRole('listitem').count()) === 2);
    await lineage.getByRole('button', { name: /^Remix/ }).click();
    await until('the remix to open', async () => (await text(page.getByTestId('detail-seed'))) !== parentSeed);
    assert.equal(await lineage.getByRole('button', { name: /^Parent/ }).count(), 1, 'the remix shows its parent');
    await screenshots(page, 'detail');
    await noSeriousAxe(page, 'detail');
  });

  test('a third image at another size; search finds images by a word of the prompt', async () => {
    await backToGallery(page);
    await generate(page, 'a red fox asleep in the snow', { size: /1152 by 896/ });
    await jobsDone(page, 3);
    await cellCount(page, 3);
    await search(page, 'lighthouse');
    await cellCount(page, 2);
    await search(page, 'fox');
    await cellCount(page, 1);
    assert.match((await cells(page).first().getAttribute('aria-label')) ?? '', /red fox/);
    await search(page, 'zebra');
    await cellCount(page, 0);
    await until('the empty state', async () => (await page.getByRole('heading', { name: 'Nothing matches' }).count()) === 1);
    await search(page, '');
    await cellCount(page, 3);
  });

  test('filter by resolution', async () => {
    const resolution = page.getByRole('combobox', { name: 'Resolution' });
    await until('the resolution facet', async () => (await resolution.locator('option').count()) >= 3);
    await resolution.selectOption('1152x896');
    await cellCount(page, 1);
    await resolution.selectOption('1024x1024');
    await cellCount(page, 2);
    await resolution.selectOption('');
    await cellCount(page, 3);
  });

  test('favourite an image and find it under Favourites', async () => {
    await search(page, 'fox');
    await cellCount(page, 1);
    await cells(page).first().dblclick();
    const fav = page.getByRole('button', { name: 'Favourite', exact: true });
    await fav.click();
    await until('the favourite to stick', async () => (await fav.getAttribute('aria-pressed')) === 'true');
    await backToGallery(page);
    await search(page, '');
    await pick(page, 'Favourites');
    await cellCount(page, 1);
    await pick(page, 'All images');
    await cellCount(page, 3);
  });

  test('move an image to a new project', async () => {
    await search(page, 'fox');
    await cellCount(page, 1);
    await cells(page).first().dblclick();
    await page.getByRole('combobox', { name: /Move to project/ }).fill('Winter');
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    const project = page.getByRole('navigation', { name: 'Library' }).getByRole('button', { name: /Winter/ });
    await until('the project in the sidebar', async () => /1$/.test((await project.innerText()).trim()));
    await backToGallery(page);
    await search(page, '');
    await project.click();
    await cellCount(page, 1);
    await pick(page, 'All images');
    await cellCount(page, 3);
  });

  test('trash an image, then undo', async () => {
    await cells(page).first().dblclick();
    await page.getByRole('button', { name: 'Move to trash' }).click();
    await cellCount(page, 2);
    await pick(page, 'Trash');
    await cellCount(page, 1);
    await page.getByRole('button', { name: 'Undo' }).click();
    await cellCount(page, 0);
    await pick(page, 'All images');
    await cellCount(page, 3);
  });

  test('compare two images side by side; settings', async () => {
    await search(page, 'lighthouse');
    await cellCount(page, 2);
    await cells(page).nth(0).click();
    await cells(page).nth(1).click({ modifiers: ['Control'] });
    await page.getByRole('button', { name: 'Compare' }).click();
    await until('two images compared', async () => (await page.locator('.compare figure img').count()) === 2);
    await screenshots(page, 'compare');
    await noSeriousAxe(page, 'compare');
    await backToGallery(page);
    await search(page, '');
    await page.getByRole('button', { name: 'Settings' }).click();
    const dialog = page.getByRole('dialog', { name: 'Settings' });
    await dialog.waitFor();
    assert.equal(await dialog.getByLabel('Fireworks API key').getAttribute('type'), 'password');
    await screenshots(page, 'settings');
    await noSeriousAxe(page, 'settings');
    await dialog.getByRole('combobox', { name: 'Theme' }).selectOption('light');
    await until('the light theme', async () => (await page.evaluate(() => document.documentElement.dataset.theme)) === 'light');
    await screenshots(page, 'settings-light');
    await dialog.getByRole('combobox', { name: 'Theme' }).selectOption('dark');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('reload the page and find everything as it was', async () => {
    await page.reload();
    await grid(page).waitFor();
    assert.equal(await page.getByRole('dialog', { name: 'Make your first image' }).count(), 0, 'the first run does not come back');
    await cellCount(page, 3);
    await pick(page, 'Favourites');
    await cellCount(page, 1);
    await pick(page, /Winter/);
    await cellCount(page, 1);
    await pick(page, 'All images');
    await search(page, 'lighthouse');
    await cellCount(page, 2);
    await cells(page).last().dblclick();
    await until('the lineage after reload', async () => (await page.getByRole('list', { name: 'Lineage' }).getByRole('listitem').count()) === 2);
    await backToGallery(page);
    await search(page, '');
    assert.deepEqual(errors, [], 'no errors in the page');
  });

  test('the same by keyboard alone', async () => {
    await page.reload();
    await grid(page).waitFor();
    await cellCount(page, 3);
    const focused = () => page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? `${el.tagName.toLowerCase()}#${el.id}|${el.getAttribute('aria-label') ?? ''}|${el.textContent?.slice(0, 30) ?? ''}` : '';
    });
    const tabTo = async (want: RegExp, max = 80) => {
      for (let i = 0; i < max; i++) {
        if (want.test(await focused())) return;
        await page.keyboard.press('Tab');
      }
      throw new Error(`Tab never reached ${want} (last: ${await focused()})`);
    };
    // As a person would: act on the highlighted image once it is on screen (its cell is the
    // grid's active descendant), not on a cell whose page is still arriving.
    const activeShown = () => until('the active image in the grid', async () => Boolean(await grid(page).getAttribute('aria-activedescendant')));
    // Editor: Tab to the prompt, type, Ctrl+Enter.
    await tabTo(/^textarea#prompt-input/);
    await page.keyboard.type('an owl made of brass, keyboard only');
    await tabTo(/^input#steps-input/);
    await page.keyboard.press('Control+A');
    await page.keyboard.type('2');
    await page.keyboard.press('Control+Enter');
    await jobsDone(page, 4);
    await cellCount(page, 4);
    // Search with "/" from anywhere.
    await page.keyboard.press('Escape');
    await tabTo(/\|Images\|/);
    await page.keyboard.press('/');
    await page.keyboard.type('owl');
    await cellCount(page, 1);
    // Grid: focus it, open with Enter, favourite, back with Escape.
    await tabTo(/\|Images\|/);
    await page.keyboard.press('Home');
    await activeShown();
    await page.keyboard.press('Enter');
    await page.getByRole('complementary', { name: 'Image details' }).waitFor();
    await tabTo(/^button#\|Favourite\|/);
    await page.keyboard.press('Enter');
    await until('favourite by keyboard', async () => (await page.getByRole('button', { name: 'Favourite', exact: true }).getAttribute('aria-pressed')) === 'true');
    await page.keyboard.press('Escape');
    await grid(page).waitFor();
    // Trash from the grid with Delete, and take it back with Ctrl+Z.
    await tabTo(/\|Images\|/);
    await page.keyboard.press('Home');
    await activeShown();
    await page.keyboard.press('Delete');
    await cellCount(page, 0);
    await page.keyboard.press('Control+z');
    await cellCount(page, 1);
    await page.keyboard.press('Shift+Tab');
    await page.getByRole('searchbox', { name: 'Search' }).focus();
    await page.keyboard.press('Escape');
    await cellCount(page, 4);
  });

  test('drop an image onto the gallery to import it', async () => {
    // A PNG made in the page (as a file from another tool would arrive), dropped as a File.
    await page.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 64;
      canvas.height = 48;
      const ctx = canvas.getContext('2d')!;
      ctx.fillStyle = '#3a7';
      ctx.fillRect(0, 0, 64, 48);
      const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'));
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'dropped-from-desktop.png', { type: 'image/png' }));
      const target = document.querySelector('section[aria-label=Gallery]')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await until('the import toast', async () => /Imported 1 of 1 image/.test(await page.locator('.toasts').innerText()));
    await cellCount(page, 5);
    const source = page.getByRole('combobox', { name: 'Source' });
    await until('an imported source in the facets', async () => (await source.locator('option').count()) >= 3);
    const values = await source.locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const imported = values.find((v) => v && v !== 'ui');
    assert.ok(imported, `a source besides ui: ${values.join(', ')}`);
    await source.selectOption(imported!);
    await cellCount(page, 1);
    await source.selectOption('');
    await cellCount(page, 5);
  });

  test('rename and archive a project', async () => {
    await pick(page, /Winter/);
    await cellCount(page, 1);
    const tools = page.getByRole('group', { name: 'Project Winter' });
    await tools.getByRole('button', { name: 'Rename' }).click();
    const name = page.getByRole('textbox', { name: 'New name for Winter' });
    await name.fill('Snow');
    await name.press('Enter');
    const snow = page.getByRole('navigation', { name: 'Library' }).getByRole('button', { name: /^Snow/ });
    await snow.waitFor();
    await cellCount(page, 1);
    await page.getByRole('group', { name: 'Project Snow' }).getByRole('button', { name: 'Archive' }).click();
    await until('the archived project to leave the list', async () => (await snow.count()) === 0);
    await page.getByRole('button', { name: 'Show archived' }).click();
    await until('the archived project listed again', async () => /archived/.test(await snow.innerText()));
    await pick(page, 'All images');
    await cellCount(page, 5);
  });

  test('a project exported as a folder opens in another studio with its prompts and seeds', async () => {
    const folder = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-e2e-export-')), 'snow');
    await pick(page, /^Snow/);
    await page.getByRole('group', { name: 'Project Snow' }).getByRole('button', { name: 'Export…' }).click();
    const input = page.getByRole('textbox', { name: 'Folder to export Snow into' });
    await input.fill(folder);
    await input.press('Enter');
    await until('the export toast', async () => /Exported \d+ files? to/.test(await page.locator('.toasts').innerText()));
    assert.ok(fs.readdirSync(folder).length > 0, 'the export folder has files');
    await pick(page, 'All images');

    // Another studio (another machine, as far as the library knows) imports the folder.
    const other = await startStudio();
    try {
      const { page: p2 } = await openStudio(browser, other);
      await p2.getByRole('dialog', { name: 'Make your first image' }).waitFor();
      await p2.keyboard.press('Escape');
      await p2.getByRole('button', { name: 'Import…' }).click();
      const from = p2.getByRole('textbox', { name: 'Project folder to import' });
      await from.fill(folder);
      await from.press('Enter');
      await until('the import toast', async () => /Imported 1 images? into Snow/.test(await p2.locator('.toasts').innerText()));
      // It arrives as it left: archived (so listed once archived projects are shown).
      await p2.getByRole('button', { name: 'Show archived' }).click();
      await p2.getByRole('navigation', { name: 'Library' }).getByRole('button', { name: /^Snow \(archived\)/ }).click();
      await until('the imported image', async () => (await grid(p2).getByRole('option').count()) === 1);
      assert.match((await grid(p2).getByRole('option').first().getAttribute('aria-label')) ?? '', /red fox asleep in the snow, 1152×896, seed \d+/);
      await p2.close();
    } finally {
      await other.stop();
    }
  });
});
