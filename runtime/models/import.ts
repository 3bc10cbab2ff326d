// Imports model files people already have (a ComfyUI single file, a diffusers folder, loose BFL /
// Hugging Face files, scaled FP8 …): detect each part from its header, check the set is complete
// and compatible and say exactly what is missing, then register it — in place by default (the
// files stay where they are), or copied / moved into the models folder. The new model folder is
// built under a dot-name and renamed into place only when it is whole.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { CheckpointError, openModelSet, type ModelSetSpec } from '../flux/checkpoints/checkpoint.js';
import { checkModelSetLoads } from './load-check.js';
import { DEFAULT_MODEL_CONFIG } from '../flux/model-config.js';
import { findParts, ROLES, ROLE_LABEL, type FoundPart, type Role } from './detect.js';
import { assertSafeFileName, assertSlug, containedPath, modelsRoot, schnellHome } from './paths.js';
import {
  getInstalled, installedModelSource, listInstalled, writeInstallRecord, writeModelJson,
  type ComponentPaths, type InstalledFile, type InstalledModel,
} from './registry.js';
import { readRegularFileSync, regularFileStream } from '../util/regular-file.js';

export type ImportMode = 'in-place' | 'copy' | 'move';

export interface ImportOptions {
  /** Files and folders to look in. */
  paths: string[];
  /** Explicit parts (file or folder), checked to really be what they are given as. */
  roles?: Partial<Record<Role, string>>;
  id?: string;
  name?: string;
  mode?: ImportMode;
  /** Values the weights cannot show (axes_dim, theta, scale_factor, shift_factor). */
  config?: Record<string, unknown>;
  home?: string;
  onLog?: (message: string) => void;
  onProgress?: (file: string, bytes: number, total: number) => void;
}

export interface ImportPlan {
  inputs: string[];
  parts: Partial<Record<Role, FoundPart & { fromModel?: string }>>;
  complete: boolean;
  /** Missing roles (`t5`, `clip_tokenizer`) and tensors (`transformer:double_blocks.1.*`). */
  missing: string[];
  problems: string[];
  /** Worth knowing but not blocking (a file named for one thing that holds another, …). */
  notes: string[];
  formats: string[];
  config?: Record<string, unknown>;
  message: string;
}

export class ImportError extends Error {
  override name = 'ImportError';
  constructor(message: string, readonly plan?: ImportPlan) {
    super(message);
  }
}

export const ROLE_FLAG: Record<Role, string> = {
  transformer: '--transformer', autoencoder: '--autoencoder', t5: '--t5', clip: '--clip', clip_tokenizer: '--clip-tokenizer', t5_tokenizer: '--t5-tokenizer',
};

const HINT: Record<Role, string> = {
  transformer: 'add the transformer file (e.g. flux1-schnell.safetensors or flux1-schnell-fp8-e4m3fn.safetensors)',
  autoencoder: 'add the autoencoder (ae.safetensors)',
  t5: 'add a T5-XXL encoder (t5xxl_fp8_e4m3fn.safetensors or t5xxl_fp16.safetensors)',
  clip: 'add the CLIP-L encoder (clip_l.safetensors)',
  clip_tokenizer: 'add a folder with vocab.json + merges.txt, or run `schnell models download flux1-tokenizers` and import again',
  t5_tokenizer: 'add a folder with tokenizer.json or spiece.model, or run `schnell models download flux1-tokenizers` and import again',
};

// Folder (inside the new model folder) for each role when files are copied or moved.
const ROLE_DIR: Record<Role, string> = { transformer: 'transformer', autoencoder: 'autoencoder', t5: 't5', clip: 'clip', clip_tokenizer: 'tokenizer', t5_tokenizer: 'tokenizer_2' };

/** What a file name claims to be, to flag files named for one thing that hold another. */
function nameSays(file: string): Role | undefined {
  const n = path.basename(file).toLowerCase();
  if (/(^|[^a-z])(ae|vae)([^a-z]|$)|autoencoder/.test(n)) return 'autoencoder';
  if (/t5/.test(n)) return 't5';
  if (/clip/.test(n)) return 'clip';
  if (/flux|unet|diffusion|transformer/.test(n)) return 'transformer';
  return undefined;
}

