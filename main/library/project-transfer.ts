import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CatalogError, DuplicateError, type Generation, type NewGeneration } from '../catalog/index.js';
import { createProject, getProject, setProjectCover } from '../catalog/projects.js';
import type { LibraryCore } from './core.js';
import { LibraryError } from './errors.js';
import { detectFormat, embedMetadata } from './metadata.js';
import { PROJECT_FORMAT, PROJECT_HEADER, PROJECT_IMAGES, PROJECT_LIST, readProjectEntries, readProjectHeader, type ProjectEntry, type ProjectHeader } from './project-manifest.js';
import { sha256, writeLibraryFile } from './store.js';
import { exportName, MAX_IMPORT_BYTES } from './transfer.js';
import { isInside, realPathSoFar, resolveInside, UnsafePathError } from '../../runtime/util/paths.js';

// A project moves between machines as a folder (see project-manifest.ts for its layout). Export
// writes into a temporary sibling folder and renames it into place at the end, so a half-written
// export never looks finished. Import checks the whole catalog file before it adds anything, then
// adds image by image (each file checked against its SHA-256), so an import cut short is finished
// by running it again: generations already here — the same id, or the same image bytes — are
// never added twice, and parent links (remix chains included) are restored once all are in.

export interface ProjectProgress {
  phase: 'export' | 'check' | 'import';
  done: number;
  total: number;
}

export interface ProjectExportOptions {
  /** Also export the ancestors of the project's remixes that live outside it (default true), so lineage stays whole. */
  ancestors?: boolean;
  onProgress?: (p: ProjectProgress) => void;
}

export interface ProjectExportReport {
  folder: string;
  project: string;
  /** Generations of the project written. */
  generations: number;
  /** Ancestors from outside the project written beside them. */
  ancestors: number;
  /** Generations left out because their image file is missing from the library. */
  missing: { id: string; file: string }[];
}

export interface ProjectImportOptions {
  /** Import under this project name instead of the exported one. */
  as?: string;
  /**
   * What to do with a generation the library already has (same id or same image): 'keep' (default)
   * leaves it untouched; 'merge' adds the exported tags, favourite, rating, project (when it has
   * none) and parent (when it has none).
   */
  existing?: 'keep' | 'merge';
  onProgress?: (p: ProjectProgress) => void;
}

export interface ProjectImportReport {
  project: string;
  /** Whether the project was created by this import (false: it existed, and its settings were kept). */
  created: boolean;
  imported: { id: string; file: string }[];
  /**
   * Already in the library: `existingId` is the row that stands for it (the same id, or the same
   * image); `relinked` when that row's file had gone missing and the export's copy replaced it.
   */
  existing: { id: string; existingId: string; file: string; merged: boolean; relinked: boolean }[];
  failed: { file: string; error: string }[];
  /** Parent links restored after all images were in (remixes that came before their source). */
  linked: number;
  /** What was imported differently from the list, and why. */
  warnings: string[];
}

const PAGE = 1000;

/** Writes project `name` into `folder`, which must be new or empty and outside the library. */
export async function exportProject(core: LibraryCore, name: string, folder: string, opts: ProjectExportOptions = {}): Promise<ProjectExportReport> {
  const project = getProject(core.catalog.db, name);
  if (!project) throw new LibraryError(`there is no project named ${JSON.stringify(String(name).trim())}`);
  if (typeof folder !== 'string' || folder.trim() === '') throw new LibraryError('choose a folder to export the project to');
  const target = realPathSoFar(folder);
  if (isInside(core.dir, target) || isInside(target, core.dir)) {
    throw new LibraryError(`the export folder ${folder} overlaps the library ${core.dir}; choose a folder outside it`);
  }
  const st = await fs.promises.lstat(target).catch(() => undefined);
  if (st && (!st.isDirectory() || (await fs.promises.readdir(target)).length > 0)) {
    throw new LibraryError(`${folder} already exists and is not an empty folder; choose a new folder for the export`);
  }
  await fs.promises.mkdir(path.dirname(target), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new LibraryError(`cannot create the export folder ${folder}: ${err.code === 'EACCES' ? 'permission denied' : err.message}`);
  });
  const work = `${target}.partial-${randomBytes(4).toString('hex')}`;
  await fs.promises.mkdir(path.join(work, PROJECT_IMAGES), { recursive: true });
  try {
    const report = await writeProjectFolder(core, project.name, work, opts);
    const header: ProjectHeader = {
      schnellProject: PROJECT_FORMAT,
      exportedAt: new Date().toISOString(),
      project: { name: project.name, createdAt: project.createdAt, archived: project.archived, coverId: project.cover?.chosen ? project.cover.id : null, defaults: project.defaults },
      generations: report.count,
      list: PROJECT_LIST,
      listSha256: report.listSha256,
    };
    await writeLibraryFile(path.join(work, PROJECT_HEADER), Buffer.from(`${JSON.stringify(header, null, 2)}\n`));
    if (st) await fs.promises.rmdir(target);
    await fs.promises.rename(work, target);
    return { folder: target, project: project.name, generations: report.count - report.ancestors, ancestors: report.ancestors, missing: report.missing };
  } catch (err) {
    await fs.promises.rm(work, { recursive: true, force: true });
    throw err;
  }
}

