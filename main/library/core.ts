import fs from 'node:fs';
import { CatalogError, type Catalog, type Generation, type ImageFormat, type InsertOptions, type NewGeneration, type StoredFile } from '../catalog/index.js';
import { checkName } from '../catalog/validate.js';
import { LibraryError } from './errors.js';
import type { ImageInfo } from './metadata.js';
import { toNewGeneration } from './metadata.js';
import { imageRelPath, isStoredName, makeThumbnail, sha256, thumbRelPath, writeLibraryFile } from './store.js';
import { joinInside } from '../../runtime/util/paths.js';

// The one place that puts an image into the library: decode (thumbnail), write the image, write the
// thumbnail, then insert the row while holding the write lock and seeing the file on disk. A purge
// removes files only under the same lock, so between the two a row never points at a missing file.

export interface LibraryGeneration extends Generation {
  /** Absolute path of the image. */
  file: string;
  /** Absolute path of the 256-pixel WebP thumbnail. */
  thumbnail: string;
}

class FileVanished extends Error {}

export class LibraryCore {
  constructor(
    /** The library folder, as a real path (symlinks resolved). */
    readonly dir: string,
    readonly catalog: Catalog,
  ) {}

  // imageRelPath refuses values that are not a hash and a format; joinInside is the second lock.
  imageFile(hash: string, format: ImageFormat): string {
    return joinInside(this.dir, imageRelPath(hash, format), 'stored file name');
  }

  thumbFile(hash: string): string {
    return joinInside(this.dir, thumbRelPath(hash), 'stored file name');
  }

  withFiles(g: Generation): LibraryGeneration {
    return { ...g, file: this.imageFile(g.imageHash, g.format), thumbnail: this.thumbFile(g.imageHash) };
  }

  /** Writes image then thumbnail; the thumbnail is made first so an undecodable image writes nothing. */
  async storeFiles(bytes: Buffer, format: ImageFormat): Promise<string> {
    let thumb: Buffer;
    try {
      thumb = await makeThumbnail(bytes);
    } catch (err) {
      throw new LibraryError(`the image cannot be decoded (${(err as Error).message}); nothing was stored`);
    }
    const hash = sha256(bytes);
    await writeLibraryFile(this.imageFile(hash, format), bytes);
    await writeLibraryFile(this.thumbFile(hash), thumb);
    return hash;
  }

  private insertSeeingFile(g: NewGeneration, opts: InsertOptions): string {
    const file = this.imageFile(g.imageHash, g.format);
    return this.catalog.insert(g, () => {
      if (!fs.existsSync(file)) throw new FileVanished();
    }, opts);
  }

  /**
   * Stores the bytes and inserts the row `build(hash)` describes; returns the new id. A file some
   * row already owns is a DuplicateError (decided under the write lock), unless opts.sameFile is 'copy'.
   */
  async addImage(bytes: Buffer, format: ImageFormat, build: (hash: string) => NewGeneration, opts: InsertOptions = {}): Promise<string> {
    // A purge running in another process may delete an identical file between our write and our
    // insert; write it again then (twice is plenty: it needs the same bytes purged each time).
    for (let attempt = 0; ; attempt++) {
      const hash = await this.storeFiles(bytes, format);
      const g = build(hash);
      try {
        return this.insertSeeingFile(g, opts);
      } catch (err) {
        if (err instanceof FileVanished && attempt < 2) continue;
        this.dropIfUnreferenced({ hash, format });
        throw err;
      }
    }
  }

  /**
   * Stores the bytes and points the existing row `id` at them, when that row's own file is gone
   * (see catalog relinkFile). Returns false, changing nothing, when the row's file is still there.
   */
  async relinkImage(id: string, bytes: Buffer, format: ImageFormat): Promise<boolean> {
    if (!this.catalog.get(id)) return false;
    const hash = await this.storeFiles(bytes, format);
    let relinked = false;
    try {
      relinked = this.catalog.relinkFile(id, { hash, format }, () => {
        const row = this.catalog.get(id);
        if (!row || row.imageHash === hash) return false;
        if (fs.existsSync(this.imageFile(row.imageHash, row.format))) return false;
        return fs.existsSync(this.imageFile(hash, format));
      });
    } finally {
      if (!relinked) this.dropIfUnreferenced({ hash, format });
    }
    return relinked;
  }

  /**
   * Puts back the file of rows whose file went missing, from the same bytes met again (an export
   * of an unchanged generation has exactly the stored bytes); clears their missing mark.
   */
  async restoreFile(bytes: Buffer, format: ImageFormat): Promise<void> {
    const hash = await this.storeFiles(bytes, format);
    this.catalog.write(() => {
      this.catalog.db.prepare('UPDATE generations SET missing_at = NULL WHERE image_hash = ? AND image_format = ? AND missing_at IS NOT NULL').run(hash, format);
    });
  }

  /** Removes a file pair no row refers to (under the write lock, so no insert can race it). */
  dropIfUnreferenced(f: StoredFile): boolean {
    return this.catalog.write(() => {
      if (this.catalog.isReferenced(f)) return false;
      // Same hash means same bytes, so the thumbnail belongs to this file alone.
      fs.rmSync(this.imageFile(f.hash, f.format), { force: true });
      fs.rmSync(this.thumbFile(f.hash), { force: true });
      return true;
    });
  }

  /** Finishes journalled deletions (a purge, perhaps one cut short by a crash). */
  settleDeletions(): number {
    let removed = 0;
    for (const f of this.catalog.pendingFileDeletions()) {
      this.catalog.write(() => {
        // A journal entry that names no file of ours (a tampered catalog) is dropped, never followed.
        if (isStoredName(f.hash, f.format) && !this.catalog.isReferenced(f)) {
          fs.rmSync(this.imageFile(f.hash, f.format), { force: true });
          fs.rmSync(this.thumbFile(f.hash), { force: true });
          removed++;
        }
        this.catalog.settleFileDeletion(f);
      });
    }
    return removed;
  }

  /**
   * A row for a file found on disk or brought in: keeps its id and parent only when they fit this
   * catalog, and drops names the catalog would refuse (with a warning) instead of the whole image.
   */
  rowFor(info: ImageInfo, hash: string, opts: { createdAt: number; project?: string; tags?: string[] }): NewGeneration {
    const g = toNewGeneration(info, hash, opts.createdAt);
    if (g.id !== undefined && this.catalog.get(g.id)) delete g.id;
    if (g.parentId && !this.catalog.get(g.parentId)) g.parentId = null;
    const validName = (kind: 'project' | 'tag', v: string): string | undefined => {
      try {
        return checkName(kind, v);
      } catch (err) {
        if (!(err instanceof CatalogError)) throw err;
        info.warnings.push(`${err.message}; left out`);
        return undefined;
      }
    };
    const project = opts.project ?? g.project ?? undefined;
    g.project = project === undefined ? null : validName('project', project) ?? null;
    g.tags = [...(g.tags ?? []), ...(opts.tags ?? [])].flatMap((t) => validName('tag', t) ?? []);
    return g;
  }
}
