// The library commands: gallery queries, edits and lineage, imports and exports, mapped onto the
// Library (main/library). Every edit announces the rows it changed, so other windows refresh.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Handlers } from '../handlers.js';
import { CommandError } from '../handlers.js';
import type { Library } from '../library/index.js';
import { galleryItem, type Emit, type Shell } from './shell.js';

type LibraryCommands = Pick<
  Handlers,
  | 'library.search' | 'library.facets' | 'library.get' | 'library.lineage' | 'library.setFavorite' | 'library.rate' | 'library.tag'
  | 'library.untag' | 'library.trash' | 'library.restore' | 'library.purge' | 'library.moveToProject' | 'library.export'
  | 'library.importPaths' | 'library.importFile' | 'library.reveal'
>;

export function libraryHandlers(library: () => Library, shell: Shell, emit: Emit): LibraryCommands {
  const item = (g: Parameters<typeof galleryItem>[0]) => galleryItem(g, library().dir, shell);
  const changed = (ids: string[], reason: string, count: number) => {
    if (count > 0) emit('library.changed', { ids, reason });
    return { changed: count };
  };
  const mustExist = (id: string) => {
    const g = library().get(id);
    if (!g) throw new CommandError('not-found', `there is no generation ${id} in the library`, 'id');
    return g;
  };
  const facets = new FacetsCache();
  return {
    'library.search': (q) => {
      const page = library().search(q);
      return { items: page.items.map(item), nextCursor: page.nextCursor };
    },
    'library.facets': (q) => facets.get(library(), q),
    'library.get': ({ id }) => {
      const g = library().get(id);
      return g ? item(g) : null;
    },
    'library.lineage': ({ id }) => {
      mustExist(id);
      const l = library().lineage(id);
      return { ancestors: l.ancestors.map(item), remixes: l.remixes.map((g) => ({ ...item(g), depth: g.depth })) };
    },
    'library.setFavorite': ({ ids, favorite }) => changed(ids, favorite ? 'favourite' : 'unfavourite', library().setFavorite(ids, favorite)),
    'library.rate': ({ ids, rating }) => changed(ids, 'rating', library().rate(ids, rating)),
    'library.tag': ({ ids, tags }) => changed(ids, 'tags', library().tag(ids, tags)),
    'library.untag': ({ ids, tags }) => changed(ids, 'tags', library().untag(ids, tags)),
    'library.trash': ({ ids }) => changed(ids, 'trash', library().trash(ids)),
    'library.restore': ({ ids }) => changed(ids, 'restore', library().restore(ids)),
    'library.purge': async ({ ids }) => {
      const { purged } = await library().purge(ids);
      if (purged.length > 0) emit('library.changed', { ids: purged, reason: 'purge' });
      return { purged: purged.length };
    },
    'library.moveToProject': ({ ids, project }) => {
      const n = changed(ids, 'project', library().setProject(ids, project));
      emit('projects.changed', {});
      return n;
    },
    'library.export': async ({ ids, folder }) => {
      const report = await library().exportTo(ids, folder);
      return { folder: report.folder, files: report.files.length };
    },
    'library.importPaths': async ({ paths, project, tags }) => {
      const report = await library().importFrom(paths, { recursive: true, ...(project ? { project } : {}), ...(tags ? { tags } : {}) });
      announceImport(report.imported.map((i) => i.id), emit);
      return report;
    },
    'library.importFile': async ({ fileName, dataBase64, project, tags }) => {
      const bytes = Buffer.from(dataBase64, 'base64');
      if (bytes.length === 0) throw new CommandError('invalid', 'the dropped file is empty', 'dataBase64');
      // The library imports from paths: a private temporary folder holds the dropped bytes meanwhile.
      const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'schnell-drop-'));
      try {
        const safeName = path.basename(fileName).replace(/[^\w.()-]+/g, '_') || 'dropped.png';
        await fs.promises.writeFile(path.join(dir, safeName), bytes, { mode: 0o600 });
        const report = await library().importFrom([safeName], { root: dir, ...(project ? { project } : {}), ...(tags ? { tags } : {}) });
        announceImport(report.imported.map((i) => i.id), emit);
        const rename = (f: string) => (path.basename(f) === safeName ? fileName : f);
        return {
          imported: report.imported.map((i) => ({ ...i, file: rename(i.file) })),
          skipped: report.skipped.map((s) => ({ ...s, file: rename(s.file) })),
          failed: report.failed.map((f) => ({ ...f, file: rename(f.file) })),
        };
      } finally {
        await fs.promises.rm(dir, { recursive: true, force: true });
      }
    },
    'library.reveal': ({ id }) => {
      const g = mustExist(id);
      if (!shell.reveal) throw new CommandError('unsupported', 'reveal in folder works in the desktop app; in a browser, export the image instead');
      shell.reveal(g.file);
      return { revealed: true };
    },
  };
}

function announceImport(ids: string[], emit: Emit): void {
  if (ids.length > 0) {
    emit('library.changed', { ids, reason: 'import' });
    emit('projects.changed', {});
  }
}

/**
 * The counts of a query, kept until the catalog changes: the gallery (its total) and the filters
 * pane (their options) ask for the same counts of each new search within a moment, and a common
 * word's counts cost tens of milliseconds at a million images, in the way of the page requests.
 */
class FacetsCache {
  private library: Library | undefined;
  private mark = '';
  private readonly answers = new Map<string, ReturnType<Library['facets']>>();

  get(library: Library, q: Parameters<Library['facets']>[0]): ReturnType<Library['facets']> {
    const mark = library.catalog.changeMark();
    if (library !== this.library || mark !== this.mark) {
      this.library = library;
      this.mark = mark;
      this.answers.clear();
    }
    const key = JSON.stringify(q);
    let answer = this.answers.get(key);
    if (!answer) {
      answer = library.facets(q);
      if (this.answers.size >= 16) this.answers.delete(this.answers.keys().next().value!);
      this.answers.set(key, answer);
    }
    return answer;
  }
}
