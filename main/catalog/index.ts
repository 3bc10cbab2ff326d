// The catalog: every generation as a row in SQLite (better-sqlite3, WAL). Synchronous, as SQLite
// is; the library (main/library) pairs it with the image files and is what the studio calls.
//
//   const catalog = openCatalog(file)           creates or migrates; catalog.db is the open handle
//   catalog.insert(g) / insertMany(gs)          → ids (checks every field first)
//   catalog.get(id) / getMany(ids)
//   catalog.search(query) → { items, nextCursor }   text + filters, keyset pages
//   catalog.facets(query) · catalog.lineage(id)
//   catalog.projects() · project(name) · createProject / renameProject / archiveProject /
//     setProjectCover / setProjectDefaults / deleteProject      (see projects.ts)
//   catalog.tag / untag / setFavorite / rate / setProject / trash / restore / purge
//   catalog.jobs                                 the persistent job queue
import { integrityCheck, openDatabase, prepared, schemaVersion, type Db } from './db.js';
import { facetCounts } from './facets.js';
import * as rows from './generations.js';
import { Jobs } from './jobs.js';
import { searchGenerations } from './search.js';
import * as projectsApi from './projects.js';
import type { Project } from './projects.js';
import type { Facets, Generation, Lineage, NewGeneration, Page, SearchQuery } from './types.js';
import { checkGeneration } from './validate.js';
import { isCorruption, repairCatalog, searchIndexDamaged, searchIndexProblem, type CatalogRepairReport } from './repair.js';

export * from './types.js';
export * from './errors.js';
export type { CatalogRepairReport } from './repair.js';
export { rebuildFacetCounts, rebuildSearchIndex } from './repair.js';
export { isId, newId } from './ids.js';
export { toFtsQuery } from './fts-query.js';
export { LATEST_VERSION, MIGRATIONS } from './schema.js';
export { integrityCheck, migrate, openDatabase, schemaVersion, type Db } from './db.js';
export type { InsertOptions, StoredFile } from './generations.js';
export type { Jobs } from './jobs.js';
export { checkProjectDefaults, projectDefaultsSchema, type Project, type ProjectCover, type ProjectDefaults } from './projects.js';

export class Catalog {
  readonly jobs: Jobs;

  constructor(readonly db: Db) {
    this.jobs = new Jobs(db);
  }

  get version(): number {
    return schemaVersion(this.db);
  }

  /**
   * Adds a row. `whileLocked` runs inside the write transaction before the insert: the library
   * uses it to confirm the image file is on disk while no purge can remove it.
   */
  insert(g: NewGeneration, whileLocked?: () => void, opts: rows.InsertOptions = {}): string {
    const checked = checkGeneration(g);
    return this.write(() => {
      whileLocked?.();
      const tally = new rows.FacetTally();
      const id = rows.insertGeneration(this.db, checked, tally, opts);
      tally.flush(this.db);
      return id;
    });
  }

  /** One transaction for the lot: all rows or none. */
  insertMany(gs: NewGeneration[], whileLocked?: () => void, opts: rows.InsertOptions = {}): string[] {
    const checked = gs.map((g) => checkGeneration(g));
    return this.write(() => {
      whileLocked?.();
      const tally = new rows.FacetTally();
      const ids = checked.map((g) => rows.insertGeneration(this.db, g, tally, opts));
      tally.flush(this.db);
      return ids;
    });
  }

  get(id: string): Generation | undefined {
    return rows.getGenerations(this.db, [id])[0];
  }

  getMany(ids: string[]): Generation[] {
    return rows.getGenerations(this.db, ids);
  }

  /**
   * A damaged search index fails with the repair command instead of a SQLite message or, when it
   * lost rows, an empty or short page: a text search's first page checks the index first (a few
   * index lookups, repair.ts searchIndexProblem).
   */
  search(query: SearchQuery = {}): Page<Generation> {
    let page: Page<Generation>;
    try {
      page = searchGenerations(this.db, query);
    } catch (err) {
      if (isCorruption(err)) throw searchIndexDamaged((err as Error).message);
      throw err;
    }
    if (query.text !== undefined && query.cursor === undefined) {
      const problem = searchIndexProblem(this.db);
      if (problem) throw searchIndexDamaged(problem);
    }
    return page;
  }

  /**
   * A value that changes whenever the catalog may have: a write on this connection or a commit by
   * any other (SQLite's data_version). Lets a caller keep an answer until it does.
   */
  changeMark(): string {
    const other = prepared(this.db, 'PRAGMA data_version').get() as { data_version: number };
    const own = prepared(this.db, 'SELECT total_changes() AS n').get() as { n: number };
    return `${other.data_version}:${own.n}`;
  }

  /** Rebuilds what damage outside the studio can break (see repair.ts); `schnell library repair`. */
  repair(): CatalogRepairReport {
    return repairCatalog(this.db);
  }

  facets(query: SearchQuery = {}): Facets {
    try {
      return facetCounts(this.db, query);
    } catch (err) {
      if (isCorruption(err)) throw searchIndexDamaged((err as Error).message);
      throw err;
    }
  }

  lineage(id: string): Lineage {
    return rows.lineage(this.db, id);
  }

  /** Every project with its counts, cover and defaults; `archived`: true = only archived, false = only active, default all. */
  projects(opts: { archived?: boolean | 'all' } = {}): Project[] {
    return projectsApi.listProjects(this.db, opts);
  }

  project(name: string): Project | undefined {
    return projectsApi.getProject(this.db, name);
  }

