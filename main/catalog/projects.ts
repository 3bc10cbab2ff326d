import { z } from 'zod';
import { DEFAULT_MAX_SAMPLES, MAX_CFG_SCALE, MAX_PROMPT_CHARS, MAX_SEED, MAX_STEPS, SAMPLERS } from '../../runtime/api/request.js';
import { describeResolutions, isSupportedResolution } from '../../runtime/api/resolutions.js';
import { prepared, type Db } from './db.js';
import { CatalogError, type ImageFormat } from './types.js';
import { checkName } from './validate.js';
import { storedDate } from './rows.js';

// Projects: named views of the library, each with a cover, an archive flag and the editor's
// default settings for new generations in it (schema v5). Names are the key the rest of the studio
// uses (a generation's `project`), unique without regard to case. Counts come from the per-project
// facet counters, so listing a thousand projects over a million generations reads a few rows each.

/** The editor's defaults in a project; every field optional (absent: the studio's own default). */
export const projectDefaultsSchema = z
  .strictObject({
    /** Text the editor starts with (a style the project keeps, say). */
    prompt: z.string().max(MAX_PROMPT_CHARS).optional(),
    width: z.number().int().optional(),
    height: z.number().int().optional(),
    steps: z.number().int().min(1).max(MAX_STEPS).optional(),
    sampler: z.enum(SAMPLERS as unknown as [string, ...string[]]).nullable().optional(),
    cfgScale: z.number().min(0).max(MAX_CFG_SCALE).optional(),
    samples: z.number().int().min(1).max(DEFAULT_MAX_SAMPLES).optional(),
    /** random: a new seed each time; fixed: always `seed`; increment: `seed`, then one more each run. */
    seedPolicy: z.enum(['random', 'fixed', 'increment']).optional(),
    seed: z.number().int().min(0).max(MAX_SEED).optional(),
    backend: z.enum(['auto', 'local', 'cloud']).optional(),
    negativePrompt: z.string().max(MAX_PROMPT_CHARS).optional(),
    safetyCheck: z.boolean().optional(),
    model: z.string().min(1).max(512).optional(),
    outputFormat: z.enum(['png', 'jpeg']).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.width === undefined) !== (s.height === undefined)) {
      ctx.addIssue({ code: 'custom', path: [s.width === undefined ? 'width' : 'height'], message: 'give width and height together' });
    } else if (s.width !== undefined && !isSupportedResolution(s.width, s.height!)) {
      ctx.addIssue({ code: 'custom', path: ['width'], message: `${s.width}x${s.height} is not a supported size; use one of ${describeResolutions()}` });
    }
    if ((s.seedPolicy === 'fixed' || s.seedPolicy === 'increment') && s.seed === undefined) {
      ctx.addIssue({ code: 'custom', path: ['seed'], message: `seed policy '${s.seedPolicy}' needs a seed` });
    }
  });

export type ProjectDefaults = z.infer<typeof projectDefaultsSchema>;

/** Checks settings from a caller (or a file); the error names the first bad field. */
export function checkProjectDefaults(v: unknown): ProjectDefaults {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CatalogError('project defaults must be an object of fields such as {"steps": 4}');
  const r = projectDefaultsSchema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new CatalogError(`project defaults have an unknown field '${issue.keys[0]}'; known fields: ${DEFAULT_FIELDS.join(', ')}`);
  }
  throw new CatalogError(`project default '${issue.path.join('.') || 'settings'}' is not valid: ${issue.message}`);
}

const DEFAULT_FIELDS = ['prompt', 'width', 'height', 'steps', 'sampler', 'cfgScale', 'samples', 'seedPolicy', 'seed', 'backend', 'negativePrompt', 'safetyCheck', 'model', 'outputFormat'];

export interface ProjectCover {
  id: string;
  imageHash: string;
  format: ImageFormat;
  /** true: picked by the user; false: the project's newest image, shown until one is picked. */
  chosen: boolean;
}

export interface Project {
  name: string;
  createdAt: string;
  updatedAt: string | null;
  archived: boolean;
  archivedAt: string | null;
  cover: ProjectCover | null;
  /** The editor's defaults for new generations in the project. */
  defaults: ProjectDefaults;
  /** Generations in the project, not counting the trash. */
  count: number;
  favorites: number;
}

interface ProjectRow {
  id: number;
  name: string;
  created_at: number;
  updated_at: number | null;
  archived_at: number | null;
  cover_id: string | null;
  settings_json: string;
}

const iso = (ms: number | null) => storedDate(ms, 'a project');

function parseDefaults(row: ProjectRow): ProjectDefaults {
  try {
    return checkProjectDefaults(JSON.parse(row.settings_json));
  } catch {
    // Hand-edited or from a newer studio: show the project with the studio defaults rather than fail the list.
    return {};
  }
}

function toProject(db: Db, r: ProjectRow): Project {
  const counts = prepared(
    db,
    "SELECT facet, value, n FROM project_facet_counts WHERE project_id = ? AND (facet = 'total' OR (facet = 'favorite' AND value = 1))",
  ).all(r.id) as { facet: string; n: number }[];
  const chosen = r.cover_id === null
    ? undefined
    : (prepared(db, 'SELECT id, image_hash, image_format FROM generations WHERE id = ? AND trashed_at IS NULL').get(r.cover_id) as CoverRow | undefined);
  const newest = chosen
    ? undefined
    : (prepared(db, 'SELECT id, image_hash, image_format FROM generations WHERE project_id = ? AND trashed_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1').get(r.id) as
        | CoverRow
        | undefined);
  const c = chosen ?? newest;
  return {
    name: r.name,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at),
    archived: r.archived_at !== null,
    archivedAt: iso(r.archived_at),
    cover: c ? { id: c.id, imageHash: c.image_hash, format: c.image_format, chosen: chosen !== undefined } : null,
    defaults: parseDefaults(r),
    count: counts.find((x) => x.facet === 'total')?.n ?? 0,
    favorites: counts.find((x) => x.facet === 'favorite')?.n ?? 0,
  };
}

