import fs from 'node:fs';
import path from 'node:path';
import { CatalogError, DuplicateError, type Generation } from '../catalog/index.js';
import { checkName } from '../catalog/validate.js';
import type { LibraryCore } from './core.js';
import { LibraryError } from './errors.js';
import { detectFormat, embedMetadata, generationJson, readImageInfo, type ImageInfo } from './metadata.js';
import { sha256, writeLibraryFile } from './store.js';
import { isInside, joinInside, realPathSoFar, resolveInside, UnsafePathError } from '../../runtime/util/paths.js';
import { fileKind, NotRegularFileError, openRegularFile } from '../../runtime/util/regular-file.js';

// Export: copies with readable names (2026-11-27_123456_seed42_a-cat-in-the-rain.png), each carrying
// its current catalog fields, plus one JSON manifest. Import: PNG and JPEG files or folders of them;
// metadata from us, InvokeAI, A1111 or ComfyUI becomes the row.

export const MAX_IMPORT_BYTES = 256 * 1024 * 1024;
const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;
const MAX_FOLDER_DEPTH = 32;

export interface ExportReport {
  folder: string;
  files: { id: string; file: string }[];
  manifest: string;
}

export interface ImportOptions {
  project?: string;
  tags?: string[];
  /** Look inside sub-folders of folders given. */
  recursive?: boolean;
  /** 'skip' (default): a file already in the library (same bytes, not trashed) is not added again. */
  duplicates?: 'skip' | 'keep';
  /**
   * When the paths come from an untrusted caller (the renderer), the folder they must stay inside;
   * they are then relative names, and absolute paths, '..' and links leading out are refused.
   */
  root?: string;
}

export interface ImportReport {
  /** `relinked`: the file was our export of a row whose own file had gone missing; that row now uses it. */
  imported: { file: string; id: string; source: string; warnings: string[]; relinked?: boolean }[];
  skipped: { file: string; reason: string }[];
  failed: { file: string; error: string }[];
}

