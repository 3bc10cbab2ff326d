// The project commands: list, create, rename, archive, cover, per-project defaults, and moving a
// project between libraries as a folder. The catalog owns the rules (names unique without regard
// to case, defaults checked field by field) and words the refusals.
import type { Project } from '../contract.js';
import { CommandError, type Handlers } from '../handlers.js';
import type { Library } from '../library/index.js';
import type { Emit, Shell } from './shell.js';

type ProjectCommands = Pick<
  Handlers,
  'projects.list' | 'projects.create' | 'projects.rename' | 'projects.archive' | 'projects.setCover' | 'projects.setDefaults' | 'projects.export' | 'projects.import'
>;

/** A project as the catalog keeps it (main/catalog/projects.ts). */
interface CatalogProject {
  name: string;
  createdAt: string;
  archived: boolean;
  archivedAt: string | null;
  cover: { id: string; imageHash: string; chosen: boolean } | null;
  defaults: Record<string, unknown>;
  count: number;
  favorites: number;
}

/** The catalog's and library's project functions (added with catalog migration 5). */
interface ProjectStore {
  projects(opts?: { archived?: boolean | 'all' }): CatalogProject[];
  createProject(name: string, opts?: { defaults?: unknown }): CatalogProject;
  renameProject(from: string, to: string): CatalogProject;
  archiveProject(name: string, archived: boolean): CatalogProject;
  setProjectCover(name: string, generationId: string | null): CatalogProject;
  setProjectDefaults(name: string, defaults: unknown): CatalogProject;
}
interface ProjectTransfer {
  exportProject?(name: string, folder: string): Promise<{ folder: string; generations: number; ancestors: number }>;
  importProject?(folder: string): Promise<{ project: string; imported: unknown[] }>;
}

export function projectHandlers(library: () => Library, shell: Shell, emit: Emit): ProjectCommands {
  const store = () => library().catalog as unknown as ProjectStore;
  const view = (p: CatalogProject): Project => ({
    name: p.name,
    count: p.count,
    favorites: p.favorites ?? 0,
    createdAt: p.createdAt,
    archived: Boolean(p.archived),
    archivedAt: p.archivedAt ?? null,
    coverId: p.cover?.id ?? null,
    coverChosen: p.cover?.chosen ?? false,
    coverThumbnailUrl: p.cover ? shell.fileUrl(`thumbs/${p.cover.imageHash.slice(0, 2)}/${p.cover.imageHash}.webp`) : null,
    defaults: p.defaults ?? {},
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
      const lib = library() as unknown as ProjectTransfer;
      if (!lib.exportProject) throw new CommandError('unsupported', 'exporting a project is not available in this build');
      const r = await lib.exportProject(name, folder);
      return { folder: r.folder, files: r.generations + r.ancestors };
    },
    'projects.import': async ({ folder }) => {
      const lib = library() as unknown as ProjectTransfer;
      if (!lib.importProject) throw new CommandError('unsupported', 'importing a project is not available in this build');
      const r = await lib.importProject(folder);
      emit('library.changed', { ids: [], reason: 'project imported' });
      return changed({ project: r.project, imported: r.imported.length });
    },
  };
}
