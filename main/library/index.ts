// The library: image files on disk plus their rows in the catalog. This is what the studio calls.
//
//   const lib = await openLibrary(dir?)        default: $SCHNELL_HOME/library or ~/.schnell-studio/library
//   lib.dir · lib.catalog · lib.db             (lib.db: the open better-sqlite3 handle of catalog.sqlite,
//                                               shared with other modules' tables, e.g. model_downloads)
//   await lib.recordGeneration(input)          → LibraryGeneration: file with metadata, thumbnail, then row
//   lib.get(id) · lib.search(query) · lib.page(query) → { items, nextCursor }
//   lib.facets(query) · lib.lineage(id) → { ancestors, remixes }
//   lib.projects() → Project[]; lib.catalog.createProject / renameProject / archiveProject /
//     setProjectCover / setProjectDefaults / deleteProject (catalog/projects.ts)
//   await lib.exportProject(name, folder) · await lib.importProject(folder, { as?, existing? })
//   lib.tag(ids, tags) · lib.untag(ids, tags) · lib.setFavorite(ids, on) · lib.rate(ids, 0..5)
//   lib.setProject(ids, name | null) · lib.trash(ids) · lib.restore(ids)
//   await lib.purge(ids?)                      trashed rows and, once unreferenced, their files
//   await lib.scan({ repair?, verify? })       → ScanReport (orphans both ways, thumbnails, temp files)
//   await lib.exportTo(ids, folder)            → ExportReport (readable names + schnell-export.json)
//   await lib.importFrom(paths, options)       → ImportReport (ours, A1111, ComfyUI, InvokeAI)
//   await lib.resolveFile(relativeName)        a stored file's path, refusing names that leave the library
//   lib.jobs                                    the persistent job queue (see catalog/jobs.ts)
//   lib.close()
//
// Items carry every catalog field (see catalog/types.ts) plus `file` and `thumbnail` (absolute paths).
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {
  CatalogError,
  DuplicateError,
  newId,
  openCatalog,
  type Backend,
  type Catalog,
  type Db,
  type Facets,
  type Generation,
  type ImageFormat,
  type Jobs,
  type Lineage,
  type Page,
  type Project,
  type SearchQuery,
  type Source,
} from '../catalog/index.js';
import { checkGeneration } from '../catalog/validate.js';
import { LibraryCore, type LibraryGeneration } from './core.js';
import { LibraryError } from './errors.js';
import { detectFormat, embedMetadata } from './metadata.js';
import { pngSize } from './png.js';
import { scanLibrary, type ScanReport } from './scan.js';
import { IMAGES, THUMBS } from './store.js';
import {
  exportProject,
  importProject,
  type ProjectExportOptions,
  type ProjectExportReport,
  type ProjectImportOptions,
  type ProjectImportReport,
} from './project-transfer.js';
import { exportGenerations, importImages, type ExportReport, type ImportOptions, type ImportReport } from './transfer.js';
import { joinInside, resolveInside, UnsafePathError } from '../../runtime/util/paths.js';
import { CATALOG_FILE, catalogFile, schnellHome, studioLibraryDir } from '../../runtime/settings/index.js';

export { LibraryError } from './errors.js';
export type { LibraryGeneration } from './core.js';
export type { ScanReport } from './scan.js';
export type { ExportReport, ImportOptions, ImportReport } from './transfer.js';
export type { ProjectExportOptions, ProjectExportReport, ProjectImportOptions, ProjectImportReport, ProjectProgress } from './project-transfer.js';
export { exportName } from './transfer.js';
export { readImageInfo, embedMetadata } from './metadata.js';
export { formatParameters, parseParameters } from './a1111.js';

export { CATALOG_FILE };

/** The studio library: "library" in config.json, else $SCHNELL_HOME/library. */
export function defaultLibraryDir(home: string = schnellHome()): string {
  return studioLibraryDir(home);
}

