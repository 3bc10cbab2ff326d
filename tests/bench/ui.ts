// `npm run bench:ui [-- --rows 1000000]`: the gallery of a heavy user's library in a real browser.
// Seeds a library (tests/bench/seed.ts, the catalog bench's generator), gives every row a real
// thumbnail file (hard links to one WebP, so the browser decodes images as it would), starts a real
// `schnell studio` on it, opens headless Chromium at 1280×800 and measures: time to first image,
// frame times while scrolling the gallery end to end (median, p95, worst, frames over 25 ms),
// scroll-bar jumps (dragged to 70 %, 30 %, 90 %: until every cell on screen has its row),
// search-to-results (typing to the first matching cell, and the catalog call alone), and the
// renderer's JS heap after the scroll. Prints a table and writes .tmp/bench-ui.json.
// Past 6,000 px/s the gallery shows a cell's image only once the scrolling slows (Gallery.tsx):
// the share of rows on screen still waiting for their image is reported beside the frame times.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { openCatalog } from '../../main/catalog/index.js';
import { buildRenderer, launchBrowser, ROOT, startStudio } from '../e2e/harness.js';
import { seedCatalog } from './seed.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    /** Rows that get a thumbnail file (the rest show their placeholder, as a missing file would). */
    thumbs: { type: 'string' },
    /** Reuse (or keep) a seeded library folder between runs. */
    library: { type: 'string' },
    word: { type: 'string', default: 'lighthouse' },
  },
});
const ROWS = Number(values.rows);
if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error(`--rows must be a whole number (got ${values.rows})`);
const THUMBS = Math.min(ROWS, Number(values.thumbs ?? 1_000_000));

const q = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
const fmt = (n: number | undefined, d = 1) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : '—');
const log = (s: string) => process.stderr.write(`${s}\n`);

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-bench-ui-'));
const library = values.library ? path.resolve(values.library) : path.join(home, 'library');
const results: Record<string, unknown> = { rows: ROWS, viewport: '1280x800' };

