// npm run bench:catalog [-- --rows N --out FILE --keep FILE]
// The catalog on synthetic generations (100,000 by default; --rows 1000000 for a heavy user's
// library): seeding, full-text search, gallery pages for every sort and filter, facet counts, and
// thumbnails per second for 1024² PNGs. Prints a table and writes JSON (default:
// $TMPDIR/schnell-bench/catalog.json). Numbers, not assertions: compare runs on the same machine.
// The rows come from tests/bench/seed.ts (seedCatalog), the same generator the UI benchmark uses.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { openCatalog, type SearchQuery } from '../../main/catalog/index.js';
import { makeThumbnail } from '../../main/library/store.js';
import { PROJECTS, randomSource, seedCatalog, STYLES, SUBJECTS, TAGS, WORDS } from './seed.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    out: { type: 'string', default: path.join(os.tmpdir(), 'schnell-bench', 'catalog.json') },
    thumbs: { type: 'string', default: '24' },
    'thumb-rounds': { type: 'string', default: '5' },
    keep: { type: 'string' }, // copy the built database here, to study query plans
  },
});
const ROWS = Number(values.rows);
const THUMBS = Number(values.thumbs);
if (!Number.isInteger(ROWS) || ROWS < 1000) throw new Error('--rows must be a whole number, 1000 or more');