function slug(prompt: string): string {
  const s = prompt
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return s || 'untitled';
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function exportName(g: Generation): string {
  const d = new Date(g.createdAt);
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}_${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
  const seed = g.seed === null ? '' : `_seed${g.seed}`;
  return `${stamp}${seed}_${slug(g.prompt)}.${g.format === 'jpeg' ? 'jpg' : 'png'}`;
}

export async function exportGenerations(core: LibraryCore, ids: string[], folder: string): Promise<ExportReport> {
  if (typeof folder !== 'string' || folder.trim() === '') throw new LibraryError('choose a folder to export to');
  const target = realPathSoFar(folder);
  if (isInside(core.dir, target) || isInside(target, core.dir)) {
    throw new LibraryError(`the export folder ${folder} overlaps the library ${core.dir}; choose a folder outside it`);
  }
  const generations = core.catalog.getMany(ids);
  const missing = ids.find((id) => !generations.some((g) => g.id === id));
  if (missing !== undefined) throw new LibraryError(`no generation with id ${JSON.stringify(missing)} in this library`);
  // Check every source first, so a missing file does not leave half an export behind.
  for (const g of generations) {
    const stored = core.imageFile(g.imageHash, g.format);
    if (!fs.existsSync(stored)) throw new LibraryError(`the image file of generation ${g.id} is missing (${stored}); run 'schnell library scan'`);
  }
  // A file (or a file further up the path) where the folder should be is the user's mistake to fix,
  // not a crash: say which path is in the way.
  try {
    await fs.promises.mkdir(target, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new LibraryError(`cannot export to ${folder}: it (or a folder above it) is a file, not a folder; choose a folder`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new LibraryError(`cannot create the export folder ${folder}: permission denied`);
    throw err;
  }
  const taken = new Set(await fs.promises.readdir(target));
  const files: ExportReport['files'] = [];
  const manifest: unknown[] = [];
  for (const g of generations) {
    const stored = core.imageFile(g.imageHash, g.format);
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(stored);
    } catch {
      throw new LibraryError(`the image file of generation ${g.id} is missing (${stored}); run 'schnell library scan'`);
    }
    let name = exportName(g);
    const ext = path.extname(name);
    for (let i = 2; taken.has(name); i++) name = `${path.basename(exportName(g), ext)}_${i}${ext}`;
    taken.add(name);
    const file = path.join(target, name);
    await writeLibraryFile(file, embedMetadata(bytes, g));
    files.push({ id: g.id, file });
    manifest.push({ file: name, ...JSON.parse(generationJson(g)) });
  }
  let manifestName = 'schnell-export.json';
  for (let i = 2; taken.has(manifestName); i++) manifestName = `schnell-export_${i}.json`;
  const manifestFile = path.join(target, manifestName);
  await writeLibraryFile(manifestFile, Buffer.from(JSON.stringify({ exportedAt: new Date().toISOString(), generations: manifest }, null, 2)));
  return { folder: target, files, manifest: manifestFile };
}

/** Expands the given paths into image files, refusing links and (with a root) anything outside it. */
async function collect(core: LibraryCore, paths: string[], opts: ImportOptions, report: ImportReport): Promise<string[]> {
  const realRoot = opts.root === undefined ? undefined : await fs.promises.realpath(opts.root).catch(() => {
    throw new LibraryError(`the import folder ${opts.root} does not exist`);
  });
  const out: string[] = [];
  const walk = async (dir: string, depth: number) => {
    if (depth > MAX_FOLDER_DEPTH) {
      report.skipped.push({ file: dir, reason: `nested deeper than ${MAX_FOLDER_DEPTH} folders` });
      return;
    }
    for (const e of (await fs.promises.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) report.skipped.push({ file: p, reason: 'a symbolic link; links are not followed' });
      else if (e.isDirectory()) {
        if (opts.recursive) await walk(p, depth + 1);
      } else if (e.isFile() && IMAGE_EXTENSIONS.test(e.name)) out.push(p);
    }
  };
  for (const given of paths) {
    try {
      const p = realRoot === undefined ? path.resolve(given) : joinInside(realRoot, given, 'import path');
      const stat = await fs.promises.lstat(p).catch(() => {
        throw new LibraryError(`${given} does not exist`);
      });
      if (stat.isSymbolicLink()) throw new LibraryError(`${given} is a symbolic link; import the file it points to instead`);
      if (realRoot !== undefined) resolveInside(realRoot, given, { what: 'import path', mustExist: true });
      if (isInside(core.dir, await fs.promises.realpath(p))) throw new LibraryError(`${given} is inside the library already`);
      if (stat.isDirectory()) await walk(p, 0);
      else if (stat.isFile()) out.push(p);
      else throw new LibraryError(`${given} is ${fileKind(stat)}, not an image file or a folder; give the file itself`);
    } catch (err) {
      if (!(err instanceof LibraryError || err instanceof UnsafePathError)) throw err;
      report.failed.push({ file: given, error: err.message });
    }
  }
  return out;
}

/** The file describes this very row (our export of it), not a forgery or another library's row with the same id. */
function sameGeneration(row: Generation | undefined, info: ImageInfo): boolean {
  const f = info.fields;
  return row !== undefined && info.source !== 'unknown' && row.prompt === (f.prompt ?? '') && row.seed === (f.seed ?? null) && row.width === info.width && row.height === info.height && row.model === f.model;
}

export async function importImages(core: LibraryCore, paths: string[], opts: ImportOptions = {}): Promise<ImportReport> {
  const project = opts.project === undefined ? undefined : checkName('project', opts.project);
  const tags = (opts.tags ?? []).map((t) => checkName('tag', t));
  const report: ImportReport = { imported: [], skipped: [], failed: [] };
  // A remix may be imported before its source; link those once everything is in.
  const lateParents: { id: string; parentId: string }[] = [];
  for (const file of await collect(core, paths, opts, report)) {
    try {
      // Re-check at open time: the entry was a plain file when listed, but could have been swapped.
      // Without blocking, then checked on the descriptor: a FIFO swapped in after the listing must not hang.
      const fh = await openRegularFile(file, 'import source', fs.constants.O_NOFOLLOW ?? 0);
      let bytes: Buffer;
      try {
        const stat = await fh.stat();
        if (stat.size > MAX_IMPORT_BYTES) throw new LibraryError(`${file} is ${stat.size} bytes, over the ${MAX_IMPORT_BYTES}-byte import limit`);
        bytes = await fh.readFile();
        if (detectFormat(bytes) === null) throw new LibraryError(`${file} is not a PNG or JPEG image`);
        const info = await readImageInfo(bytes, file);
        const hash = sha256(bytes);
        // An early look saves decoding a thumbnail; the catalog decides again under the write lock.
        const existing = opts.duplicates === 'keep' ? undefined : core.catalog.findByFile({ hash, format: info.format }, { includeTrashed: true });
        if (existing && !fs.existsSync(core.imageFile(hash, info.format))) {
          // The row is here but its file went missing: these are its bytes, so it gets them back.
          await core.restoreFile(bytes, info.format);
          report.imported.push({ file, id: existing, source: info.source, warnings: [...info.warnings, `generation ${existing} had lost its file; it has it back`], relinked: true });
          continue;
        }
        if (existing) {
          report.skipped.push({ file, reason: `already in the library as ${existing}` });
          continue;
        }
        // Our own export of a row whose file went missing: the row takes this file back.
        const ownId = info.fields.id;
        if (ownId !== undefined && sameGeneration(core.catalog.get(ownId), info) && (await core.relinkImage(ownId, bytes, info.format))) {
          report.imported.push({ file, id: ownId, source: info.source, warnings: [...info.warnings, `generation ${ownId} had lost its file; it now uses this one`], relinked: true });
          continue;
        }
        const createdAt = Math.round(stat.mtimeMs);
        const wantedParent = info.fields.parentId ?? null;
        let id: string;
        try {
          id = await core.addImage(bytes, info.format, (h) => core.rowFor(info, h, { createdAt, project, tags }), {
            sameFile: opts.duplicates === 'keep' ? 'copy' : 'refuse',
          });
        } catch (err) {
          if (!(err instanceof DuplicateError) || err.kind !== 'file') throw err;
          report.skipped.push({ file, reason: `already in the library as ${err.existingId}` });
          continue;
        }
        if (wantedParent !== null && core.catalog.get(id)?.parentId === null) lateParents.push({ id, parentId: wantedParent });
        report.imported.push({ file, id, source: info.source, warnings: info.warnings });
      } finally {
        await fh.close();
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ELOOP') report.failed.push({ file, error: `${file} is a symbolic link; links are not followed` });
      else if (err instanceof NotRegularFileError) report.failed.push({ file, error: err.message });
      else if (err instanceof LibraryError || err instanceof CatalogError) report.failed.push({ file, error: e.message });
      else throw err;
    }
  }
  for (const { id, parentId } of lateParents) if (core.catalog.get(parentId)) core.catalog.setParent(id, parentId);
  return report;
}
