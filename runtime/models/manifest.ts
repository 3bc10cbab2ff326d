// The model manifest (resources/models.json): which files make up each installable model, where
// they come from, what they are for, and how to verify them. Checked with zod on load, and then
// for references between entries, because a manifest names paths on the user's disk.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isSafeFileName, isSlug } from './paths.js';
import { NotRegularFileError, readRegularFileSync } from '../util/regular-file.js';

const slug = z.string().refine(isSlug, { message: 'must be a lowercase slug (letters, digits, . - _; no separators)' });
const fileName = z.string().refine(isSafeFileName, { message: 'must be a plain file name (no / \\ : .. or leading dot)' });
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const url = z.string().refine((u) => {
  try {
    const p = new URL(u).protocol;
    return p === 'https:' || p === 'http:';
  } catch {
    return false;
  }
}, { message: 'must be an http(s) URL' });

export const FILE_KINDS = ['transformer', 't5', 'clip', 'autoencoder', 'checkpoint', 'tokenizer', 'safety'] as const;

const ManifestFile = z.object({
  id: slug,
  /** Sub-folder of the model folder (tokenizer, tokenizer_2), one plain name. */
  folder: fileName.optional(),
  file: fileName,
  url,
  /** Hugging Face repository, for "accept the terms at …" messages. */
  repo: z.string().regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/).optional(),
  kind: z.enum(FILE_KINDS),
  format: z.enum(['safetensors', 'json', 'text', 'binary', 'onnx']),
  precision: z.enum(['fp8', 'scaled-fp8', 'bf16', 'fp16', 'fp32', 'int8']).optional(),
  params: z.number().int().positive().optional(),
  bytes: z.number().int().positive(),
  bytes_exact: z.boolean(),
  sha256: sha256.nullable(),
  verify_note: z.string().optional(),
  license: z.string().min(1),
  gated: z.boolean(),
  purpose: z.string().min(1),
}).strict();

const Memory = z.object({ gpu_bytes: z.number().int().nonnegative(), cpu_bytes: z.number().int().nonnegative() }).strict();

const common = {
  id: slug,
  name: z.string().min(1),
  description: z.string().min(1),
  default: z.boolean().optional(),
  alternative_of: slug.optional(),
  files: z.array(slug).min(1),
  disk_bytes: z.number().int().nonnegative(),
  memory: Memory,
};

const Components = z.object({
  transformer: slug,
  autoencoder: slug,
  t5: slug,
  clip: slug,
  /** Folder names (a file entry's `folder`). */
  clip_tokenizer: fileName,
  t5_tokenizer: fileName,
}).strict();

const ManifestModel = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('flux'), components: Components }).strict(),
  z.object({ ...common, kind: z.literal('tokenizers') }).strict(),
  z.object({ ...common, kind: z.literal('safety') }).strict(),
]);

const Manifest = z.object({
  version: z.literal(1),
  about: z.string().optional(),
  files: z.array(ManifestFile).min(1),
  models: z.array(ManifestModel).min(1),
}).strict();

export type ManifestFile = z.infer<typeof ManifestFile>;
export type ManifestModel = z.infer<typeof ManifestModel>;
export type FluxManifestModel = Extract<ManifestModel, { kind: 'flux' }>;