function precisionSays(file: string): string | undefined {
  const n = path.basename(file).toLowerCase();
  if (/fp8|e4m3|e5m2/.test(n)) return 'fp8';
  if (/bf16/.test(n)) return 'bf16';
  if (/fp16|f16/.test(n)) return 'fp16';
  return undefined;
}

/** "a T5 text encoder", "an autoencoder". */
const a = (label: string) => `${/^[aeiou]/i.test(label) ? 'an' : 'a'} ${label}`;

const list = (xs: string[], max = 8) => (xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')} and ${xs.length - max} more`);

/** Tokenizer folders of an installed model (flux1-tokenizers first), for imports that lack them. */
function installedTokenizers(home: string): { clip?: { dir: string; from: string }; t5?: { dir: string; from: string } } {
  const out: { clip?: { dir: string; from: string }; t5?: { dir: string; from: string } } = {};
  const models = listInstalled(home).filter((m) => m.status === 'installed' && m.record && m.record.mode === 'managed' && (m.record.kind === 'tokenizers' || m.record.kind === 'flux'));
  models.sort((a, b) => Number(b.record!.kind === 'tokenizers') - Number(a.record!.kind === 'tokenizers'));
  for (const m of models) {
    for (const [kind, dir] of [['clip', 'tokenizer'], ['t5', 'tokenizer_2']] as const) {
      const d = path.join(m.folder, dir);
      if (!out[kind] && fs.existsSync(d) && fs.lstatSync(d).isDirectory()) {
        const f = findParts([d]).parts.find((p) => p.role === `${kind}_tokenizer`);
        if (f) out[kind] = { dir: d, from: m.id };
      }
    }
  }
  return out;
}

/** Works out what `paths` (and explicit roles) hold and whether that is a usable model. No side effects. */
export function planImport(o: Pick<ImportOptions, 'paths' | 'roles' | 'home' | 'config'>): ImportPlan {
  const home = o.home ?? schnellHome();
  const found = findParts(o.paths);
  const problems = [...found.problems];
  const notes: string[] = [];
  const missing: string[] = [];
  const formats = [...found.formats];
  const parts: ImportPlan['parts'] = {};

  const explicit = new Set<Role>();
  for (const role of ROLES) {
    const given = o.roles?.[role];
    if (!given) continue;
    explicit.add(role);
    const f = findParts([given]);
    formats.push(...f.formats);
    const match = f.parts.find((p) => p.role === role);
    // Tokenizer folders found beside a weights file say nothing about what the file is.
    const holds = f.parts.filter((p) => p.role.endsWith('_tokenizer') === role.endsWith('_tokenizer'));
    if (match) parts[role] = match;
    else if (holds.length) {
      problems.push(`${ROLE_FLAG[role]} ${given} is mislabelled: it holds ${list([...new Set(holds.map((p) => a(ROLE_LABEL[p.role])))])}, not ${a(ROLE_LABEL[role])}`);
      missing.push(role);
    } else {
      problems.push(`${ROLE_FLAG[role]} ${given}: ${f.problems.join('; ') || 'nothing usable there'}`);
      missing.push(role);
    }
  }

  const fallback = installedTokenizers(home);
  for (const role of ROLES) {
    if (explicit.has(role)) continue;
    const seen = new Set<string>();
    let cands = found.parts.filter((p) => p.role === role && !seen.has(p.path) && seen.add(p.path));
    if (cands.length > 1 && cands.some((c) => c.complete)) cands = cands.filter((c) => c.complete);
    if (cands.length > 1) {
      problems.push(`found ${cands.length} ${ROLE_LABEL[role]}s (${list(cands.map((c) => `${c.path}${c.precision ? ` (${c.precision})` : ''}`))}); choose one with ${ROLE_FLAG[role]} PATH`);
      missing.push(role);
      continue;
    }
    if (cands[0]) {
      parts[role] = cands[0];
      continue;
    }
    const tk = role === 'clip_tokenizer' ? fallback.clip : role === 't5_tokenizer' ? fallback.t5 : undefined;
    if (tk) {
      const f = findParts([tk.dir]).parts.find((p) => p.role === role)!;
      parts[role] = { ...f, fromModel: tk.from };
      notes.push(`using the ${ROLE_LABEL[role]} installed with ${tk.from}`);
      continue;
    }
    missing.push(role);
    problems.push(`no ${ROLE_LABEL[role]}: ${HINT[role]}`);
  }

  for (const role of ROLES) {
    const p = parts[role];
    if (!p) continue;
    for (const m of p.missing) missing.push(`${role}:${m}`);
    if (p.missing.length) problems.push(`the ${ROLE_LABEL[role]} in ${p.path} is incomplete: missing ${list(p.missing)}`);
    if (p.problems.length) problems.push(`the ${ROLE_LABEL[role]} in ${p.path} is inconsistent: ${list(p.problems, 3)}`);
    if (role.endsWith('_tokenizer')) continue;
    const says = nameSays(p.path);
    const shared = Object.values(parts).filter((q) => q?.path === p.path).length > 1;
    if (says && says !== role && !shared && p.format !== 'diffusers-folder' && p.format !== 'model-set-folder') {
      notes.push(`${p.path} is named like ${a(ROLE_LABEL[says])} but holds ${a(ROLE_LABEL[role])}; it is used as the ${ROLE_LABEL[role]}`);
    }
    const prec = precisionSays(p.path);
    if (prec && p.precision && !p.precision.includes(prec) && !shared) notes.push(`${p.path} is named ${prec} but its weights are ${p.precision}`);
  }

  const config = { ...(found.config ?? {}), ...(o.config ?? {}) };
  let complete = problems.length === 0 && missing.length === 0;
  if (complete) {
    // The same check loading does, plus whether the parts belong together.
    try {
      const set = openModelSet(specOf(parts as Record<Role, FoundPart>, config));
      notes.push(...checkModelSetLoads(set));
      const tr = set.transformer;
      const width = (w: typeof tr, key: string, dim: number) => w.get(key)?.shape[dim];
      const checks: [string, number | undefined, number | undefined, string][] = [
        ['T5 text encoder', width(set.t5, 'shared.weight', 1), width(tr, 'txt_in.weight', 1), 'produces {a}-wide token features but the transformer\'s txt_in takes {b}'],
        ['CLIP text encoder', width(set.clip, 'final_layer_norm.weight', 0), width(tr, 'vector_in.in_layer.weight', 1), 'produces a {a}-wide pooled vector but the transformer\'s vector_in takes {b}'],
        ['autoencoder', (width(set.autoencoder, 'decoder.conv_in.weight', 1) ?? NaN) * 4, width(tr, 'img_in.weight', 1), 'has {a}/4 latent channels, which pack to {a} features, but the transformer\'s img_in takes {b}'],
      ];
      for (const [label, a, b, text] of checks) {
        if (a !== undefined && b !== undefined && Number.isFinite(a) && a !== b) {
          problems.push(`incompatible parts: the ${label} ${text.replace(/\{a\}/g, String(a)).replace(/\{b\}/g, String(b))}; they are not from the same model family`);
        }
      }
      if (tr.has('guidance_in.in_layer.weight')) notes.push('the transformer has a guidance embedding (FLUX.1 [dev] or a guidance-distilled model), not FLUX.1 [schnell]; it will run with schnell\'s settings');
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      problems.push(e.message.replace(/\.$/, ''));
    }
    complete = problems.length === 0;
  }
  const describe = (r: Role) => {
    const p = parts[r]!;
    return `${ROLE_LABEL[r]} ${p.path}${p.precision ? ` (${p.precision}${p.summary ? `, ${p.summary}` : ''})` : ''}`;
  };
  for (const sk of found.skipped) notes.push(`skipped: ${sk}`);
  const message = complete
    ? `found a complete FLUX model: ${ROLES.map(describe).join('; ')}`
    : `cannot import ${o.paths.join(', ') || 'the given parts'}: ${problems.join('; ')}${found.skipped.length ? ` (skipped: ${found.skipped.join('; ')})` : ''}`;
  return { inputs: o.paths.map((p) => path.resolve(p)), parts, complete, missing, problems, notes, formats, ...(Object.keys(config).length ? { config } : {}), message };
}

function specOf(parts: Record<Role, FoundPart>, config?: Record<string, unknown>): ModelSetSpec {
  return {
    transformer: parts.transformer.path, autoencoder: parts.autoencoder.path, t5: parts.t5.path, clip: parts.clip.path,
    clipTokenizer: parts.clip_tokenizer.path, t5Tokenizer: parts.t5_tokenizer.path,
    ...(config && Object.keys(config).length ? { config } : {}),
  };
}

/** A model id from a name the user gave or a file name: lowercase, safe, at most 64 characters. */
export function slugify(name: string): string {
  const s = name.toLowerCase().replace(/\.safetensors$/, '').replace(/[^a-z0-9._-]+/g, '-').replace(/\.{2,}/g, '.').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 64);
  return s || 'imported-model';
}

