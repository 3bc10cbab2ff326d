// The project commands: list, create, rename, archive, cover, per-project defaults, and moving a
// project between libraries as a folder. The catalog owns the rules (names unique without regard
// to case, defaults checked field by field) and words the refusals.
import type { Project as CatalogProject } from '../catalog/index.js';
import type { Project } from '../contract.js';
import type { Handlers } from '../handlers.js';
import type { Library } from '../library/index.js';
import type { Emit, Shell } from './shell.js';

type ProjectCommands = Pick<
  Handlers,
  'projects.list' | 'projects.create' | 'projects.rename' | 'projects.archive' | 'projects.setCover' | 'projects.setDefaults' | 'projects.export' | 'projects.import'
>;

export function projectHandlers(library: () => Library, shell: Shell, emit: Emit): ProjectCommands {
  const store = () => library().catalog;
  const view = (p: CatalogProject): Project => ({
    name: p.name,
    count: p.count,
    favorites: p.favorites,
    createdAt: p.createdAt,
    archived: p.archived,
    archivedAt: p.archivedAt,
    coverId: p.cover?.id ?? null,
    coverChosen: p.cover?.chosen ?? false,
    coverThumbnailUrl: p.cover ? shell.fileUrl(`thumbs/${p.cover.imageHash.slice(0, 2)}/${p.cover.imageHash}.webp`) : null,
    defaults: { ...p.defaults },
  });
  const changed = <T>(value: T): T => {
    emit('projects.changed', {});
    return value;
  };
  return {
    'projects.list': (p) => store().projects({ archived: p?.includeArchived ? 'all' : false }).map(view),
    'projects.create': ({ name, defaults }) => changed(view(store().createProject(name, defaults ? { defaults } : {}))),
    'projects.rename': ({ from, to }) => {
      const p = changed(view(store().renameProject(from, to)));
      emit('library.changed', { ids: [], reason: 'project renamed' });
      return p;
    },
    'projects.archive': ({ name, archived }) => changed(view(store().archiveProject(name, archived))),
    'projects.setCover': ({ name, generationId }) => changed(view(store().setProjectCover(name, generationId))),
    'projects.setDefaults': ({ name, defaults }) => changed(view(store().setProjectDefaults(name, defaults))),
    'projects.export': async ({ name, folder }) => {
      const r = await library().exportProject(name, folder);
      return { folder: r.folder, files: r.generations + r.ancestors };
    },
    'projects.import': async ({ folder }) => {
      const r = await library().importProject(folder);
      emit('library.changed', { ids: [], reason: 'project imported' });
      return changed({ project: r.project, imported: r.imported.length });
    },
  };
}