/** What the runtime knows about one image it made (the request fields plus the outcome). */
export interface RecordInput {
  prompt: string;
  negativePrompt?: string;
  /** Checked against the image when given. */
  width?: number;
  height?: number;
  steps?: number | null;
  cfgScale?: number | null;
  sampler?: string | null;
  samples?: number;
  seed: number;
  sampleIndex?: number;
  finishReason?: string;
  model: string;
  backend: Exclude<Backend, 'imported'>;
  device?: string | null;
  durationMs?: number | null;
  fallbackReason?: string | null;
  image: Buffer;
  /** Checked against the bytes when given. */
  format?: ImageFormat;
  project?: string | null;
  parentId?: string | null;
  jobId?: string | null;
  tags?: string[];
  createdAt?: number | string;
  /** Who asked for it: ui, cli or api (default 'studio', for callers that do not say). */
  source?: Extract<Source, 'ui' | 'cli' | 'api' | 'studio'>;
}

export class Library {
  private readonly core: LibraryCore;

  constructor(core: LibraryCore) {
    this.core = core;
  }

  get dir(): string {
    return this.core.dir;
  }
  get catalog(): Catalog {
    return this.core.catalog;
  }
  get db(): Db {
    return this.core.catalog.db;
  }
  get jobs(): Jobs {
    return this.core.catalog.jobs;
  }

  async recordGeneration(input: RecordInput): Promise<LibraryGeneration> {
    if (!input || !Buffer.isBuffer(input.image)) throw new LibraryError('recordGeneration needs the image bytes in `image` (a Buffer)');
    const format = detectFormat(input.image);
    if (!format) throw new LibraryError('the image is neither PNG nor JPEG');
    if (input.format !== undefined && input.format !== format) throw new LibraryError(`the image bytes are ${format}, but format says ${input.format}`);
    let size: { width: number; height: number };
    try {
      size = format === 'png' ? pngSize(input.image) : await jpegSize(input.image);
    } catch (err) {
      throw new LibraryError(`the image cannot be read: ${(err as Error).message}`);
    }
    if ((input.width !== undefined && input.width !== size.width) || (input.height !== undefined && input.height !== size.height)) {
      throw new LibraryError(`the image is ${size.width}x${size.height} but the generation says ${input.width}x${input.height}`);
    }
    const { image, format: _f, source = 'studio', ...fields } = input;
    const id = newId();
    const createdAt = input.createdAt ?? Date.now();
    // Check every field before any byte is written, so a refusal leaves nothing behind.
    const checked = checkGeneration({ ...fields, ...size, id, format, imageHash: '0'.repeat(64), createdAt, source });
    if (checked.parentId !== null && !this.catalog.get(checked.parentId)) {
      throw new CatalogError(`the parent generation ${checked.parentId} is not in the catalog`);
    }
    const described: Generation = {
      ...checked,
      id,
      favorite: checked.favorite,
      createdAt: new Date(checked.createdAt).toISOString(),
      trashedAt: null,
      missingAt: null,
      tags: [...checked.tags].sort((a, b) => a.localeCompare(b)),
    };
    const bytes = embedMetadata(image, described);
    try {
      await this.core.addImage(bytes, format, (imageHash) => ({ ...fields, ...size, id, format, imageHash, createdAt: checked.createdAt, source }));
    } catch (err) {
      // A job's sample is recorded once (schema v4): a job run again after a crash gets the row
      // its first run made, not a second one.
      if (err instanceof DuplicateError && err.kind === 'job-sample') return this.get(err.existingId)!;
      throw err;
    }
    return this.get(id)!;
  }

  get(id: string): LibraryGeneration | undefined {
    const g = this.catalog.get(id);
    return g && this.core.withFiles(g);
  }

  getMany(ids: string[]): LibraryGeneration[] {
    return this.catalog.getMany(ids).map((g) => this.core.withFiles(g));
  }

  search(query: SearchQuery = {}): Page<LibraryGeneration> {
    const page = this.catalog.search(query);
    return { items: page.items.map((g) => this.core.withFiles(g)), nextCursor: page.nextCursor };
  }

  /** The gallery: search without text, newest first unless told otherwise. */
  page(query: Omit<SearchQuery, 'text'> = {}): Page<LibraryGeneration> {
    return this.search(query);
  }

  facets(query: SearchQuery = {}): Facets {
    return this.catalog.facets(query);
  }

  /** Projects with counts, cover and defaults (see catalog/projects.ts); all of them unless `archived` says which. */
  projects(opts: { archived?: boolean | 'all' } = {}): Project[] {
    return this.catalog.projects(opts);
  }

