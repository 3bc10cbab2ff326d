// The installed models: `$SCHNELL_HOME/models/<id>/`, one folder per model. A folder holds
// `schnell-install.json` (our record: where it came from, its files and checksums) and, for a
// managed FLUX model, `schnell-model.json` (the model-set format runtime/flux reads). The record
// is written first and schnell-model.json last, so a model is "installed" only once both exist.
//
// In-place imports use the user's files where they are. runtime/flux refuses absolute paths in
// schnell-model.json (a managed folder must not point outside itself), so for those the record
// holds the paths as a ModelSetSpec and installedModelSource() hands that to openModelSet.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ModelSetSpec } from '../flux/checkpoints/checkpoint.js';
import { assertSlug, containedPath, containedRelative, isSlug, modelsRoot, schnellHome, UnsafePathError } from './paths.js';
import type { DownloadState } from './state.js';
import { writeJsonAtomic } from '../util/files.js';

export const INSTALL_RECORD = 'schnell-install.json';
export const MODEL_JSON = 'schnell-model.json';

const InstalledFile = z.object({
  /** Relative (forward slashes) inside the folder for managed models; absolute for in-place ones. */
  path: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  /** The published checksum it was verified against, if any. */
  expected_sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable().optional(),
  /** For in-place files: to notice the file changed since import. */
  mtime_ms: z.number().optional(),
  role: z.string().optional(),
}).strict();

const Spec = z.object({
  name: z.string().optional(),
  transformer: z.string(),
  autoencoder: z.string(),
  t5: z.string(),
  clip: z.string(),
  clip_tokenizer: z.string(),
  t5_tokenizer: z.string(),
  config: z.record(z.string(), z.unknown()).optional(),
}).strict();

const Record_ = z.object({
  version: z.literal(1),
  id: z.string(),
  name: z.string(),
  kind: z.enum(['flux', 'tokenizers', 'safety']),
  source: z.enum(['download', 'import']),
  mode: z.enum(['managed', 'in-place']),
  manifest_id: z.string().optional(),
  imported_from: z.array(z.string()).optional(),
  created_at: z.string(),
  verified_at: z.string().nullable().optional(),
  precision: z.string().optional(),
  parameters: z.number().optional(),
  files: z.array(InstalledFile),
  spec: Spec.optional(),
}).strict();

export type InstalledFile = z.infer<typeof InstalledFile>;
export type InstallRecord = z.infer<typeof Record_>;
export type ComponentPaths = z.infer<typeof Spec>;