async function copyHashed(src: string, dst: string, onBytes: (n: number) => void): Promise<string> {
  const h = crypto.createHash('sha256');
  let n = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
  const out = fs.createWriteStream(dst, { flags: 'wx' });
  await pipeline(await regularFileStream(src, 'import source', { highWaterMark: 4 * 1024 * 1024 }), tap, out);
  const fh = await fsp.open(dst, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

async function hashFile(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of (await regularFileStream(file, 'model file', { highWaterMark: 4 * 1024 * 1024 })) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('hex');
}

interface Transfer {
  src: string;
  /** Path segments inside the new model folder. */
  to: string[];
  /** Copied whatever the mode (tokenizers borrowed from another installed model). */
  alwaysCopy: boolean;
}

/** Where each file goes when copied or moved, and the component paths that result. */
function layout(parts: ImportPlan['parts'], mode: ImportMode): { transfers: Transfer[]; components: Record<Role, string> } {
  const transfers: Transfer[] = [];
  const components = {} as Record<Role, string>;
  const bySource = new Map<string, Role[]>();
  for (const role of ROLES) bySource.set(parts[role]!.path, [...(bySource.get(parts[role]!.path) ?? []), role]);
  const placed = new Map<string, string>();
  const add = (src: string, to: string[], alwaysCopy: boolean) => {
    if (placed.has(src)) return;
    const rel = to.join('/');
    if (mode !== 'in-place' || alwaysCopy) {
      // Names from the user's disk become paths in our folder: plain names only, no collisions.
      for (const s of to) assertSafeFileName(s, `the name of ${src}`);
      if ([...placed.values()].includes(rel)) throw new ImportError(`two files would both be copied to ${rel}; import them in place instead`);
    }
    placed.set(src, rel);
    transfers.push({ src, to, alwaysCopy });
  };
  for (const role of ROLES) {
    const p = parts[role]!;
    const roles = bySource.get(p.path)!;
    const always = Boolean((p as { fromModel?: string }).fromModel);
    const isDir = fs.statSync(p.path).isDirectory();
    // A file several roles share (a ComfyUI single file) goes to the top of the folder.
    const dir = roles.length > 1 && !isDir ? [] : [ROLE_DIR[roles[0]!]];
    if (!isDir) {
      add(p.path, [...dir, path.basename(p.path)], always);
      components[role] = [...dir, path.basename(p.path)].join('/');
    } else {
      for (const f of p.files) add(f, [...dir, path.basename(f)], always);
      if (p.indexFile) add(p.indexFile, [...dir, path.basename(p.indexFile)], always);
      components[role] = dir.join('/');
    }
    if (p.configFile && roles.length === 1) add(p.configFile, [...dir, path.basename(p.configFile)], always);
  }
  return { transfers, components };
}

async function moveFile(src: string, dst: string): Promise<void> {
  try {
    await fsp.rename(src, dst);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyHashed(src, dst, () => {});
    await fsp.unlink(src);
  }
}

/** Detects, checks and registers a model. Throws ImportError (with the plan) saying what is missing. */
export async function importModel(o: ImportOptions): Promise<{ model: InstalledModel; plan: ImportPlan }> {
  const home = o.home ?? schnellHome();
  const mode = o.mode ?? 'in-place';
  const plan = planImport(o);
  for (const n of plan.notes) o.onLog?.(`note: ${n}`);
  if (!plan.complete) throw new ImportError(plan.message, plan);
  const parts = plan.parts as Record<Role, FoundPart & { fromModel?: string }>;

  const fileStem = path.basename(parts.transformer.path).replace(/\.safetensors$/, '');
  // The display name: --name, else the one the model folder gives itself, else the file's name.
  const name = o.name ?? ownName(path.dirname(parts.transformer.path)) ?? fileStem;
  const id = o.id ?? slugify(o.name ?? fileStem);
  assertSlug(id, 'model id');
  const existing = getInstalled(id, home);
  if (existing) {
    throw new ImportError(existing.status === 'installed'
      ? `a model called ${id} is already installed; choose another id (--id) or remove it first`
      : `${existing.folder} already exists (an unfinished download or import); choose another id (--id) or remove it with \`schnell models remove ${id}\``, plan);
  }
  const root = modelsRoot(home);
  fs.mkdirSync(root, { recursive: true });
  const final = containedPath(root, [id]);
  const { transfers, components } = layout(parts, mode);
  const staging = path.join(fs.realpathSync(root), `.import-${id}-${crypto.randomBytes(4).toString('hex')}`);
  fs.mkdirSync(staging);

  const moved: Array<[string, string]> = [];
  const installedFiles: InstalledFile[] = [];
  const config = plan.config && JSON.stringify({ ...DEFAULT_MODEL_CONFIG, ...plan.config }) !== JSON.stringify(DEFAULT_MODEL_CONFIG) ? plan.config : undefined;
  try {
    const inPlaceSpec: Partial<ComponentPaths> = {};
    for (const t of transfers) {
      const copyIt = mode === 'copy' || t.alwaysCopy;
      if (mode === 'in-place' && !copyIt) {
        const st = fs.statSync(t.src);
        installedFiles.push({ path: t.src, bytes: st.size, sha256: null, mtime_ms: st.mtimeMs });
        continue;
      }
      const dst = containedPath(staging, t.to, { create: true });
      const total = fs.statSync(t.src).size;
      let digest: string;
      if (copyIt) {
        o.onLog?.(`copying ${t.src}`);
        digest = await copyHashed(t.src, dst, (n) => o.onProgress?.(t.src, n, total));
      } else {
        o.onLog?.(`moving ${t.src}`);
        await moveFile(t.src, dst);
        moved.push([t.src, dst]);
        digest = await hashFile(dst);
      }
      installedFiles.push({ path: t.to.join('/'), bytes: total, sha256: digest });
    }
    if (mode === 'in-place') {
      // Borrowed tokenizers were copied in; everything else stays where it is (absolute paths).
      for (const role of ROLES) {
        const p = parts[role];
        const rel = components[role];
        inPlaceSpec[role] = p.fromModel ? path.join(final, ...rel.split('/')) : p.path;
      }
    }
    writeInstallRecord(staging, {
      version: 1, id, name, kind: 'flux', source: 'import', mode: mode === 'in-place' ? 'in-place' : 'managed',
      imported_from: plan.inputs, created_at: new Date().toISOString(), verified_at: null,
      precision: parts.transformer.precision, parameters: ROLES.reduce((n, r) => n + (parts[r].parameters ?? 0), 0),
      files: installedFiles,
      ...(mode === 'in-place' ? { spec: { name, ...(inPlaceSpec as Omit<ComponentPaths, 'name' | 'config'>), ...(config ? { config } : {}) } } : {}),
    });
    if (mode !== 'in-place') writeModelJson(staging, name, components, config);
    fs.renameSync(staging, final);
    // Loading must work exactly as the studio will do it.
    try {
      checkModelSetLoads(openModelSet(installedModelSource(id, home)));
    } catch (e) {
      fs.renameSync(final, staging);
      throw e instanceof CheckpointError ? new ImportError(`the imported model does not open: ${e.message}`, plan) : e;
    }
  } catch (err) {
    // Moved files go back where they came from (the folder was renamed back to staging).
    for (const [src, dst] of moved.reverse()) {
      try {
        await moveFile(dst, src);
      } catch {
        o.onLog?.(`could not move ${dst} back to ${src}`);
      }
    }
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return { model: getInstalled(id, home)!, plan };
}

/** The "name" of a schnell-model.json in `folder` (a model set such as the demo model), if any. */
function ownName(folder: string): string | undefined {
  try {
    const file = path.join(folder, 'schnell-model.json');
    const name = (JSON.parse(readRegularFileSync(file, 'model description', 'utf8')) as { name?: unknown }).name;
    return typeof name === 'string' && name.trim() && name.length <= 200 ? name.trim() : undefined;
  } catch {
    return undefined;
  }
}