export interface ModelManifest {
  version: 1;
  files: ManifestFile[];
  models: ManifestModel[];
  source: string;
  file(id: string): ManifestFile;
  model(id: string): ManifestModel;
  /** The files of a model, in order. */
  filesOf(model: ManifestModel): ManifestFile[];
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export const DEFAULT_MANIFEST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../resources/models.json');

/** Validates a parsed manifest; throws one ManifestError listing every problem with its JSON path. */
export function parseManifest(data: unknown, source = 'models.json'): ModelManifest {
  const r = Manifest.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 12).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ManifestError(`${source} is not a valid model manifest: ${lines.join('; ')}`);
  }
  const m = r.data;
  const problems: string[] = [];
  const files = new Map<string, ManifestFile>();
  for (const f of m.files) {
    if (files.has(f.id)) problems.push(`file id ${f.id} appears twice`);
    files.set(f.id, f);
  }
  const models = new Map<string, ManifestModel>();
  for (const model of m.models) {
    if (models.has(model.id)) problems.push(`model id ${model.id} appears twice`);
    models.set(model.id, model);
    const where = new Set<string>();
    for (const id of model.files) {
      const f = files.get(id);
      if (!f) {
        problems.push(`model ${model.id} lists unknown file ${id}`);
        continue;
      }
      const rel = `${f.folder ? `${f.folder}/` : ''}${f.file}`;
      if (where.has(rel)) problems.push(`model ${model.id} has two files at ${rel}`);
      where.add(rel);
      if (f.folder && model.files.some((o) => files.get(o)?.file === f.folder && !files.get(o)?.folder)) problems.push(`model ${model.id}: ${f.folder} is both a file and a folder`);
    }
    if (model.kind === 'flux') {
      const c = model.components;
      for (const [role, kinds] of [['transformer', ['transformer', 'checkpoint']], ['autoencoder', ['autoencoder', 'checkpoint']], ['t5', ['t5', 'checkpoint']], ['clip', ['clip', 'checkpoint']]] as const) {
        const id = c[role];
        const f = files.get(id);
        if (!model.files.includes(id) || !f) problems.push(`model ${model.id}: components.${role} (${id}) is not one of its files`);
        else if (!(kinds as readonly string[]).includes(f.kind)) problems.push(`model ${model.id}: components.${role} is a ${f.kind} file`);
      }
      for (const role of ['clip_tokenizer', 't5_tokenizer'] as const) {
        if (!model.files.some((id) => files.get(id)?.folder === c[role])) problems.push(`model ${model.id}: components.${role} (${c[role]}) is no folder of its files`);
      }
    }
    const sum = model.files.reduce((n, id) => n + (files.get(id)?.bytes ?? 0), 0);
    if (sum !== model.disk_bytes) problems.push(`model ${model.id}: disk_bytes is ${model.disk_bytes} but its files add up to ${sum}`);
  }
  for (const model of m.models) {
    if (model.alternative_of && !models.has(model.alternative_of)) problems.push(`model ${model.id}: alternative_of names unknown model ${model.alternative_of}`);
  }
  if (m.models.filter((x) => x.default).length > 1) problems.push('more than one model is marked default');
  if (problems.length) throw new ManifestError(`${source} is not a valid model manifest: ${problems.slice(0, 12).join('; ')}`);

  return {
    version: 1,
    files: m.files,
    models: m.models,
    source,
    file(id) {
      const f = files.get(id);
      if (!f) throw new ManifestError(`${source} has no file ${JSON.stringify(id)}`);
      return f;
    },
    model(id) {
      const x = models.get(id);
      if (!x) {
        throw new ManifestError(`no model ${JSON.stringify(id)} in ${path.basename(source)}; available: ${m.models.map((y) => y.id).join(', ')}`);
      }
      return x;
    },
    filesOf(model) {
      return model.files.map((id) => files.get(id)!);
    },
  };
}

export function loadManifest(file: string = DEFAULT_MANIFEST): ModelManifest {
  let data: unknown;
  try {
    data = JSON.parse(readRegularFileSync(file, 'model manifest', 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof NotRegularFileError) throw new ManifestError(err.message);
    throw new ManifestError(e.code === 'ENOENT' ? `the model manifest ${file} does not exist` : `the model manifest ${file} is not valid JSON: ${e.message}`);
  }
  return parseManifest(data, file);
}

/** Where a manifest file goes inside its model folder, as path segments. */
export function fileSegments(f: ManifestFile): string[] {
  return f.folder ? [f.folder, f.file] : [f.file];
}