export interface InstalledModel {
  id: string;
  folder: string;
  /** installed: usable; partial: a download or import that has not finished. */
  status: 'installed' | 'partial';
  record?: InstallRecord;
  /** Problems reading the folder (an unreadable record, say). */
  problem?: string;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

/** The folder of model `id` (which must be a slug) inside the models folder. */
export function modelFolder(id: string, home: string = schnellHome(), opts: { create?: boolean } = {}): string {
  assertSlug(id, 'model id');
  return containedPath(modelsRoot(home), [id], { create: opts.create });
}

export function readInstallRecord(folder: string): InstallRecord {
  const file = path.join(folder, INSTALL_RECORD);
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RegistryError(`${file} cannot be read: ${(err as Error).message}`);
  }
  const r = Record_.safeParse(data);
  if (!r.success) throw new RegistryError(`${file} is not a valid install record: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const rec = r.data;
  if (rec.id !== path.basename(folder)) throw new RegistryError(`${file} says it is model ${JSON.stringify(rec.id)} but lies in folder ${path.basename(folder)}`);
  // A managed folder only names files inside itself (checked again, on disk, whenever used).
  for (const f of rec.files) {
    if (rec.mode === 'managed' && (path.isAbsolute(f.path) || f.path.split('/').includes('..'))) {
      throw new RegistryError(`${file} names ${f.path}, outside the model folder`);
    }
  }
  return rec;
}

export function writeInstallRecord(folder: string, rec: InstallRecord): void {
  writeJsonAtomic(path.join(folder, INSTALL_RECORD), Record_.parse(rec), { mode: 0o644 });
}

/** Writes schnell-model.json for a managed FLUX model: relative paths only. */
export function writeModelJson(folder: string, name: string, c: Omit<ComponentPaths, 'name' | 'config'>, config?: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(c)) {
    containedRelative(folder, v); // throws if it would leave the folder
    if (path.isAbsolute(v)) throw new UnsafePathError(`components.${k} must be relative`, 'absolute');
  }
  writeJsonAtomic(path.join(folder, MODEL_JSON), { name, components: c, ...(config ? { config } : {}) }, { mode: 0o644 });
}

/** Every model folder, installed or partial, sorted by id. Dot-folders (staging) and links are skipped. */
export function listInstalled(home: string = schnellHome()): InstalledModel[] {
  const root = modelsRoot(home);
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(root, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: InstalledModel[] = [];
  for (const d of names) {
    if (!d.isDirectory() || !isSlug(d.name)) continue; // symlinks are not directories here
    const folder = path.join(root, d.name);
    const hasRecord = fs.existsSync(path.join(folder, INSTALL_RECORD));
    if (!hasRecord) {
      out.push({ id: d.name, folder, status: 'partial' });
      continue;
    }
    try {
      const record = readInstallRecord(folder);
      const usable = record.kind !== 'flux' || record.mode === 'in-place' || fs.existsSync(path.join(folder, MODEL_JSON));
      out.push({ id: d.name, folder, status: usable ? 'installed' : 'partial', record });
    } catch (err) {
      out.push({ id: d.name, folder, status: 'partial', problem: (err as Error).message });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

export function getInstalled(id: string, home: string = schnellHome()): InstalledModel | undefined {
  assertSlug(id, 'model id');
  return listInstalled(home).find((m) => m.id === id);
}

/**
 * What to hand to openModelSet for installed model `id`: its folder (managed) or a spec of the
 * user's files (in-place import).
 */
export function installedModelSource(id: string, home: string = schnellHome()): string | ModelSetSpec {
  const m = getInstalled(id, home);
  if (!m || m.status !== 'installed' || !m.record) throw new RegistryError(`model ${id} is not installed; see \`schnell models list\``);
  if (m.record.kind !== 'flux') throw new RegistryError(`${id} is not an image model (it holds ${m.record.kind})`);
  if (m.record.mode === 'managed') return m.folder;
  const s = m.record.spec;
  if (!s) throw new RegistryError(`${path.join(m.folder, INSTALL_RECORD)} has no component paths; import the model again`);
  return {
    name: m.record.name, transformer: s.transformer, autoencoder: s.autoencoder, t5: s.t5, clip: s.clip,
    clipTokenizer: s.clip_tokenizer, t5Tokenizer: s.t5_tokenizer, ...(s.config ? { config: s.config } : {}),
  };
}

/**
 * Removes model `id`: its folder (never following links, so files of an in-place import stay
 * untouched) and its download state.
 */
export function removeInstalled(id: string, home: string = schnellHome(), state?: DownloadState): { folder: string; freedBytes: number } {
  const folder = modelFolder(id, home);
  if (!fs.existsSync(folder)) throw new RegistryError(`model ${id} is not installed`);
  let freed = 0;
  const walk = (dir: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.isFile()) freed += fs.statSync(p).size;
    }
  };
  walk(folder);
  // Rename first: a half-deleted folder must not look like an installed model.
  const trash = path.join(path.dirname(folder), `.removing-${id}-${crypto.randomBytes(4).toString('hex')}`);
  fs.renameSync(folder, trash);
  fs.rmSync(trash, { recursive: true, force: true });
  if (state) {
    for (const row of state.list()) {
      if (row.model_id === id || row.dest.startsWith(folder + path.sep)) state.remove(row.dest);
    }
  }
  return { folder, freedBytes: freed };
}
