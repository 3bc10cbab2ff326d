// Synthetic libraries for benchmarks: a deterministic stream of generations (same rows every run,
// so numbers compare), written through the catalog's own insertMany in batches, so the full-text
// index, facet counters and lineage are exactly what the studio would have built. Memory stays
// flat: one batch of rows exists at a time, whatever the row count.
//
//   const seeded = seedCatalog(dir, 1_000_000, { onProgress })   → dir/catalog.sqlite
//
// `dir` is a library folder (the studio and `schnell library … --library dir` open it); the rows
// point at image files that do not exist (hashes are synthetic), so a scan would mark them missing;
// `thumbnails` gives the newest rows a thumbnail file so a gallery shows pictures.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openCatalog, type NewGeneration } from '../../main/catalog/index.js';
import { thumbRelPath } from '../../main/library/store.js';

export const SUBJECTS = ['cat', 'dog', 'fox', 'owl', 'robot', 'castle', 'forest', 'city', 'mountain', 'ocean', 'dragon', 'astronaut', 'lighthouse', 'garden', 'train', 'library', 'market', 'bridge', 'desert', 'glacier'];
export const STYLES = ['watercolor', 'oil painting', 'photograph', 'pixel art', 'studio lighting', 'cinematic', 'isometric', 'ukiyo-e', 'charcoal sketch', 'low poly', 'film grain', 'golden hour', 'neon', 'minimalist', 'baroque'];
export const WORDS = Array.from({ length: 2000 }, (_, i) => `w${i.toString(36)}${['a', 'e', 'o', 'u'][i % 4]}n`);
export const SIZES = [[1024, 1024], [1152, 896], [896, 1152], [1216, 832], [832, 1216], [1344, 768], [768, 1344], [1536, 640], [640, 1536]] as const;
export const PROJECTS = Array.from({ length: 20 }, (_, i) => `project ${i + 1}`);
export const MODELS = ['flux-1-schnell-fp8', 'flux-1-schnell', 'flux-1-schnell-fp8-cloud'];
export const TAGS = Array.from({ length: 50 }, (_, i) => `tag${i}`);
/** Minutes between two synthetic generations: a million of them span about two years. */
const SPACING_MS = 60_000;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A xorshift generator: the same sequence for the same seed on every machine. */
export function randomSource(seed = 0x9e3779b9): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

function base32(n: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 32]! + out;
    n = Math.floor(n / 32);
  }
  return out;
}

/** A valid, deterministic generation id for row i (a ULID: creation time, then the row number). */
export function syntheticId(i: number, createdAt: number): string {
  return base32(createdAt, 10) + base32(Math.floor(i / 2 ** 30), 10) + base32(i % 2 ** 30, 6);
}

export interface SyntheticOptions {
  /** Milliseconds of the first row; default: so that the last row is about now. */
  start?: number;
  rows: number;
}

/** Row i of the synthetic library (call with increasing i: remixes point back at earlier rows). */
export function makeSynthetic(rand: () => number, start: number): (i: number) => NewGeneration {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const prompt = () => {
    const n = 6 + Math.floor(rand() * 20);
    const words = [`a ${pick(SUBJECTS)}`, pick(STYLES)];
    for (let w = 0; w < n; w++) words.push(pick(WORDS));
    return words.join(' ');
  };
  return (i) => {
    const [width, height] = pick(SIZES);
    const createdAt = start + i * SPACING_MS;
    const hash = createHash('sha256').update(`synthetic ${i}`).digest('hex');
    const tags = rand() < 0.3 ? Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(TAGS)) : [];
    // One in ten is a remix of one of the previous 50 rows: chains form where remixes are remixed.
    const parent = i > 0 && rand() < 0.1 ? Math.max(0, i - 1 - Math.floor(rand() * 50)) : -1;
    return {
      id: syntheticId(i, createdAt),
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
      parentId: parent >= 0 ? syntheticId(parent, start + parent * SPACING_MS) : null,
      tags,
      source: 'studio',
      createdAt,
    };
  };
}

export interface SeedReport {
  file: string;
  rows: number;
  seconds: number;
  cpuSeconds: number;
  bytes: number;
}

/**
 * Fills `dir/catalog.sqlite` (created if needed; it should be empty) with `rows` synthetic
 * generations, newest about now. Progress goes to `onProgress` after each batch.
 */
export function seedCatalog(
  dir: string,
  rows: number,
  opts: {
    batch?: number;
    seed?: number;
    onProgress?: (done: number, total: number) => void;
    /**
     * A WebP (or any image) written as the thumbnail of the newest `count` rows (thumbs/ab/<hash>.webp),
     * so a gallery has real pictures to show without a million files on disk.
     */
    thumbnails?: { bytes: Buffer; count: number };
  } = {},
): SeedReport {
  if (!Number.isInteger(rows) || rows < 0) throw new Error(`seedCatalog: rows must be a whole number (got ${rows})`);
  const batch = opts.batch ?? 5000;
  const file = path.join(dir, 'catalog.sqlite');
  const catalog = openCatalog(file);
  try {
    const start = Date.now() - rows * SPACING_MS;
    const next = makeSynthetic(randomSource(opts.seed), start);
    const t = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < rows; i += batch) {
      const n = Math.min(batch, rows - i);
      const gs = Array.from({ length: n }, (_, k) => next(i + k));
      catalog.insertMany(gs);
      if (opts.thumbnails) {
        gs.forEach((g, k) => {
          if (i + k < rows - opts.thumbnails!.count) return;
          const file = path.join(dir, thumbRelPath(g.imageHash));
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, opts.thumbnails!.bytes);
        });
      }
      opts.onProgress?.(i + n, rows);
    }
    catalog.db.pragma('optimize');
    catalog.db.pragma('wal_checkpoint(TRUNCATE)');
    const used = process.cpuUsage(cpu);
    return { file, rows, seconds: (performance.now() - t) / 1000, cpuSeconds: (used.user + used.system) / 1e6, bytes: fs.statSync(file).size };
  } finally {
    catalog.close();
  }
}

// `node --import tsx tests/bench/seed.ts DIR ROWS`: a library to open in the studio by hand.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const [dir, n] = process.argv.slice(2);
  if (!dir || !n) {
    console.error('usage: node --import tsx tests/bench/seed.ts LIBRARY_DIR ROWS');
    process.exit(2);
  }
  const r = seedCatalog(dir, Number(n), {
    onProgress: (done, total) => process.stderr.write(`\rseeded ${done.toLocaleString('en')} of ${total.toLocaleString('en')}`),
  });
  console.error(`\n${r.rows.toLocaleString('en')} rows in ${r.seconds.toFixed(1)} s (${r.cpuSeconds.toFixed(1)} s CPU), ${(r.bytes / 2 ** 20).toFixed(0)} MiB: ${r.file}`);
}
