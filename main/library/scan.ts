import fs from 'node:fs';
import path from 'node:path';
import { DuplicateError, type CatalogRepairReport, type ImageFormat } from '../catalog/index.js';
import type { LibraryCore } from './core.js';
import { readImageInfo } from './metadata.js';
import { formatOfExtension, IMAGES, isStoredName, makeThumbnail, sha256, STORED_NAME, THUMB_NAME, THUMBS, writeLibraryFile } from './store.js';
import { TEMP_PREFIX, tempFileOwner } from '../../runtime/util/files.js';
import { NotRegularFileError, openRegularFile } from '../../runtime/util/regular-file.js';

// The reconcile scan: compares the folder with the catalog in both directions.
//   - files without a row (a crash between file and row, or a catalog restored from backup):
//     adopted by reading the metadata the file carries;
//   - rows without a file (someone deleted it by hand): marked missing, and unmarked if it returns;
//   - thumbnails missing or left over, temp files of writes that never finished.
// Without `repair` it only reports. Every repair re-checks under the write lock, so a scan running
// beside a busy studio never adopts a file whose row is being written or resurrects a purge.

export interface ScanReport {
  images: number;
  rows: number;
  /** Files with no row. After a repair each carries the id it was adopted as, or why it was not. */
  orphans: { file: string; hash: string; format: ImageFormat; adoptedAs?: string; error?: string; warnings?: string[] }[];
  /** Rows whose file is gone; `marked` when an earlier repair already marked the row missing (nothing left to fix). */
  missing: { id: string; file: string; marked: boolean }[];
  /** Rows marked missing whose file is back. */
  returned: string[];
  missingThumbnails: string[];
  orphanThumbnails: string[];
  /** Leftovers of interrupted writes; a repair removes those no live process owns. */
  tempFiles: string[];
  /** Entries that are not ours (wrong names, links, folders): reported, never touched. */
  strangers: string[];
  /** With `verify`: files whose content does not match their name. */
  corrupt: string[];
  /** Deletions from an interrupted purge that this scan finished. */
  deletionsFinished: number;
  /** Rows whose file name in the catalog is damaged (not a hash): a repair gives them a neutral one and marks them missing. */
  damagedRows: string[];
  /** With `repair`: what the catalog repair (values, search index, counters) did. */
  catalogRepair?: CatalogRepairReport;
  repaired: boolean;
}

const MAX_ADOPT_BYTES = 512 * 1024 * 1024;

interface Listing {
  files: Map<string, string>; // key `${hash}.${format}` → absolute path
  temps: string[];
  strangers: string[];
}

async function listStore(root: string, sub: string, name: RegExp): Promise<Listing> {
  const out: Listing = { files: new Map(), temps: [], strangers: [] };
  const top = path.join(root, sub);
  let shards: fs.Dirent[];
  try {
    shards = await fs.promises.readdir(top, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const shard of shards) {
    const shardPath = path.join(top, shard.name);
    // Dirent types come from lstat: a symlinked folder is not a directory here, so it is never entered.
    if (!shard.isDirectory() || !/^[0-9a-f]{2}$/.test(shard.name)) {
      (shard.name.startsWith(TEMP_PREFIX) && shard.isFile() ? out.temps : out.strangers).push(shardPath);
      continue;
    }
    for (const e of await fs.promises.readdir(shardPath, { withFileTypes: true })) {
      const p = path.join(shardPath, e.name);
      if (e.name.startsWith(TEMP_PREFIX) && e.isFile()) {
        out.temps.push(p);
        continue;
      }
      const m = e.isFile() ? name.exec(e.name) : null;
      if (!m || !m[1]!.startsWith(shard.name)) {
        out.strangers.push(p);
        continue;
      }
      const key = m[2] ? `${m[1]}.${formatOfExtension(m[2])}` : m[1]!;
      out.files.set(key, p);
    }
  }
  return out;
}

/** A temp file is stale when the process named in it is gone, or it is over an hour old. */
async function isStaleTemp(file: string): Promise<boolean> {
  const pid = tempFileOwner(path.basename(file));
  if (pid === process.pid) return false;
  if (pid !== undefined && pid > 0) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    }
  }
  const stat = await fs.promises.stat(file).catch(() => null);
  return stat !== null && Date.now() - stat.mtimeMs > 3600_000;
}