async function writeProjectFolder(core: LibraryCore, name: string, work: string, opts: ProjectExportOptions) {
  const catalog = core.catalog;
  const inProject = new Set(
    (catalog.db.prepare('SELECT g.id AS id FROM generations g JOIN projects p ON p.id = g.project_id WHERE p.name = ? AND g.trashed_at IS NULL').all(name) as { id: string }[]).map((r) => r.id),
  );
  const total = inProject.size;
  const written = new Set<string>();
  const taken = new Set<string>();
  const missing: ProjectExportReport['missing'] = [];
  const hash = createHash('sha256');
  const list = await fs.promises.open(path.join(work, PROJECT_LIST), 'wx');
  let count = 0;
  let ancestors = 0;
  const write = async (g: Generation, isMember: boolean) => {
    written.add(g.id);
    const stored = core.imageFile(g.imageHash, g.format);
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(stored);
    } catch {
      missing.push({ id: g.id, file: stored });
      return;
    }
    const out = embedMetadata(bytes, g);
    let file = exportName(g);
    const ext = path.extname(file);
    for (let i = 2; taken.has(file.toLowerCase()); i++) file = `${path.basename(exportName(g), ext)}_${i}${ext}`;
    taken.add(file.toLowerCase());
    await writeLibraryFile(path.join(work, PROJECT_IMAGES, file), out);
    const { imageHash, trashedAt: _t, missingAt: _m, jobId: _j, ...fields } = g;
    const entry: ProjectEntry = { file: `${PROJECT_IMAGES}/${file}`, sha256: sha256(out), sourceHash: imageHash, inProject: isMember, generation: fields };
    const line = `${JSON.stringify(entry)}\n`;
    hash.update(line);
    await list.write(line);
    count++;
    if (!isMember) ancestors++;
  };
  try {
    let cursor: string | undefined;
    let done = 0;
    do {
      const page = catalog.search({ project: name, sort: 'oldest', limit: PAGE, ...(cursor ? { cursor } : {}) });
      for (const g of page.items) {
        // Ancestors from outside the project first (oldest first), so each parent precedes its remix.
        if (opts.ancestors !== false && g.parentId !== null && !inProject.has(g.parentId) && !written.has(g.parentId)) {
          const chain = catalog.lineage(g.id).ancestors;
          const outside: Generation[] = [];
          for (const a of chain) {
            if (inProject.has(a.id) || written.has(a.id) || a.trashedAt !== null) break;
            outside.push(a);
          }
          for (const a of outside.reverse()) await write(a, false);
        }
        await write(g, true);
        done++;
        opts.onProgress?.({ phase: 'export', done, total });
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    await list.sync();
  } finally {
    await list.close();
  }
  return { count, ancestors, missing, listSha256: hash.digest('hex') };
}

/** Adds the project exported in `folder` to the library (see ProjectImportOptions). */
export async function importProject(core: LibraryCore, folder: string, opts: ProjectImportOptions = {}): Promise<ProjectImportReport> {
  if (typeof folder !== 'string' || folder.trim() === '') throw new LibraryError('choose the exported project folder to import');
  const root = await fs.promises.realpath(folder).catch(() => {
    throw new LibraryError(`the project folder ${folder} does not exist`);
  });
  if (!(await fs.promises.stat(root)).isDirectory()) throw new LibraryError(`${folder} is not a folder; choose the exported project folder`);
  if (isInside(core.dir, root) || isInside(root, core.dir)) throw new LibraryError(`the project folder ${folder} overlaps the library ${core.dir}`);
  const header = await readProjectHeader(path.join(root, PROJECT_HEADER));
  const name = opts.as ?? header.project.name;

  // Check the whole list before changing anything: its checksum, every line, every file.
  const ids = new Set<string>();
  const files = new Set<string>();
  const listHash = createHash('sha256');
  let n = 0;
  for await (const { line, entry } of readProjectEntries(path.join(root, PROJECT_LIST), listHash)) {
    const where = `${PROJECT_LIST} line ${line}`;
    if (ids.has(entry.generation.id)) throw new LibraryError(`${where} repeats generation ${entry.generation.id}; the export was edited`);
    if (files.has(entry.file.toLowerCase())) throw new LibraryError(`${where} names ${entry.file} a second time; the export was edited`);
    if (entry.generation.parentId === entry.generation.id) throw new LibraryError(`${where}: generation ${entry.generation.id} names itself as its parent; the export was edited`);
    ids.add(entry.generation.id);
    files.add(entry.file.toLowerCase());
    imagePath(root, entry.file, where);
    n++;
    opts.onProgress?.({ phase: 'check', done: n, total: header.generations });
  }
  if (listHash.digest('hex') !== header.listSha256) {
    throw new LibraryError(`${PROJECT_LIST} does not match the checksum in ${PROJECT_HEADER}: the export was changed or is incomplete; export it again`);
  }
  if (n !== header.generations) throw new LibraryError(`${PROJECT_LIST} lists ${n} generations but ${PROJECT_HEADER} says ${header.generations}; export it again`);
  if (header.project.coverId !== null && !ids.has(header.project.coverId)) {
    throw new LibraryError(`${PROJECT_HEADER} names cover ${header.project.coverId}, which is not in the export; the export was edited`);
  }

  const catalog = core.catalog;
  let created = false;
  catalog.write(() => {
    if (getProject(catalog.db, name)) return;
    createProject(catalog.db, name, { defaults: header.project.defaults });
    created = true;
  });
  const report: ProjectImportReport = { project: getProject(catalog.db, name)!.name, created, imported: [], existing: [], failed: [], linked: 0, warnings: [] };
  /** Exported id → the id that stands for it here, where they differ (same image under another id). */
  const standIn = new Map<string, string>();
  const lateParents: { id: string; parentId: string }[] = [];
  let done = 0;
  for await (const { line, entry } of readProjectEntries(path.join(root, PROJECT_LIST))) {
    try {
      await importEntry(core, root, entry, line, report.project, opts, report, standIn, lateParents);
    } catch (err) {
      if (!(err instanceof LibraryError || err instanceof CatalogError)) throw err;
      report.failed.push({ file: entry.file, error: err.message });
    }
    done++;
    opts.onProgress?.({ phase: 'import', done, total: n });
  }
  for (const { id, parentId } of lateParents) {
    const parent = standIn.get(parentId) ?? parentId;
    if (parent === id || !catalog.get(parent) || catalog.get(id)?.parentId !== null) continue;
    // An edited list can make two generations each other's parent: never close a loop.
    if (catalog.lineage(parent).ancestors.some((a) => a.id === id)) {
      report.warnings.push(`generation ${id} names ${parentId} as its parent, which would make a loop of remixes; left without a parent`);
      continue;
    }
    catalog.setParent(id, parent);
    report.linked++;
  }
  if (created) {
    const cover = header.project.coverId === null ? null : standIn.get(header.project.coverId) ?? header.project.coverId;
    catalog.write(() => {
      if (cover !== null && catalog.get(cover)?.project === report.project) setProjectCover(catalog.db, report.project, cover);
      if (header.project.archived) catalog.db.prepare('UPDATE projects SET archived_at = ? WHERE name = ?').run(Date.now(), report.project);
    });
  }
  return report;
}

/** The file an entry names, proven to be a plain file inside the folder (no link anywhere on the way). */
function imagePath(root: string, file: string, where: string): string {
  try {
    return resolveInside(root, file, { what: `image ${file}`, links: 'none', mustExist: true });
  } catch (err) {
    if (err instanceof UnsafePathError) throw new LibraryError(`${where}: ${err.message}`);
    throw err;
  }
}

async function readImage(file: string, shown: string): Promise<Buffer> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0)).catch((err: NodeJS.ErrnoException) => {
    throw new LibraryError(err.code === 'ELOOP' ? `${shown} is a symbolic link; links are not followed` : `${shown} cannot be read (${err.code ?? err.message})`);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new LibraryError(`${shown} is not a regular file`);
    if (st.size > MAX_IMPORT_BYTES) throw new LibraryError(`${shown} is ${st.size} bytes, over the ${MAX_IMPORT_BYTES}-byte import limit`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

async function importEntry(
  core: LibraryCore,
  root: string,
  entry: ProjectEntry,
  line: number,
  project: string,
  opts: ProjectImportOptions,
  report: ProjectImportReport,
  standIn: Map<string, string>,
  lateParents: { id: string; parentId: string }[],
): Promise<void> {
  const catalog = core.catalog;
  const g = entry.generation;
  const parentHere = g.parentId === null ? null : standIn.get(g.parentId) ?? (catalog.get(g.parentId) ? g.parentId : undefined);
  const wantedProject = entry.inProject ? project : g.project;

  const readChecked = async () => {
    const bytes = await readImage(imagePath(root, entry.file, `${PROJECT_LIST} line ${line}`), entry.file);
    if (sha256(bytes) !== entry.sha256) throw new LibraryError(`${entry.file} does not match its SHA-256 in ${PROJECT_LIST} (changed or damaged); not imported`);
    const format = detectFormat(bytes);
    if (format !== g.format) throw new LibraryError(`${entry.file} is ${format ?? 'not an image'}, but the catalog file says ${g.format}; not imported`);
    return { bytes, format };
  };
  const sameId = catalog.get(g.id);
  if (sameId && !fs.existsSync(core.imageFile(sameId.imageHash, sameId.format))) {
    // The row is here but its file went missing: the export brings the image back to that row.
    const { bytes, format } = await readChecked();
    // (The same bytes as the row names are simply stored again; other bytes become the row's file.)
    await core.relinkImage(sameId.id, bytes, format);
    const now = catalog.get(sameId.id)!;
    const back = fs.existsSync(core.imageFile(now.imageHash, now.format));
    if (back && now.missingAt !== null) catalog.markMissing([now.id], false);
    return noteExisting(core, entry, sameId.id, wantedProject, parentHere, opts, report, standIn, lateParents, back);
  }
  const knownId = sameId?.id ?? catalog.findByFile({ hash: entry.sourceHash, format: g.format }, { includeTrashed: true });
  if (knownId !== undefined) return noteExisting(core, entry, knownId, wantedProject, parentHere, opts, report, standIn, lateParents);

  const { bytes, format } = await readChecked();
  const row = (imageHash: string): NewGeneration => ({
    ...g,
    imageHash,
    format,
    project: wantedProject,
    parentId: parentHere ?? null,
    jobId: null,
  });
  try {
    const id = await core.addImage(bytes, format, row);
    report.imported.push({ id, file: entry.file });
    if (g.parentId !== null && parentHere === undefined) lateParents.push({ id, parentId: g.parentId });
  } catch (err) {
    // The same image is here under another id (imported from a copy, or made twice): that row stands for it.
    if (!(err instanceof DuplicateError) || err.kind !== 'file') throw err;
    return noteExisting(core, entry, err.existingId, wantedProject, parentHere, opts, report, standIn, lateParents);
  }
}

function noteExisting(
  core: LibraryCore,
  entry: ProjectEntry,
  existingId: string,
  project: string | null,
  parentHere: string | null | undefined,
  opts: ProjectImportOptions,
  report: ProjectImportReport,
  standIn: Map<string, string>,
  lateParents: { id: string; parentId: string }[],
  relinked = false,
): void {
  const catalog = core.catalog;
  const g = entry.generation;
  if (existingId !== g.id) standIn.set(g.id, existingId);
  let merged = false;
  if (opts.existing === 'merge') {
    const here = catalog.get(existingId)!;
    catalog.write(() => {
      const missingTags = g.tags.filter((t) => !here.tags.some((h) => h.toLowerCase() === t.toLowerCase()));
      if (missingTags.length > 0) catalog.tag([existingId], missingTags);
      if (g.favorite && !here.favorite) catalog.setFavorite([existingId], true);
      if (g.rating > here.rating) catalog.rate([existingId], g.rating);
      if (here.project === null && project !== null) catalog.setProject([existingId], project);
    });
    if (here.parentId === null && g.parentId !== null) {
      if (parentHere) catalog.setParent(existingId, parentHere);
      else lateParents.push({ id: existingId, parentId: g.parentId });
    }
    merged = true;
  }
  report.existing.push({ id: g.id, existingId, file: entry.file, merged, relinked });
}
