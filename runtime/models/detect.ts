// What the files a user points at hold, one part at a time, on top of runtime/flux's checkpoint
// reader: detectCheckpoint covers single files and whole model folders; this adds the folders it
// does not (a lone `text_encoder_2/` of shards, a folder of loose files) and tokenizer folders.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, detectCheckpoint, planModelSet, type CheckpointReport, type ComponentKind } from '../flux/checkpoints/checkpoint.js';
import { analyseComponent, readTensorSource, weightFilesOf } from '../flux/checkpoints/component.js';
import { findComponents } from '../flux/checkpoints/layouts.js';
import { fileKind, readRegularFileSync } from '../util/regular-file.js';

export type Role = ComponentKind | 'clip_tokenizer' | 't5_tokenizer';
export const ROLES: readonly Role[] = ['transformer', 'autoencoder', 't5', 'clip', 'clip_tokenizer', 't5_tokenizer'];
export const ROLE_LABEL: Record<Role, string> = {
  transformer: 'transformer', autoencoder: 'autoencoder', t5: 'T5 text encoder', clip: 'CLIP text encoder',
  clip_tokenizer: 'CLIP tokenizer', t5_tokenizer: 'T5 tokenizer',
};

/** One usable part found on disk. */
export interface FoundPart {
  role: Role;
  /** What to name in a model spec: a file, or a folder (shards, a tokenizer). */
  path: string;
  /** Files it reads (weights; for tokenizers the tokenizer files). */
  files: string[];
  /** The config file beside the weights (T5/CLIP/diffusers), if any. */
  configFile?: string;
  /** The shard index the weights were listed in, if any. */
  indexFile?: string;
  format: string;
  layout?: string;
  precision?: string;
  parameters?: number;
  bytes?: number;
  complete: boolean;
  missing: string[];
  problems: string[];
  summary?: string;
}

export interface Found {
  parts: FoundPart[];
  /** Sentences about inputs that could not be used. */
  problems: string[];
  /** Files met while looking through a folder that hold nothing usable (not an error by themselves). */
  skipped: string[];
  /** Per input: what it is. */
  formats: string[];
  /** Config the weights cannot show, from a diffusers or model folder. */
  config?: Record<string, unknown>;
}

const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer.json', 'spiece.model', 'tokenizer_config.json', 'special_tokens_map.json'];

/** Which tokenizers a folder holds: CLIP (BPE: vocab.json + merges.txt, or a BPE tokenizer.json), T5 (spiece.model, or a Unigram tokenizer.json). */
export function tokenizerKindsOf(dir: string): Array<'clip' | 't5'> {
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  const kinds = new Set<'clip' | 't5'>();
  if (has('vocab.json') && has('merges.txt')) kinds.add('clip');
  if (has('spiece.model')) kinds.add('t5');
  if (has('tokenizer.json')) {
    try {
      const st = fs.statSync(path.join(dir, 'tokenizer.json'));
      if (st.size < 64 * 1024 * 1024) {
        const type = (JSON.parse(readRegularFileSync(path.join(dir, 'tokenizer.json'), 'tokenizer file', 'utf8')) as { model?: { type?: string } })?.model?.type;
        if (type === 'BPE') kinds.add('clip');
        if (type === 'Unigram') kinds.add('t5');
      }
    } catch {
      // not a tokenizer.json we can use; the other files may still be
    }
  }
  return [...kinds];
}

export function tokenizerFilesOf(dir: string): string[] {
  return TOKENIZER_FILES.map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f) && fs.statSync(f).isFile());
}

function tokenizerPart(kind: 'clip' | 't5', dir: string): FoundPart {
  return { role: kind === 'clip' ? 'clip_tokenizer' : 't5_tokenizer', path: dir, files: tokenizerFilesOf(dir), format: 'tokenizer', complete: true, missing: [], problems: [] };
}

function indexOf(dir: string): string | undefined {
  let idx = fs.readdirSync(dir).filter((n) => n.endsWith('.safetensors.index.json'));
  if (idx.length > 1) idx = idx.filter((n) => !n.slice(0, -'.safetensors.index.json'.length).includes('.'));
  return idx.length === 1 ? path.join(dir, idx[0]!) : undefined;
}

function fromReport(r: CheckpointReport, partPath: (files: string[]) => string): FoundPart[] {
  return r.components.map((c) => ({
    role: c.kind, path: partPath(c.files), files: c.files, format: r.format, layout: c.layout, precision: c.precision,
    parameters: c.parameters, bytes: c.bytes, complete: c.complete, missing: c.missing, problems: c.problems, summary: c.summary,
    ...(c.configFile ? { configFile: c.configFile } : {}),
    ...(c.files.length > 1 && indexOf(path.dirname(c.files[0]!)) ? { indexFile: indexOf(path.dirname(c.files[0]!))! } : {}),
  }));
}