export async function scanLibrary(core: LibraryCore, opts: { repair?: boolean; verify?: boolean } = {}): Promise<ScanReport> {
  const { catalog } = core;
  // Values damaged outside the studio, the search index and the counters first: the file checks
  // below read the rows.
  const catalogRepair = opts.repair ? catalog.repair() : undefined;
  const deletionsFinished = opts.repair ? core.settleDeletions() : 0;
  // Files first, rows second: a row committed after the listing makes a false "orphan" at worst,
  // which the adoption step then sees is taken.
  const images = await listStore(core.dir, IMAGES, STORED_NAME);
  const thumbs = await listStore(core.dir, THUMBS, THUMB_NAME);
  const rows = catalog.referencedFiles();
  const report: ScanReport = {
    images: images.files.size,
    rows: [...rows.values()].reduce((n, r) => n + r.ids.length, 0),
    orphans: [],
    missing: [],
    returned: [],
    missingThumbnails: [],
    orphanThumbnails: [],
    tempFiles: [...images.temps, ...thumbs.temps],
    strangers: [...images.strangers, ...thumbs.strangers],
    corrupt: [],
    deletionsFinished,
    damagedRows: [],
    repaired: opts.repair === true,
    ...(catalogRepair ? { catalogRepair } : {}),
  };
  const pending = new Set(catalog.pendingFileDeletions().map((f) => `${f.hash}.${f.format}`));
  for (const [key, file] of images.files) {
    const [hash, format] = key.split('.') as [string, ImageFormat];
    if (opts.verify && sha256(await fs.promises.readFile(file)) !== hash) {
      report.corrupt.push(file);
      continue;
    }
    if (!rows.has(key) && !pending.has(key)) report.orphans.push({ file, hash, format });
  }
  for (const [key, r] of rows) {
    if (!isStoredName(r.hash, r.format)) {
      report.damagedRows.push(...r.ids);
      continue;
    }
    const file = core.imageFile(r.hash, r.format);
    if (!images.files.has(key)) for (const id of r.ids) report.missing.push({ id, file, marked: r.missing });
    else if (r.missing) report.returned.push(...r.ids);
  }
  const hashes = new Set([...images.files.keys()].map((k) => k.split('.')[0]!));
  for (const hash of hashes) if (!thumbs.files.has(hash)) report.missingThumbnails.push(hash);
  // A row whose image is missing keeps its thumbnail: the gallery can still show what was lost.
  const rowHashes = new Set([...rows.values()].map((r) => r.hash));
  for (const [hash, file] of thumbs.files) if (!hashes.has(hash) && !rowHashes.has(hash)) report.orphanThumbnails.push(file);

  if (!opts.repair) return report;

  for (const o of report.orphans) {
    try {
      o.adoptedAs = await adopt(core, o.file, o.hash, o.format, (w) => (o.warnings = w));
    } catch (err) {
      o.error = (err as Error).message;
    }
  }
  const stillMissing = report.missing.filter((m) => !fs.existsSync(m.file)).map((m) => m.id);
  if (stillMissing.length) catalog.markMissing(stillMissing, true);
  if (report.returned.length) catalog.markMissing(report.returned, false);
  for (const hash of report.missingThumbnails) {
    const file = images.files.get(`${hash}.png`) ?? images.files.get(`${hash}.jpeg`);
    if (!file) continue;
    try {
      await writeLibraryFile(core.thumbFile(hash), await makeThumbnail(await fs.promises.readFile(file)));
    } catch {
      /* an undecodable image keeps no thumbnail; it is still listed */
    }
  }
  for (const file of report.orphanThumbnails) {
    const hash = path.basename(file, '.webp');
    catalog.write(() => {
      const used = catalog.isReferenced({ hash, format: 'png' }) || catalog.isReferenced({ hash, format: 'jpeg' });
      if (!used && !fs.existsSync(core.imageFile(hash, 'png')) && !fs.existsSync(core.imageFile(hash, 'jpeg'))) fs.rmSync(file, { force: true });
    });
  }
  for (const file of report.tempFiles) if (await isStaleTemp(file)) await fs.promises.rm(file, { force: true });
  return report;
}

async function adopt(core: LibraryCore, file: string, hash: string, format: ImageFormat, setWarnings: (w: string[]) => void): Promise<string | undefined> {
  // Opened without blocking and checked on the descriptor: a FIFO put in the store is refused, not waited on.
  const fh = await openRegularFile(file, 'stored image', fs.constants.O_NOFOLLOW ?? 0).catch((err: Error) => {
    throw new Error(`${err instanceof NotRegularFileError ? 'not a regular file' : err.message}; left alone`);
  });
  let bytes: Buffer;
  let stat: fs.Stats;
  try {
    stat = await fh.stat();
    if (stat.size > MAX_ADOPT_BYTES) throw new Error(`over ${MAX_ADOPT_BYTES} bytes; left alone`);
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  if (sha256(bytes) !== hash) throw new Error("its content does not match its name (damaged); left alone, run 'scan --verify' to list such files");
  const info = await readImageInfo(bytes, file);
  if (info.format !== format) throw new Error(`it is a ${info.format} file named .${format === 'jpeg' ? 'jpg' : 'png'}; left alone`);
  if (!fs.existsSync(core.thumbFile(hash))) await writeLibraryFile(core.thumbFile(hash), await makeThumbnail(bytes));
  const g = core.rowFor(info, hash, { createdAt: Math.round(stat.mtimeMs) });
  setWarnings(info.warnings);
  const catalog = core.catalog;
  let id: string | undefined;
  try {
    id = catalog.insert(g, () => {
      // Under the lock: someone else may have given it a row, or a purge may be removing it.
      if (catalog.isReferenced({ hash, format })) throw new AlreadyTaken();
      if (!fs.existsSync(file) || catalog.pendingFileDeletions().some((f) => f.hash === hash && f.format === format)) throw new AlreadyTaken();
    });
  } catch (err) {
    if (err instanceof AlreadyTaken || (err instanceof DuplicateError && err.kind === 'file')) return undefined;
    throw err;
  }
  return id;
}

class AlreadyTaken extends Error {}