  /** Writes project `name` as a self-contained folder (images + catalog file) another studio imports. */
  exportProject(name: string, folder: string, opts: ProjectExportOptions = {}): Promise<ProjectExportReport> {
    return exportProject(this.core, name, folder, opts);
  }

  /** Adds an exported project folder: prompts, seeds, tags, ratings, favourites and lineage; nothing twice. */
  importProject(folder: string, opts: ProjectImportOptions = {}): Promise<ProjectImportReport> {
    return importProject(this.core, folder, opts);
  }

  lineage(id: string): Lineage<LibraryGeneration> {
    const l = this.catalog.lineage(id);
    return {
      ancestors: l.ancestors.map((g) => this.core.withFiles(g)),
      remixes: l.remixes.map((g) => ({ ...this.core.withFiles(g), depth: g.depth })),
    };
  }

  tag(ids: string[], tags: string[]): number {
    return this.catalog.tag(ids, tags);
  }
  untag(ids: string[], tags: string[]): number {
    return this.catalog.untag(ids, tags);
  }
  setFavorite(ids: string[], favorite: boolean): number {
    return this.catalog.setFavorite(ids, favorite);
  }
  rate(ids: string[], rating: number): number {
    return this.catalog.rate(ids, rating);
  }
  setProject(ids: string[], project: string | null): number {
    return this.catalog.setProject(ids, project);
  }
  trash(ids: string[]): number {
    return this.catalog.trash(ids);
  }
  restore(ids: string[]): number {
    return this.catalog.restore(ids);
  }

  /** Deletes trashed generations (all of the trash without ids) and files no row needs any more. */
  async purge(ids?: string[]): Promise<{ purged: string[]; filesRemoved: number }> {
    const { purged } = this.catalog.purge(ids);
    return { purged, filesRemoved: this.core.settleDeletions() };
  }

  scan(opts: { repair?: boolean; verify?: boolean } = {}): Promise<ScanReport> {
    return scanLibrary(this.core, opts);
  }

  exportTo(ids: string[], folder: string): Promise<ExportReport> {
    return exportGenerations(this.core, ids, folder);
  }

  importFrom(paths: string[], opts: ImportOptions = {}): Promise<ImportReport> {
    return importImages(this.core, paths, opts);
  }

  /** For a protocol handler or web server: images/… or thumbs/… names only, never outside the library. */
  async resolveFile(name: string): Promise<string> {
    try {
      const file = joinInside(this.dir, name, 'file name');
      const top = path.relative(this.dir, file).split(path.sep)[0];
      if (top !== IMAGES && top !== THUMBS) throw new LibraryError(`the file name ${JSON.stringify(name)} is not an image or thumbnail of this library`);
      return resolveInside(this.dir, name, { what: 'file name', mustExist: true, real: true });
    } catch (err) {
      throw err instanceof UnsafePathError ? new LibraryError(err.message) : err;
    }
  }

  close(): void {
    this.catalog.close();
  }
}

async function jpegSize(bytes: Buffer): Promise<{ width: number; height: number }> {
  const m = await sharp(bytes).metadata();
  if (!m.width || !m.height) throw new LibraryError('the JPEG has no readable size');
  return { width: m.width, height: m.height };
}

/** Opens (creating if needed) the library in `dir`, and finishes any purge a crash cut short. */
export async function openLibrary(dir: string = defaultLibraryDir()): Promise<Library> {
  let real: string;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    real = await fs.promises.realpath(dir);
    await fs.promises.mkdir(path.join(real, IMAGES), { recursive: true });
    await fs.promises.mkdir(path.join(real, THUMBS), { recursive: true });
  } catch (err) {
    // A mistyped --library (a file, a path through a file, a folder we may not write) is the user's
    // to fix: name it instead of showing errno text.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new LibraryError(`cannot open the library ${dir}: it (or a folder above it) is a file, not a folder; choose a library folder`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new LibraryError(`cannot open the library ${dir}: permission denied; choose a folder you can write to`);
    throw err;
  }
  const core = new LibraryCore(real, openCatalog(catalogFile(real)));
  try {
    core.settleDeletions();
  } catch (err) {
    core.catalog.close();
    throw err;
  }
  return new Library(core);
}