  createProject(name: string, opts: { defaults?: unknown } = {}): Project {
    return this.write(() => projectsApi.createProject(this.db, name, opts));
  }

  renameProject(from: string, to: string): Project {
    return this.write(() => projectsApi.renameProject(this.db, from, to));
  }

  archiveProject(name: string, archived: boolean): Project {
    return this.write(() => projectsApi.archiveProject(this.db, name, archived));
  }

  /** A live generation of the project as its cover, or null for its newest. */
  setProjectCover(name: string, generationId: string | null): Project {
    return this.write(() => projectsApi.setProjectCover(this.db, name, generationId));
  }

  /** Replaces the project's editor defaults (checked; {} clears them). */
  setProjectDefaults(name: string, defaults: unknown): Project {
    return this.write(() => projectsApi.setProjectDefaults(this.db, name, defaults));
  }

  /** Removes the project; its generations stay, without one (`force` needed when it has any). Returns how many. */
  deleteProject(name: string, opts: { force?: boolean } = {}): number {
    return this.write(() => projectsApi.deleteProject(this.db, name, opts));
  }

  /** Runs fn in an immediate (write-locked) transaction. */
  write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      // Every write touches the search index (triggers, new rows): its damage is named, not thrown raw.
      if ((err as { code?: string }).code === 'SQLITE_CORRUPT_VTAB') throw searchIndexDamaged((err as Error).message);
      throw err;
    }
  }

  tag(ids: string[], tags: string[]): number {
    return this.write(() => rows.addTags(this.db, ids, tags));
  }

  untag(ids: string[], tags: string[]): number {
    return this.write(() => rows.removeTags(this.db, ids, tags));
  }

  setFavorite(ids: string[], favorite: boolean): number {
    return this.write(() => rows.setFavorite(this.db, ids, favorite));
  }

  rate(ids: string[], rating: number): number {
    return this.write(() => rows.setRating(this.db, ids, rating));
  }

  setProject(ids: string[], project: string | null): number {
    return this.write(() => rows.setProject(this.db, ids, project));
  }

  /**
   * Points row `id` at another stored file (see generations.relinkFile) when `stillWanted`, asked
   * under the write lock, says so; returns whether it did.
   */
  relinkFile(id: string, f: rows.StoredFile, stillWanted: () => boolean = () => true): boolean {
    return this.write(() => {
      if (!stillWanted()) return false;
      rows.relinkFile(this.db, id, f.hash, f.format);
      return true;
    });
  }

  setParent(id: string, parentId: string | null): number {
    return this.write(() => rows.setParent(this.db, id, parentId));
  }

  trash(ids: string[]): number {
    return this.write(() => rows.trash(this.db, ids));
  }

  restore(ids: string[]): number {
    return this.write(() => rows.restore(this.db, ids));
  }

  markMissing(ids: string[], missing: boolean): number {
    return this.write(() => rows.markMissing(this.db, ids, missing));
  }

  /** Deletes trashed rows; returns the files no row needs any more (journalled in file_deletions). */
  purge(ids?: string[]): { purged: string[]; files: rows.StoredFile[] } {
    return this.write(() => rows.purgeRows(this.db, ids));
  }

  /** Files whose deletion was journalled but not yet confirmed done. */
  pendingFileDeletions(): rows.StoredFile[] {
    return (prepared(this.db, 'SELECT image_hash AS hash, image_format AS format FROM file_deletions').all() as rows.StoredFile[]);
  }

  /** Drops the journal entry once the file is gone (or a row took the file back). */
  settleFileDeletion(f: rows.StoredFile): void {
    prepared(this.db, 'DELETE FROM file_deletions WHERE image_hash = ? AND image_format = ?').run(f.hash, f.format);
  }

  isReferenced(f: rows.StoredFile): boolean {
    return prepared(this.db, 'SELECT 1 FROM generations WHERE image_hash = ? AND image_format = ? LIMIT 1').get(f.hash, f.format) !== undefined;
  }

  /** Every file the rows point at, with the ids that point at it. */
  referencedFiles(): Map<string, { hash: string; format: rows.StoredFile['format']; ids: string[]; missing: boolean }> {
    const out = new Map<string, { hash: string; format: rows.StoredFile['format']; ids: string[]; missing: boolean }>();
    for (const r of prepared(this.db, 'SELECT id, image_hash, image_format, missing_at FROM generations').iterate() as Iterable<{
      id: string; image_hash: string; image_format: rows.StoredFile['format']; missing_at: number | null;
    }>) {
      const key = `${r.image_hash}.${r.image_format}`;
      const entry = out.get(key) ?? { hash: r.image_hash, format: r.image_format, ids: [], missing: false };
      entry.ids.push(r.id);
      if (r.missing_at !== null) entry.missing = true;
      out.set(key, entry);
    }
    return out;
  }

  /** The first live generation stored in this file, if any. */
  findByFile(f: rows.StoredFile, opts: { includeTrashed?: boolean } = {}): string | undefined {
    const sql = opts.includeTrashed
      ? 'SELECT id FROM generations WHERE image_hash = ? AND image_format = ? LIMIT 1'
      : 'SELECT id FROM generations WHERE image_hash = ? AND image_format = ? AND trashed_at IS NULL LIMIT 1';
    return (prepared(this.db, sql).get(f.hash, f.format) as { id: string } | undefined)?.id;
  }

  integrityCheck(): string {
    return integrityCheck(this.db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export function openCatalog(file: string, opts: { targetVersion?: number } = {}): Catalog {
  return new Catalog(openDatabase(file, opts));
}