interface CoverRow {
  id: string;
  image_hash: string;
  image_format: ImageFormat;
}

const PROJECT_COLUMNS = 'id, name, created_at, updated_at, archived_at, cover_id, settings_json';

function findRow(db: Db, name: string): ProjectRow | undefined {
  return prepared(db, `SELECT ${PROJECT_COLUMNS} FROM projects WHERE name = ?`).get(checkName('project', name)) as ProjectRow | undefined;
}

function requireRow(db: Db, name: string): ProjectRow {
  const r = findRow(db, name);
  if (!r) throw new CatalogError(`there is no project named ${JSON.stringify(String(name).trim())}; create it first`);
  return r;
}

/** Every project, by name; archived ones only when asked for ('all' or true = only archived). */
export function listProjects(db: Db, opts: { archived?: boolean | 'all' } = {}): Project[] {
  const which = opts.archived ?? 'all';
  const where = which === 'all' ? '' : which ? 'WHERE archived_at IS NOT NULL' : 'WHERE archived_at IS NULL';
  const rows = prepared(db, `SELECT ${PROJECT_COLUMNS} FROM projects ${where} ORDER BY name COLLATE NOCASE, id`).all() as ProjectRow[];
  return rows.map((r) => toProject(db, r));
}

export function getProject(db: Db, name: string): Project | undefined {
  const r = findRow(db, name);
  return r && toProject(db, r);
}

export function createProject(db: Db, name: string, opts: { defaults?: unknown; now?: number } = {}): Project {
  const clean = checkName('project', name);
  const existing = findRow(db, clean);
  if (existing) throw new CatalogError(`a project named ${JSON.stringify(existing.name)} already exists; choose another name`);
  const defaults = checkProjectDefaults(opts.defaults ?? {});
  const now = opts.now ?? Date.now();
  prepared(db, 'INSERT INTO projects(name, created_at, updated_at, settings_json) VALUES (?, ?, ?, ?)').run(clean, now, now, JSON.stringify(defaults));
  return getProject(db, clean)!;
}

export function renameProject(db: Db, from: string, to: string): Project {
  const row = requireRow(db, from);
  const clean = checkName('project', to);
  const clash = findRow(db, clean);
  if (clash && clash.id !== row.id) throw new CatalogError(`a project named ${JSON.stringify(clash.name)} already exists; choose another name`);
  prepared(db, 'UPDATE projects SET name = ?, updated_at = ? WHERE id = ?').run(clean, Date.now(), row.id);
  return getProject(db, clean)!;
}

export function archiveProject(db: Db, name: string, archived: boolean): Project {
  const row = requireRow(db, name);
  if ((row.archived_at !== null) !== archived) {
    const now = Date.now();
    prepared(db, 'UPDATE projects SET archived_at = ?, updated_at = ? WHERE id = ?').run(archived ? now : null, now, row.id);
  }
  return getProject(db, row.name)!;
}

/** Picks the cover (a live generation of the project), or null to show the newest again. */
export function setProjectCover(db: Db, name: string, generationId: string | null): Project {
  const row = requireRow(db, name);
  if (generationId !== null) {
    if (typeof generationId !== 'string') throw new CatalogError('a project cover must be a generation id');
    const g = prepared(db, 'SELECT project_id, trashed_at FROM generations WHERE id = ?').get(generationId) as
      | { project_id: number | null; trashed_at: number | null }
      | undefined;
    if (!g) throw new CatalogError(`no generation with id ${JSON.stringify(generationId)} in this catalog`);
    if (g.project_id !== row.id) throw new CatalogError(`generation ${generationId} is not in project ${JSON.stringify(row.name)}; move it there first`);
    if (g.trashed_at !== null) throw new CatalogError(`generation ${generationId} is in the trash; restore it to use it as the cover`);
  }
  prepared(db, 'UPDATE projects SET cover_id = ?, updated_at = ? WHERE id = ?').run(generationId, Date.now(), row.id);
  return getProject(db, row.name)!;
}

/** Replaces the project's defaults (validated; {} clears them). */
export function setProjectDefaults(db: Db, name: string, defaults: unknown): Project {
  const row = requireRow(db, name);
  const checked = checkProjectDefaults(defaults);
  prepared(db, 'UPDATE projects SET settings_json = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(checked), Date.now(), row.id);
  return getProject(db, row.name)!;
}

/**
 * Removes a project. Its generations stay in the library, without a project; `force` is needed
 * when it still has any (trashed ones included), so nothing is unfiled by a slip.
 */
export function deleteProject(db: Db, name: string, opts: { force?: boolean } = {}): number {
  const row = requireRow(db, name);
  const n = (prepared(db, 'SELECT count(*) AS n FROM generations WHERE project_id = ?').get(row.id) as { n: number }).n;
  if (n > 0 && !opts.force) {
    throw new CatalogError(`project ${JSON.stringify(row.name)} still holds ${n} generation${n === 1 ? '' : 's'}; move them elsewhere, or delete it with force to leave them without a project`);
  }
  // Through the triggers, so the counters follow the rows to "no project".
  prepared(db, 'UPDATE generations SET project_id = NULL WHERE project_id = ?').run(row.id);
  prepared(db, 'DELETE FROM project_facet_counts WHERE project_id = ?').run(row.id);
  prepared(db, 'DELETE FROM projects WHERE id = ?').run(row.id);
  return n;
}