// 1. The library.
if (!fs.existsSync(path.join(library, 'catalog.sqlite'))) {
  fs.mkdirSync(library, { recursive: true });
  log(`seeding ${ROWS.toLocaleString('en')} generations…`);
  const seeded = seedCatalog(library, ROWS, { onProgress: (d, t) => process.stderr.isTTY && process.stderr.write(`\r  ${Math.round((100 * d) / t)}%`) });
  results.seedSeconds = seeded.seconds;
  log(`\n  ${fmt(seeded.seconds)} s`);
}
{
  const t = performance.now();
  // A file system caps the links to one file (ext4: 65,000), so one master per 50,000 rows, each
  // its own colour (the grid then looks like a library, not one tile).
  const masters: string[] = [];
  for (let m = 0; m < Math.ceil(THUMBS / 50_000); m++) {
    const hue = (m * 47) % 360;
    const [r, g, b] = [Math.round(128 + 90 * Math.cos((hue * Math.PI) / 180)), Math.round(128 + 90 * Math.cos(((hue - 120) * Math.PI) / 180)), Math.round(128 + 90 * Math.cos(((hue + 120) * Math.PI) / 180))];
    const file = path.join(library, `bench-thumb-${m}.webp`);
    fs.writeFileSync(file, await sharp({ create: { width: 256, height: 256, channels: 3, background: { r, g, b } } }).webp({ quality: 70 }).toBuffer());
    masters.push(file);
  }
  let n = 0;
  const marker = path.join(library, `bench-thumbs-${THUMBS}`);
  const catalog = openCatalog(path.join(library, 'catalog.sqlite'));
  let made = 0;
  const dirs = new Set<string>();
  if (!fs.existsSync(marker)) for (const r of catalog.db.prepare('SELECT image_hash AS h FROM generations ORDER BY created_at DESC LIMIT ?').iterate(THUMBS) as Iterable<{ h: string }>) {
    const dir = path.join(library, 'thumbs', r.h.slice(0, 2));
    if (!dirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    try {
      fs.linkSync(masters[Math.floor(n++ / 50_000)]!, path.join(dir, `${r.h}.webp`));
      made++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  catalog.close();
  fs.writeFileSync(marker, '');
  log(`thumbnails: ${made.toLocaleString('en')} links in ${fmt((performance.now() - t) / 1000)} s`);
}

// 2. The studio and the browser.
buildRenderer();
const studio = await startStudio({ home, library });
const browser = await launchBrowser({ width: 1280, height: 800 });
try {
  const page = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(page);
  await page.goto(await studio.nextSignIn());
  const firstImage = await page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        const check = () => {
          const img = document.querySelector<HTMLImageElement>('.gallery-scroll .cell img');
          if (img && img.complete && img.naturalWidth > 0) resolve(performance.now());
          else requestAnimationFrame(check);
        };
        check();
      }),
  );
  results.timeToFirstImageMs = firstImage;
  log(`time to first image: ${fmt(firstImage)} ms after navigation`);
  // The first-run dialog (no model is set in a fresh home) opens when the studio answers, which on a
  // busy machine can be after the first image: wait for it a moment, and close it if it came.
  const dialog = page.getByRole('dialog');
  await dialog.waitFor({ timeout: 5000 }).then(
    async () => {
      await dialog.getByRole('button', { name: 'Close' }).first().click();
      await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
    },
    () => log('no first-run dialog'),
  );
  await page.waitForTimeout(500);
  const total = await page.getByTestId('result-count').innerText();
  log(`gallery: ${total}`);

  // 3a. Browse: 600 frames, a wheel step of 40 px each (2,400 px/s, steady wheel scrolling),
  // recording every frame's duration and how many visible cells were still placeholders.
  // Main-thread time by kind (Chromium's Performance domain), read around each scroll: busy time
  // per frame says what the page itself costs, where frame times also count the CPU that other
  // processes of a busy machine took.
  await cdp.send('Performance.enable');
  type Busy = { taskMs: number; scriptMs: number; layoutMs: number; styleMs: number };
  const busy = async (): Promise<Busy> => {
    const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
    const m = (n: string) => (metrics.find((x) => x.name === n)?.value ?? 0) * 1000;
    return { taskMs: m('TaskDuration'), scriptMs: m('ScriptDuration'), layoutMs: m('LayoutDuration'), styleMs: m('RecalcStyleDuration') };
  };
  const perFrame = (a: Busy, b: Busy, frames: number) => ({
    taskMs: (b.taskMs - a.taskMs) / frames,
    scriptMs: (b.scriptMs - a.scriptMs) / frames,
    layoutMs: (b.layoutMs - a.layoutMs) / frames,
    styleMs: (b.styleMs - a.styleMs) / frames,
  });
  const busyBeforeBrowse = await busy();
  const browse = await page.evaluate(async () => {
    const el = document.querySelector<HTMLElement>('.gallery-scroll')!;
    const frames: number[] = [];
    let placeholders = 0;
    let imageless = 0;
    let cellsSeen = 0;
    await new Promise<void>((resolve) => {
      let last = performance.now();
      const step = (now: number) => {
        frames.push(now - last);
        last = now;
        cellsSeen += el.querySelectorAll('.cell').length;
        placeholders += el.querySelectorAll('.cell.placeholder').length;
        imageless += el.querySelectorAll('.cell[role=option]:not(:has(img))').length;
        if (frames.length > 600) return resolve();
        // A wheel step of 40 px, as the browser would take it: the gallery may handle it itself
        // (past 15 M px of rows it moves the rows 40 px); if not, the scroller moves 40 px.
        const wheel = new WheelEvent('wheel', { deltaY: 40, deltaMode: 0, bubbles: true, cancelable: true });
        el.dispatchEvent(wheel);
        if (!wheel.defaultPrevented) el.scrollTop += 40;
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    return { frames: frames.slice(1), placeholderShare: placeholders / Math.max(1, cellsSeen), imagelessShare: imageless / Math.max(1, cellsSeen) };
  });
  const browseBusy = perFrame(busyBeforeBrowse, await busy(), browse.frames.length);
  results.browse = { busyPerFrame: browseBusy, frames: browse.frames.length, medianMs: q(browse.frames, 0.5), p95Ms: q(browse.frames, 0.95), worstMs: Math.max(...browse.frames), over25ms: browse.frames.filter((f) => f > 25).length, placeholderShare: browse.placeholderShare, imagelessShare: browse.imagelessShare };
  log(`browse: median ${fmt(q(browse.frames, 0.5))} ms, p95 ${fmt(q(browse.frames, 0.95))} ms`);

  // 3b. Fling end to end, a fixed distance per frame, recording every frame's duration and how
  // many visible cells were still placeholders (rows not yet paged in).
  const busyBeforeScroll = await busy();
  const scroll = await page.evaluate(async () => {
    const el = document.querySelector<HTMLElement>('.gallery-scroll')!;
    const frames: number[] = [];
    let placeholders = 0;
    let imageless = 0;
    let cellsSeen = 0;
    const start = performance.now();
    await new Promise<void>((resolve) => {
      let last = performance.now();
      const step = (now: number) => {
        frames.push(now - last);
        last = now;
        // End to end in about 3,000 frames (50 s at 60 Hz), never slower than a brisk 600 px a frame.
        const per = Math.max(600, el.scrollHeight / 3000);
        const sample = el.querySelectorAll('.cell');
        cellsSeen += sample.length;
        placeholders += el.querySelectorAll('.cell.placeholder').length;
        imageless += el.querySelectorAll('.cell[role=option]:not(:has(img))').length;
        if (el.scrollTop + el.clientHeight >= el.scrollHeight - 2) return resolve();
        el.scrollTop += per;
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    const scrolled = performance.now() - start;
    // Then wait for the last rows to be paged in (the keyset walk to the end).
    const endStart = performance.now();
    await new Promise<void>((resolve) => {
      // Done when the rows on screen are real cells (options), none a placeholder; 5 minutes at most.
      const give = performance.now() + 300_000;
      const check = () =>
        (el.querySelectorAll('.cell[role=option]').length > 0 && el.querySelectorAll('.cell.placeholder').length === 0) || performance.now() > give
          ? resolve()
          : setTimeout(check, 50);
      check();
    });
    return { frames: frames.slice(1), scrolled, endWait: performance.now() - endStart, scrollHeight: el.scrollHeight, placeholderShare: placeholders / Math.max(1, cellsSeen), imagelessShare: imageless / Math.max(1, cellsSeen) };
  });
  const scrollBusy = perFrame(busyBeforeScroll, await busy(), scroll.frames.length);
  results.scroll = {
    busyPerFrame: scrollBusy,
    frames: scroll.frames.length,
    medianMs: q(scroll.frames, 0.5),
    p95Ms: q(scroll.frames, 0.95),
    worstMs: Math.max(...scroll.frames),
    over25ms: scroll.frames.filter((f) => f > 25).length,
    scrollSeconds: scroll.scrolled / 1000,
    scrollHeightPx: scroll.scrollHeight,
    placeholderShare: scroll.placeholderShare,
    imagelessShare: scroll.imagelessShare,
    lastPageWaitMs: scroll.endWait,
  };
  log(`scroll: ${scroll.frames.length} frames, median ${fmt(q(scroll.frames, 0.5))} ms, p95 ${fmt(q(scroll.frames, 0.95))} ms`);

  // 3c. Jumps: the scroll bar dragged to 70 % (and then to 30 %), timed to the moment every cell on
  // screen shows its image's row (no placeholder): one request for the page at that row number.
  const jumps: number[] = [];
  for (const to of [0.7, 0.3, 0.9]) {
    jumps.push(
      await page.evaluate(async (to) => {
        const el = document.querySelector<HTMLElement>('.gallery-scroll')!;
        const t = performance.now();
        el.scrollTop = to * (el.scrollHeight - el.clientHeight);
        await new Promise<void>((resolve) => {
          const give = performance.now() + 60_000;
          const check = () =>
            (el.querySelectorAll('.cell[role=option]').length > 0 && el.querySelectorAll('.cell.placeholder').length === 0) || performance.now() > give
              ? resolve()
              : requestAnimationFrame(check);
          requestAnimationFrame(check);
        });
        return performance.now() - t;
      }, to),
    );
  }
  results.jump = { to: [0.7, 0.3, 0.9], ms: jumps };
  log(`jumps: ${jumps.map((j) => fmt(j, 0)).join(', ')} ms`);

  // 4. Search: typing a word to the first matching cell on screen (includes the box's 150 ms
  // debounce), and the catalog call alone over HTTP (a page of 200, once the page is quiet).
  const word = values.word!;
  await page.evaluate(() => document.querySelector<HTMLElement>('.gallery-scroll')!.scrollTo({ top: 0 }));
  const searchMs: number[] = [];
  const callMs: number[] = [];
  for (const w of [word, 'castle', 'watercolor fox', 'neon city', 'zzzz-no-match']) {
    await page.getByRole('searchbox', { name: 'Search' }).fill('');
    await page.waitForTimeout(400);
    const t0 = await page.evaluate(() => performance.now());
    await page.getByRole('searchbox', { name: 'Search' }).fill(w);
    const t1 = await page.evaluate(
      (w) =>
        new Promise<number>((resolve) => {
          const check = () => {
            const count = document.querySelector('[data-testid=result-count]')?.textContent ?? '';
            const first = document.querySelector('.gallery-scroll .cell[role=option]');
            const empty = document.querySelector('.empty');
            if (count.includes(`“${w}”`) && (first || empty)) resolve(performance.now());
            else requestAnimationFrame(check);
          };
          check();
        }),
      w,
    );
    searchMs.push(t1 - t0);
    // The call alone: after the page's own requests for these results (thumbnails, counts) are done.
    await page.waitForTimeout(1000);
    callMs.push(
      await page.evaluate(async (w) => {
        const t = performance.now();
        await fetch('api/library.search', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: w, limit: 200 }) }).then((r) => r.json());
        return performance.now() - t;
      }, w),
    );
  }
  results.search = { words: 5, toResultsMedianMs: q(searchMs, 0.5), toResultsWorstMs: Math.max(...searchMs), debounceMs: 150, catalogCallMedianMs: q(callMs, 0.5), catalogCallWorstMs: Math.max(...callMs) };

  // 5. The renderer's heap after all that (after a GC).
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
  results.heapMiB = { used: heap.usedSize / 2 ** 20, total: heap.totalSize / 2 ** 20 };
} finally {
  await browser.close();
  await studio.stop();
  if (!values.library) fs.rmSync(home, { recursive: true, force: true });
}

type Numbers<K extends string> = { [k in K]: number };
const s = results.scroll as Numbers<'frames' | 'medianMs' | 'p95Ms' | 'worstMs' | 'over25ms' | 'scrollHeightPx' | 'placeholderShare' | 'imagelessShare' | 'lastPageWaitMs'>;
const br = results.browse as Numbers<'frames' | 'medianMs' | 'p95Ms' | 'worstMs' | 'over25ms' | 'placeholderShare' | 'imagelessShare'>;
const jumpMs = (results.jump as { ms: number[] }).ms;
type PerFrame = { taskMs: number; scriptMs: number; layoutMs: number; styleMs: number };
const busyText = (b: PerFrame) => `${fmt(b.taskMs, 2)} ms (script ${fmt(b.scriptMs, 2)}, style ${fmt(b.styleMs, 2)}, layout ${fmt(b.layoutMs, 2)})`;
const se = results.search as Numbers<'toResultsMedianMs' | 'toResultsWorstMs' | 'catalogCallMedianMs' | 'catalogCallWorstMs'>;
const h = results.heapMiB as Numbers<'used' | 'total'>;
const rows: [string, string][] = [
  ['rows', ROWS.toLocaleString('en')],
  ['time to first image (navigation → first decoded thumbnail)', `${fmt(results.timeToFirstImageMs as number, 0)} ms`],
  [`browse: 600 frames, a 40 px wheel step each`, `median ${fmt(br.medianMs)} ms, p95 ${fmt(br.p95Ms)} ms, worst ${fmt(br.worstMs)} ms, ${br.over25ms} frames over 25 ms, ${fmt(100 * br.placeholderShare)} % placeholders, ${fmt(100 * br.imagelessShare)} % waiting for their image (fast scrolling)`],
  [`fling end to end (${fmt(s.scrollHeightPx / 1e6, 1)} M px, ${s.frames} frames)`, `median ${fmt(s.medianMs)} ms, p95 ${fmt(s.p95Ms)} ms, worst ${fmt(s.worstMs)} ms, ${s.over25ms} frames over 25 ms`],
  ['  main thread busy per frame while browsing', busyText((results.browse as { busyPerFrame: PerFrame }).busyPerFrame)],
  ['  main thread busy per frame during the fling', busyText((results.scroll as { busyPerFrame: PerFrame }).busyPerFrame)],
  ['visible cells during the fling: placeholders (rows not loaded yet) · rows waiting for their image', `${fmt(100 * s.placeholderShare)} % · ${fmt(100 * s.imagelessShare)} %`],
  ['last page shown after the scroll stopped', `${fmt(s.lastPageWaitMs, 0)} ms`],
  ['scroll bar dragged to 70 %, 30 %, 90 % → every cell on screen filled', jumpMs.map((j) => `${fmt(j, 0)} ms`).join(', ')],
  ['search: typing → first result on screen (incl. 150 ms debounce)', `median ${fmt(se.toResultsMedianMs, 0)} ms, worst ${fmt(se.toResultsWorstMs, 0)} ms`],
  ['search: library.search over HTTP', `median ${fmt(se.catalogCallMedianMs)} ms, worst ${fmt(se.catalogCallWorstMs)} ms`],
  ['renderer JS heap after GC', `${fmt(h.used)} MiB used of ${fmt(h.total)} MiB`],
];
const width = Math.max(...rows.map((r) => r[0].length));
console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
fs.mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
fs.writeFileSync(path.join(ROOT, '.tmp/bench-ui.json'), JSON.stringify(results, null, 2));
