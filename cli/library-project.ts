// `schnell library project …`: the projects of a library from a terminal (the same catalog and
// library functions the studio's sidebar calls). Kept apart from library.ts, which routes here.
import type { Project } from '../main/catalog/index.js';
import type { Library } from '../main/library/index.js';

export const PROJECT_USAGE = `  project list [--all|--archived]      projects with counts, cover and defaults
  project create NAME [--defaults JSON]
  project rename NAME NEW_NAME
  project archive NAME · project unarchive NAME
  project cover NAME ID|--clear        the image that stands for the project (default: its newest)
  project defaults NAME [JSON]         show, or replace, the editor defaults (e.g. '{"steps":4,"width":1344,"height":768}')
  project delete NAME [--force]        --force: its generations stay, without a project
  project export NAME --to DIR         a self-contained folder another studio imports
  project import DIR [--as NAME] [--merge]
                                       --merge: images already here take the exported tags, favourite, rating`;

export class ProjectUsageError extends Error {}

export interface ProjectFlags {
  json: boolean;
  to?: string;
  as?: string;
  merge?: boolean;
  all?: boolean;
  archived?: boolean;
  clear?: boolean;
  force?: boolean;
  defaults?: string;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProjectUsageError(`${what} must be JSON such as '{"steps":4}' (got ${JSON.stringify(text)})`);
  }
}

function line(p: Project): string {
  const flags = [p.archived ? 'archived' : '', p.cover?.chosen ? `cover ${p.cover.id}` : ''].filter(Boolean).join(', ');
  const defaults = Object.keys(p.defaults).length ? `  defaults ${JSON.stringify(p.defaults)}` : '';
  return `${p.name}  ${p.count} generation${p.count === 1 ? '' : 's'}, ${p.favorites} favourite${p.favorites === 1 ? '' : 's'}${flags ? ` (${flags})` : ''}${defaults}`;
}

const needs = (args: string[], n: number, shape: string): string[] => {
  if (args.length !== n) throw new ProjectUsageError(`usage: schnell library project ${shape}`);
  return args;
};

/** Runs one project command; `print` writes JSON or the text form. Returns the exit code. */
export async function runProjectCommand(lib: Library, args: string[], f: ProjectFlags, print: (data: unknown, text: () => string) => void): Promise<number> {
  const [sub, ...rest] = args;
  const show = (p: Project) => print(p, () => line(p));
  switch (sub) {
    case 'list':
    case undefined: {
      const projects = lib.projects({ archived: f.archived ? true : f.all ? 'all' : false });
      print(projects, () => (projects.length ? projects.map(line).join('\n') : 'no projects yet (create one with: schnell library project create NAME)'));
      return 0;
    }
    case 'create': {
      const [name] = needs(rest, 1, 'create NAME [--defaults JSON]');
      show(lib.catalog.createProject(name!, f.defaults !== undefined ? { defaults: parseJson(f.defaults, '--defaults') } : {}));
      return 0;
    }
    case 'rename': {
      const [from, to] = needs(rest, 2, 'rename NAME NEW_NAME');
      show(lib.catalog.renameProject(from!, to!));
      return 0;
    }
    case 'archive':
    case 'unarchive': {
      const [name] = needs(rest, 1, `${sub} NAME`);
      show(lib.catalog.archiveProject(name!, sub === 'archive'));
      return 0;
    }
    case 'cover': {
      if (f.clear) {
        const [name] = needs(rest, 1, 'cover NAME --clear');
        show(lib.catalog.setProjectCover(name!, null));
      } else {
        const [name, id] = needs(rest, 2, 'cover NAME ID (or --clear)');
        show(lib.catalog.setProjectCover(name!, id!));
      }
      return 0;
    }
    case 'defaults': {
      if (rest.length === 1) {
        const p = lib.catalog.project(rest[0]!);
        if (!p) throw new ProjectUsageError(`there is no project named ${JSON.stringify(rest[0])}`);
        print(p.defaults, () => JSON.stringify(p.defaults, null, 2));
        return 0;
      }
      const [name, json] = needs(rest, 2, 'defaults NAME [JSON]');
      show(lib.catalog.setProjectDefaults(name!, parseJson(json!, 'the defaults')));
      return 0;
    }
    case 'delete': {
      const [name] = needs(rest, 1, 'delete NAME [--force]');
      const n = lib.catalog.deleteProject(name!, { force: f.force === true });
      print({ deleted: name, generationsLeftWithoutProject: n }, () => `deleted project ${name}${n ? `; ${n} generation${n === 1 ? '' : 's'} now in no project` : ''}`);
      return 0;
    }
    case 'export': {
      const [name] = needs(rest, 1, 'export NAME --to DIR');
      if (!f.to) throw new ProjectUsageError('project export needs --to DIR (a new or empty folder)');
      let last = 0;
      const r = await lib.exportProject(name!, f.to, {
        onProgress: (p) => {
          if (!f.json && process.stderr.isTTY && (p.done - last >= 100 || p.done === p.total)) {
            last = p.done;
            process.stderr.write(`\rexporting ${p.done} of ${p.total}`);
          }
        },
      });
      if (!f.json && process.stderr.isTTY) process.stderr.write('\n');
      print(r, () =>
        [
          `exported project ${r.project} to ${r.folder}: ${r.generations} generations${r.ancestors ? ` and ${r.ancestors} earlier versions from other projects (for lineage)` : ''}`,
          ...r.missing.map((m) => `  left out ${m.id}: its image file is missing (${m.file}); run 'schnell library scan'`),
        ].join('\n'),
      );
      return r.missing.length ? 1 : 0;
    }
    case 'import': {
      const [dir] = needs(rest, 1, 'import DIR [--as NAME] [--merge]');
      let last = 0;
      const r = await lib.importProject(dir!, {
        ...(f.as !== undefined ? { as: f.as } : {}),
        existing: f.merge ? 'merge' : 'keep',
        onProgress: (p) => {
          if (!f.json && process.stderr.isTTY && (p.done - last >= 100 || p.done === p.total)) {
            last = p.done;
            process.stderr.write(`\r${p.phase === 'check' ? 'checking' : 'importing'} ${p.done} of ${p.total}`);
          }
        },
      });
      if (!f.json && process.stderr.isTTY) process.stderr.write('\n');
      print(r, () =>
        [
          `project ${r.project}${r.created ? ' (new)' : ''}: imported ${r.imported.length}, already here ${r.existing.length}, failed ${r.failed.length}${r.linked ? `, ${r.linked} remix links restored` : ''}`,
          ...r.failed.map((x) => `  failed ${x.file}: ${x.error}`),
        ].join('\n'),
      );
      return r.failed.length ? 1 : 0;
    }
    default:
      throw new ProjectUsageError(`unknown project command '${sub}'; use list, create, rename, archive, unarchive, cover, defaults, delete, export or import`);
  }
}