/** A folder holding exactly one component (shards, an HF `text_encoder_2/`), or undefined. */
function componentFolder(dir: string): FoundPart | undefined {
  let files: string[];
  try {
    files = weightFilesOf(dir);
  } catch {
    return undefined;
  }
  if (files.length < 2 && !indexOf(dir)) return undefined;
  let src;
  try {
    src = readTensorSource(files);
  } catch {
    return undefined; // e.g. two versions of one model side by side: look at the files one by one
  }
  const found = findComponents(src.tensors.keys());
  if (found.length !== 1) return undefined;
  const c = found[0]!;
  const a = analyseComponent(src, found, c);
  const cfg = path.join(dir, 'config.json');
  return {
    role: c.kind, path: dir, files, format: 'component-folder', layout: a.layout, precision: a.precision,
    parameters: a.parameters, bytes: src.bytes, complete: a.missing.length === 0 && a.problems.length === 0,
    missing: a.missing, problems: a.problems, summary: a.summary,
    ...(fs.existsSync(cfg) ? { configFile: cfg } : {}), ...(indexOf(dir) ? { indexFile: indexOf(dir)! } : {}),
  };
}

const isHidden = (n: string) => n.startsWith('.');

/**
 * Looks at `inputs` (files or folders) and lists every part found. Never throws for content:
 * unreadable or unrecognised inputs become sentences in `problems`.
 */
export function findParts(inputs: string[]): Found {
  const out: Found = { parts: [], problems: [], skipped: [], formats: [] };
  const visit = (p: string, depth: number) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      out.problems.push(`${p} does not exist`);
      return;
    }
    if (st.isFile()) {
      if (/^(vocab\.json|merges\.txt|tokenizer\.json|spiece\.model)$/.test(path.basename(p))) {
        if (depth === 0) visit(path.dirname(p), depth);
        return;
      }
      if (!p.endsWith('.safetensors') && depth > 0) return;
      // A file the user named must be usable; one met inside a folder may just be something else.
      const unusable = (why: string) => (depth === 0 ? out.problems : out.skipped).push(why);
      try {
        const r = detectCheckpoint(p);
        out.formats.push(`${p}: ${r.format}`);
        if (r.format === 'unknown') unusable(r.message.replace(/\.$/, ''));
        else out.parts.push(...fromReport(r, (files) => files[0]!));
        // Like runtime/flux's single-file form: tokenizer folders beside the file belong to it.
        if (depth === 0 && r.format !== 'unknown') {
          for (const sib of ['tokenizer', 'clip_tokenizer', 'tokenizer_2', 't5_tokenizer']) {
            const d = path.join(path.dirname(p), sib);
            if (fs.existsSync(d) && fs.statSync(d).isDirectory()) for (const k of tokenizerKindsOf(d)) out.parts.push(tokenizerPart(k, d));
          }
        }
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        unusable(e.message.replace(/\.$/, ''));
      }
      return;
    }
    if (!st.isDirectory()) {
      out.problems.push(`${p} is ${fileKind(st)}, neither a file nor a folder`);
      return;
    }
    const names = fs.readdirSync(p).filter((n) => !isHidden(n)).sort();
    if (names.includes('schnell-model.json') || names.includes('model_index.json') || ['transformer', 'text_encoder_2', 'vae'].filter((d) => names.includes(d)).length >= 2) {
      try {
        const r = detectCheckpoint(p);
        out.formats.push(`${p}: ${r.format}`);
        const plan = planModelSet(p);
        out.parts.push(...fromReport(r, (files) => (files.length === 1 && !indexOf(path.dirname(files[0]!)) ? files[0]! : path.dirname(files[0]!))));
        if (plan.tokenizers.clip) out.parts.push(tokenizerPart('clip', plan.tokenizers.clip));
        if (plan.tokenizers.t5) out.parts.push(tokenizerPart('t5', plan.tokenizers.t5));
        out.config = { ...plan.config };
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        out.problems.push(e.message.replace(/\.$/, ''));
      }
      return;
    }
    const tok = tokenizerKindsOf(p);
    if (tok.length) {
      for (const k of tok) out.parts.push(tokenizerPart(k, p));
      out.formats.push(`${p}: tokenizer folder`);
      return;
    }
    const comp = componentFolder(p);
    if (comp) {
      out.formats.push(`${p}: ${comp.role} folder`);
      out.parts.push(comp);
      return;
    }
    if (depth >= 2) return;
    const before = out.parts.length;
    for (const n of names.slice(0, 500)) visit(path.join(p, n), depth + 1);
    if (depth === 0 && out.parts.length === before) out.problems.push(`${p} holds no FLUX checkpoint files or tokenizer folders`);
  };
  for (const input of inputs) visit(path.resolve(input), 0);
  return out;
}
