// npm run bench:catalog [-- --rows N --out FILE]
// The catalog on 100,000 synthetic generations: bulk insert, full-text search, gallery pages, facet
// counts, and thumbnails per second for 1024² PNGs. Prints a table and writes JSON (default:
// $TMPDIR/schnell-bench/catalog.json). Numbers, not assertions: compare runs on the same machine.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { openCatalog, type NewGeneration, type SearchQuery } from '../../main/catalog/index.js';
import { makeThumbnail } from '../../main/library/store.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    out: { type: 'string', default: path.join(os.tmpdir(), 'schnell-bench', 'catalog.json') },
    thumbs: { type: 'string', default: '24' },
    keep: { type: 'string' }, // copy the built database here, to study query plans
  },
});
const ROWS = Number(values.rows);
const THUMBS = Number(values.thumbs);

// A deterministic generator so runs are comparable.
let state = 0x9e3779b9;
function rand(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const SUBJECTS = ['cat', 'dog', 'fox', 'owl', 'robot', 'castle', 'forest', 'city', 'mountain', 'ocean', 'dragon', 'astronaut', 'lighthouse', 'garden', 'train', 'library', 'market', 'bridge', 'desert', 'glacier'];
const STYLES = ['watercolor', 'oil painting', 'photograph', 'pixel art', 'studio lighting', 'cinematic', 'isometric', 'ukiyo-e', 'charcoal sketch', 'low poly', 'film grain', 'golden hour', 'neon', 'minimalist', 'baroque'];
const WORDS = Array.from({ length: 2000 }, (_, i) => `w${i.toString(36)}${['a', 'e', 'o', 'u'][i % 4]}n`);
const SIZES = [[1024, 1024], [1152, 896], [896, 1152], [1216, 832], [832, 1216], [1344, 768], [768, 1344], [1536, 640], [640, 1536]] as const;
const PROJECTS = Array.from({ length: 20 }, (_, i) => `project ${i + 1}`);
const MODELS = ['flux-1-schnell-fp8', 'flux-1-schnell', 'flux-1-schnell-fp8-cloud'];
const TAGS = Array.from({ length: 50 }, (_, i) => `tag${i}`);

function prompt(): string {
  const n = 6 + Math.floor(rand() * 20);
  const words = [`a ${pick(SUBJECTS)}`, pick(STYLES)];
  for (let i = 0; i < n; i++) words.push(pick(WORDS));
  return words.join(' ');
}

function synthetic(i: number, start: number): NewGeneration {
  const [width, height] = pick(SIZES);
  const hash = (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(64, '0').slice(-64);
  const tags = rand() < 0.3 ? Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(TAGS)) : [];
  return {
    prompt: prompt(),
    negativePrompt: rand() < 0.2 ? `blurry ${pick(WORDS)}` : '',
    width,
    height,
    steps: 4,
    cfgScale: 1,
    sampler: rand() < 0.8 ? 'K_EULER' : 'K_DPMPP_2M',
    samples: 4,
    seed: Math.floor(rand() * 4294967295),
    sampleIndex: i % 4,
    finishReason: rand() < 0.05 ? 'CONTENT_FILTERED' : 'SUCCESS',
    model: pick(MODELS),
    backend: rand() < 0.7 ? 'local' : 'cloud',
    device: 'cuda:0',
    durationMs: 800 + Math.floor(rand() * 4000),
    imageHash: hash,
    format: 'png',
    favorite: rand() < 0.05,
    rating: rand() < 0.2 ? 1 + Math.floor(rand() * 5) : 0,
    project: rand() < 0.8 ? pick(PROJECTS) : null,
    tags,
    createdAt: start + i * 300, // five minutes a generation, a year in all
  };
}

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
try {
  const catalog = openCatalog(path.join(dir, 'catalog.sqlite'));
  const start = Date.now() - ROWS * 300;
  const batch = 5000;
  const rows = Array.from({ length: ROWS }, (_, i) => synthetic(i, start));
  let t = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < ROWS; i += batch) catalog.insertMany(rows.slice(i, i + batch));
  const insertSeconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  // CPU seconds beside wall seconds: on a shared machine the wall clock also counts other work.
  results.bulkInsert = { seconds: insertSeconds, cpuSeconds: (used.user + used.system) / 1e6, rowsPerSecond: ROWS / insertSeconds, batch, target: '< 10 s' };
  catalog.db.pragma('optimize');

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

  // Gallery: scroll 200 pages deep newest first, then by rating and within a project.
  const scroll = (q: SearchQuery, pages: number) => {
    let cursor: string | undefined;
    return timeEach(pages, () => {
      const page = catalog.search({ ...q, limit: 200, ...(cursor ? { cursor } : {}) });
      cursor = page.nextCursor ?? undefined;
    });
  };
  results.galleryPage = { ...scroll({}, 200), target: 'p95 < 5 ms' };
  results.galleryPageByRating = scroll({ sort: 'rating' }, 200);
  results.galleryPageProject = scroll({ project: PROJECTS[3]! }, 20);
  results.galleryPageFavorites = scroll({ favorite: true }, 20);

  results.facets = { ...timeEach(50, () => catalog.facets()), target: 'p95 < 50 ms' };
  results.facetsProject = timeEach(50, (i) => catalog.facets({ project: PROJECTS[i % PROJECTS.length]! }));
  results.facetsSearch = timeEach(50, (i) => catalog.facets({ text: queries[i]! }));
  results.databaseBytes = fs.statSync(path.join(dir, 'catalog.sqlite')).size + (fs.statSync(path.join(dir, 'catalog.sqlite-wal'), { throwIfNoEntry: false })?.size ?? 0);
  catalog.close();
  if (values.keep) fs.copyFileSync(path.join(dir, 'catalog.sqlite'), values.keep);

  // Thumbnails: 1024² PNGs with real detail (noise compresses badly, like photographs).
  const pngs = await Promise.all(
    Array.from({ length: Math.min(THUMBS, 8) }, (_, i) => {
      const raw = Buffer.alloc(1024 * 1024 * 3);
      for (let p = 0; p < raw.length; p++) raw[p] = (p * (i + 7) + ((p / 3072) | 0) * 13) & 0xff ^ (Math.random() * 48) | 0;
      return sharp(raw, { raw: { width: 1024, height: 1024, channels: 3 } }).png().toBuffer();
    }),
  );
  t = performance.now();
  for (let i = 0; i < THUMBS; i++) await makeThumbnail(pngs[i % pngs.length]!);
  const serial = THUMBS / ((performance.now() - t) / 1000);
  t = performance.now();
  const lanes = os.cpus().length;
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < THUMBS) await makeThumbnail(pngs[next++ % pngs.length]!);
  }));
  const parallel = THUMBS / ((performance.now() - t) / 1000);
  results.thumbnails = { perSecondOneAtATime: serial, perSecondConcurrent: parallel, concurrency: lanes, pngBytes: pngs[0]!.length, size: '1024x1024 → 256 WebP' };
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
table.push([`bulk insert ${ROWS.toLocaleString('en')} rows`, `${fmt(ins.seconds)} s (${fmt(ins.rowsPerSecond)} rows/s, ${fmt(ins.cpuSeconds)} s CPU)`, ins.target]);
ms('search', 'full-text search, page of 200');
ms('searchWithProject', '  … within a project');
ms('galleryPage', 'gallery page of 200, newest');
ms('galleryPageByRating', '  … by rating');
ms('galleryPageProject', '  … one project');
ms('galleryPageFavorites', '  … favourites');
ms('facets', 'facet counts, whole library');
ms('facetsProject', '  … one project');
ms('facetsSearch', '  … a search result');
const th = results.thumbnails as { perSecondOneAtATime: number; perSecondConcurrent: number; concurrency: number };
table.push(['thumbnails, 1024² PNG → 256 WebP', `${fmt(th.perSecondOneAtATime)}/s one at a time · ${fmt(th.perSecondConcurrent)}/s ×${th.concurrency}`, '']);
const w = Math.max(...table.map((r) => r[0].length));
const w2 = Math.max(...table.map((r) => r[1].length));
console.log(table.map(([a, b, c]) => `${a.padEnd(w)}  ${b.padEnd(w2)}  ${c}`).join('\n'));
fs.mkdirSync(path.dirname(values.out!), { recursive: true });
fs.writeFileSync(values.out!, JSON.stringify({ ...results, at: new Date().toISOString() }, null, 2));
console.log(`\nload average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs (wall times include waiting for them)`);
console.log(`JSON: ${values.out}`);