const rand = randomSource(0x5eed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

// Wall time, and CPU time beside it: on a shared machine the wall clock also counts the time the
// scheduler gave to other processes; CPU time is the work the query itself did.
function timeEach(n: number, fn: (i: number) => void): { p50: number; p95: number; max: number; cpuP50: number; cpuP95: number } {
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    fn(i);
    times.push(performance.now() - t);
    const u = process.cpuUsage(c);
    cpu.push((u.user + u.system) / 1000);
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95), max: Math.max(...times), cpuP50: percentile(cpu, 50), cpuP95: percentile(cpu, 95) };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-bench-'));
const results: Record<string, unknown> = { rows: ROWS, node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadAverageAtStart: os.loadavg() };
let t = 0;
try {
  let shown = -1;
  const seeded = seedCatalog(dir, ROWS, {
    onProgress: (done, total) => {
      const pct = Math.floor((done / total) * 100);
      if (pct !== shown && process.stderr.isTTY) process.stderr.write(`\rseeding ${pct}%`);
      shown = pct;
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\r');
  results.bulkInsert = { seconds: seeded.seconds, cpuSeconds: seeded.cpuSeconds, rowsPerSecond: ROWS / seeded.seconds, batch: 5000, target: ROWS <= 100_000 ? '< 10 s' : '' };
  const catalog = openCatalog(seeded.file);

  const queries = Array.from({ length: 200 }, (_, i) => {
    const kind = i % 4;
    if (kind === 0) return pick(SUBJECTS);
    if (kind === 1) return `${pick(SUBJECTS)} ${pick(STYLES).split(' ')[0]}`;
    if (kind === 2) return pick(WORDS);
    return `${pick(STYLES)} ${pick(WORDS).slice(0, 3)}`; // prefix on the last word, as while typing
  });
  const search = timeEach(queries.length, (i) => catalog.search({ text: queries[i]!, limit: 200 }));
  const searchFiltered = timeEach(queries.length, (i) => catalog.search({ text: queries[i]!, project: pick(PROJECTS), limit: 200 }));
  results.search = { ...search, target: 'p95 < 20 ms', queries: queries.length };
  results.searchWithProject = searchFiltered;

  // Gallery: scroll pages deep for each sort, and within each kind of filter.
  const scroll = (q: SearchQuery, pages: number) => {
    let cursor: string | undefined;
    return timeEach(pages, () => {
      const page = catalog.search({ ...q, limit: 200, ...(cursor ? { cursor } : {}) });
      cursor = page.nextCursor ?? undefined;
    });
  };
  results.galleryPage = { ...scroll({}, 200), target: 'p95 < 20 ms' };
  results.galleryPageOldest = scroll({ sort: 'oldest' }, 50);
  results.galleryPageByRating = scroll({ sort: 'rating' }, 200);
  results.galleryPageFavoritesFirst = scroll({ sort: 'favorites' }, 50);
  results.galleryPageProject = scroll({ project: PROJECTS[3]! }, 20);
  results.galleryPageProjectByRating = scroll({ project: PROJECTS[3]!, sort: 'rating' }, 20);
  results.galleryPageNoProject = scroll({ project: null }, 20);
  results.galleryPageFavorites = scroll({ favorite: true }, 20);
  results.galleryPageSize = scroll({ width: 640, height: 1536 }, 20);
  results.galleryPageFiltered = scroll({ finishReason: 'CONTENT_FILTERED' }, 20);
  results.galleryPageCloud = scroll({ backend: 'cloud' }, 20);
  results.galleryPageTag = scroll({ tags: [TAGS[7]!] }, 20);
  results.galleryPageRated = scroll({ minRating: 4 }, 20);
  // Jumps (the scroll bar dragged): the page at a row number, 10 % to 82 % of the way down. The
  // cost grows with the row number along an index (see main/catalog/search.ts).
  const depth = (i: number) => 0.1 + 0.08 * i;
  results.jumpPage = timeEach(10, (i) => catalog.search({ at: Math.floor(ROWS * depth(i)), limit: 200 }));
  results.jumpPageProject = timeEach(10, (i) => catalog.search({ project: PROJECTS[3]!, at: Math.floor(ROWS * 0.04 * depth(i)), limit: 200 }));
  results.jumpPageSearch = timeEach(10, (i) => catalog.search({ text: SUBJECTS[i % SUBJECTS.length]!, at: Math.floor(ROWS * 0.05 * depth(i)), limit: 200 }));
  results.jumpPageSize = timeEach(10, (i) => catalog.search({ width: 640, height: 1536, at: Math.floor((ROWS / 9) * depth(i)), limit: 200 }));

  results.facets = { ...timeEach(50, () => catalog.facets()), target: 'p95 < 50 ms' };
  results.facetsProject = { ...timeEach(50, (i) => catalog.facets({ project: PROJECTS[i % PROJECTS.length]! })), target: 'p95 < 50 ms' };
  results.facetsSearch = { ...timeEach(50, (i) => catalog.facets({ text: queries[i]! })), target: 'p95 < 50 ms' };
  results.facetsSearchProject = timeEach(50, (i) => catalog.facets({ text: queries[i]!, project: PROJECTS[i % PROJECTS.length]! }));
  results.facetsFavorites = timeEach(20, () => catalog.facets({ favorite: true }));
  const exactness = queries.slice(0, 50).map((q) => catalog.facets({ text: q }));
  results.facetsSearchExact = exactness.filter((f) => f.exact).length / exactness.length;
  results.projectsList = timeEach(50, () => catalog.projects());
  results.databaseBytes = fs.statSync(seeded.file).size + (fs.statSync(`${seeded.file}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  catalog.close();
  if (values.keep) fs.copyFileSync(seeded.file, values.keep);

  // Thumbnails: 1024² PNGs with real detail (noise compresses badly, like photographs).
  const pngs = await Promise.all(
    Array.from({ length: Math.min(THUMBS, 8) }, (_, i) => {
      const raw = Buffer.alloc(1024 * 1024 * 3);
      for (let p = 0; p < raw.length; p++) raw[p] = (p * (i + 7) + ((p / 3072) | 0) * 13) & 0xff ^ (Math.random() * 48) | 0;
      return sharp(raw, { raw: { width: 1024, height: 1024, channels: 3 } }).png().toBuffer();
    }),
  );
  // One at a time and concurrent alternate over several rounds (the order flips each round), so a
  // burst of load from elsewhere lands on both; medians with their range are reported.
  const lanes = os.cpus().length;
  const thumbRounds = Math.max(1, Number(values['thumb-rounds']));
  const perRound = Math.max(lanes, Math.ceil(THUMBS / thumbRounds));
  const oneAtATime = async () => {
    const t0 = performance.now();
    for (let i = 0; i < perRound; i++) await makeThumbnail(pngs[i % pngs.length]!);
    return perRound / ((performance.now() - t0) / 1000);
  };
  const concurrent = async () => {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: lanes }, async () => {
      while (next < perRound) await makeThumbnail(pngs[next++ % pngs.length]!);
    }));
    return perRound / ((performance.now() - t0) / 1000);
  };
  await makeThumbnail(pngs[0]!); // warm-up: sharp's first call loads libvips' codecs
  const serialRates: number[] = [];
  const parallelRates: number[] = [];
  for (let r = 0; r < thumbRounds; r++) {
    if (r % 2 === 0) {
      serialRates.push(await oneAtATime());
      parallelRates.push(await concurrent());
    } else {
      parallelRates.push(await concurrent());
      serialRates.push(await oneAtATime());
    }
  }
  const spread = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
  };
  const serial = spread(serialRates);
  const parallel = spread(parallelRates);
  results.thumbnails = {
    perSecondOneAtATime: serial.median, perSecondConcurrent: parallel.median, oneAtATime: serial, concurrent: parallel,
    rounds: thumbRounds, perRound, concurrency: lanes, pngBytes: pngs[0]!.length, size: '1024x1024 → 256 WebP',
  };
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

const fmt = (n: unknown) => (typeof n === 'number' ? (n >= 100 ? n.toFixed(0) : n.toFixed(2)) : String(n));
const table: [string, string, string][] = [];
const ms = (k: string, label: string) => {
  const r = results[k] as { p50: number; p95: number; max: number; cpuP95: number; target?: string };
  table.push([label, `p50 ${fmt(r.p50)} ms · p95 ${fmt(r.p95)} ms · max ${fmt(r.max)} ms · CPU p95 ${fmt(r.cpuP95)} ms`, r.target ?? '']);
};
const ins = results.bulkInsert as { seconds: number; cpuSeconds: number; rowsPerSecond: number; target: string };
table.push([`seed ${ROWS.toLocaleString('en')} rows (insertMany)`, `${fmt(ins.seconds)} s (${fmt(ins.rowsPerSecond)} rows/s, ${fmt(ins.cpuSeconds)} s CPU), ${fmt((results.databaseBytes as number) / 2 ** 20)} MiB`, ins.target]);
ms('search', 'full-text search, page of 200');
ms('searchWithProject', '  … within a project');
ms('galleryPage', 'gallery page of 200, newest');
ms('galleryPageOldest', '  … oldest');
ms('galleryPageByRating', '  … by rating');
ms('galleryPageFavoritesFirst', '  … favourites first');
ms('galleryPageProject', '  … one project');
ms('galleryPageProjectByRating', '  … one project by rating');
ms('galleryPageNoProject', '  … no project');
ms('galleryPageFavorites', '  … favourites only');
ms('galleryPageSize', '  … one resolution');
ms('galleryPageFiltered', '  … finish reason CONTENT_FILTERED');
ms('galleryPageCloud', '  … backend cloud');
ms('galleryPageTag', '  … one tag');
ms('galleryPageRated', '  … 4 stars or more');
ms('jumpPage', 'page at a row number (10–82 % down), newest');
ms('jumpPageProject', '  … one project');
ms('jumpPageSearch', '  … a search for a subject (5 % of rows)');
ms('jumpPageSize', '  … one resolution (not in the sort index)');
ms('facets', 'facet counts, whole library');
ms('facetsProject', '  … one project');
ms('facetsSearch', '  … a search result');
ms('facetsSearchProject', '  … a search within a project');
ms('facetsFavorites', '  … favourites only');
table.push(['  search facets exact (not capped)', `${fmt((results.facetsSearchExact as number) * 100)} % of 50 queries`, '']);
ms('projectsList', 'projects list with counts and covers');
type Spread = { median: number; min: number; max: number };
const th = results.thumbnails as { oneAtATime: Spread; concurrent: Spread; concurrency: number; rounds: number };
const range = (x: Spread) => `${fmt(x.median)}/s (${fmt(x.min)}–${fmt(x.max)})`;
table.push([`thumbnails, 1024² PNG → 256 WebP, median (range) of ${th.rounds} alternating rounds`, `${range(th.oneAtATime)} one at a time · ${range(th.concurrent)} ×${th.concurrency}`, '']);
const w = Math.max(...table.map((r) => r[0].length));
const w2 = Math.max(...table.map((r) => r[1].length));
console.log(table.map(([a, b, c]) => `${a.padEnd(w)}  ${b.padEnd(w2)}  ${c}`).join('\n'));
fs.mkdirSync(path.dirname(values.out!), { recursive: true });
fs.writeFileSync(values.out!, JSON.stringify({ ...results, at: new Date().toISOString() }, null, 2));
console.log(`\nload average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs (wall times include waiting for them)`);
console.log(`JSON: ${values.out}`);
