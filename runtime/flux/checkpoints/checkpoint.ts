// The checkpoint layer's front door: what a path holds (detectCheckpoint), one component as
// Weights (openComponent), a whole model set (openModelSet). Layout knowledge lives in
// layouts.ts and diffusers.ts, the file format in safetensors.ts.
import fs from 'node:fs';
import path from 'node:path';
import { COMPONENT_KINDS, COMPONENT_LABEL, combinePrecision, findComponents, listSome, type ComponentKind, type Layout, type Precision } from './layouts.js';
import { analyseComponent, findConfig, readTensorSource, statCheckpoint, weightFilesOf, type TensorSource } from './component.js';
import { MODEL_SET_MANIFEST, isDiffusersFolder, planModelSet } from './model-set.js';

export { CheckpointError } from './safetensors.js';
export { openComponent, CheckpointWeights, type OpenOptions } from './component.js';
export { openModelSet, planModelSet, MODEL_SET_MANIFEST, type ModelSet, type ModelSetSpec, type ModelSetSource } from './model-set.js';
export { COMPONENT_KINDS, type ComponentKind, type Layout, type Precision } from './layouts.js';

export type CheckpointFormat =
  | 'bfl-transformer' | 'bfl-autoencoder' | 'hf-t5' | 'hf-clip'
  | 'comfyui-single-file' | 'diffusers-folder' | 'model-set-folder' | 'unknown';

export interface ComponentReport {
  kind: ComponentKind;
  layout: Layout;
  /** Prefix of its stored tensor names ('' in a plain file). */
  prefix: string;
  files: string[];
  /** Canonical tensors (scales not counted). */
  tensors: number;
  parameters: number;
  /** Bytes of its tensor data (scales included). */
  bytes: number;
  precision: Precision;
  complete: boolean;
  /** Canonical tensor names missing for completeness (`prefix.N.*` for a whole block). */
  missing: string[];
  /** Shape inconsistencies. */
  problems: string[];
  /** e.g. "hidden 3072, 19 double + 38 single blocks". */
  summary: string;
  /** The config file found beside the weights, if any. */
  configFile?: string;
}

export interface CheckpointReport {
  path: string;
  format: CheckpointFormat;
  components: ComponentReport[];
  precision: Precision;
  parameters: number;
  /** Size of the files on disk. */
  bytes: number;
  files: string[];
  /** True when everything the format promises is there and consistent. */
  complete: boolean;
  /**
   * What is missing for completeness: components / tokenizers by id (`t5`, `clip_tokenizer`),
   * tensors as `kind:name` (e.g. `transformer:double_blocks.1.img_attn.qkv.weight`).
   */
  missing: string[];
  /** One sentence on what the path is, or on what is missing. */
  message: string;
}

function componentReport(src: TensorSource, kind: ComponentKind): ComponentReport | undefined {
  const found = findComponents(src.tensors.keys());
  const c = found.find((f) => f.kind === kind);
  if (!c) return undefined;
  const a = analyseComponent(src, found, c);
  const cfg = kind === 't5' || kind === 'clip' || a.layout === 'diffusers' ? findConfig(kind, src.files) : undefined;
  return {
    kind, layout: a.layout, prefix: a.prefix, files: src.files, tensors: new Set(a.tensors.values()).size,
    parameters: a.parameters, bytes: a.bytes, precision: a.precision,
    complete: a.missing.length === 0 && a.problems.length === 0, missing: a.missing, problems: a.problems, summary: a.summary,
    ...(cfg ? { configFile: cfg.file } : {}),
  };
}

const FORMAT_TEXT: Record<CheckpointFormat, string> = {
  'bfl-transformer': 'a FLUX transformer checkpoint (Black Forest Labs layout)',
  'bfl-autoencoder': 'a FLUX autoencoder checkpoint (Black Forest Labs layout)',
  'hf-t5': 'a T5 text encoder (Hugging Face layout)',
  'hf-clip': 'a CLIP text encoder (Hugging Face layout)',
  'comfyui-single-file': 'a ComfyUI single-file checkpoint',
  'diffusers-folder': 'a diffusers model folder',
  'model-set-folder': 'a Schnell model folder',
  unknown: 'not a recognised FLUX checkpoint',
};

const human = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${n}`);

function describe(r: Omit<CheckpointReport, 'message'>, extra: string[] = []): string {
  const what = r.components.map((c) => `${COMPONENT_LABEL[c.kind]} (${c.summary}, ${c.precision})`).join(', ');
  const problems = [
    ...r.components.filter((c) => c.missing.length).map((c) => `the ${COMPONENT_LABEL[c.kind]} lacks ${listSome(c.missing, 8)}`),
    ...r.components.filter((c) => c.problems.length).map((c) => `the ${COMPONENT_LABEL[c.kind]} is inconsistent: ${listSome(c.problems, 3)}`),
    ...extra,
  ];
  const head = `${r.path} is ${FORMAT_TEXT[r.format]}${what ? `: ${what}; ${human(r.parameters)} parameters` : ''}`;
  return problems.length ? `${head}; incomplete: ${problems.join('; ')}.` : `${head}.`;
}

function finish(r: Omit<CheckpointReport, 'message' | 'precision' | 'parameters' | 'complete'>, extra: string[] = []): CheckpointReport {
  const base = {
    ...r,
    precision: combinePrecision(r.components.map((c) => c.precision)),
    parameters: r.components.reduce((n, c) => n + c.parameters, 0),
    complete: r.format !== 'unknown' && r.missing.length === 0 && r.components.every((c) => c.complete),
  };
  for (const c of r.components) for (const m of c.missing) base.missing.push(`${c.kind}:${m}`);
  return { ...base, message: describe(base, extra) };
}

/** Folders: our model folder or a diffusers folder, each checked part by part. */
function detectFolder(dir: string): CheckpointReport {
  const isModelSet = fs.existsSync(path.join(dir, MODEL_SET_MANIFEST));
  if (!isModelSet && !isDiffusersFolder(dir)) {
    return finish({ path: dir, format: 'unknown', components: [], bytes: 0, files: [], missing: [] },
      [`it has no ${MODEL_SET_MANIFEST} and is not a diffusers folder`]);
  }
  const plan = planModelSet(dir);
  const components: ComponentReport[] = [];
  const files = new Set<string>(plan.extraFiles);
  let bytes = 0;
  const counted = new Set<string>();
  for (const kind of COMPONENT_KINDS) {
    const part = plan.components[kind];
    if (!part) continue;
    const report = componentReport(part.src, kind);
    if (report) components.push(report);
    else {
      plan.missing.push(kind);
      plan.problems.push(`no ${COMPONENT_LABEL[kind]} in ${part.files[0]}`);
    }
    for (const f of part.files) files.add(f);
    if (!counted.has(part.files.join('\n'))) {
      counted.add(part.files.join('\n'));
      bytes += part.src.bytes;
    }
  }
  return finish({ path: dir, format: isModelSet ? 'model-set-folder' : 'diffusers-folder', components, bytes, files: [...files], missing: [...plan.missing] }, plan.problems);
}

/**
 * What a path holds: format, components (each with precision, parameter count and exactly
 * what it lacks), and whether it is complete. Throws CheckpointError for files that are not
 * valid .safetensors (naming the file and tensor); anything readable gets a report.
 */
export function detectCheckpoint(p: string): CheckpointReport {
  const abs = path.resolve(p);
  if (statCheckpoint(abs).isDirectory()) return detectFolder(abs);
  const src = readTensorSource(weightFilesOf(abs));
  const found = findComponents(src.tensors.keys());
  const components = found.flatMap((c) => componentReport(src, c.kind) ?? []);
  const comfy = found.length > 1 || found.some((c) => /^(model\.diffusion_model\.|vae\.|text_encoders\.)/.test(c.root));
  const base = { path: abs, components, bytes: src.bytes, files: src.files, missing: [] as string[] };
  if (comfy) {
    const extra: string[] = [];
    for (const kind of COMPONENT_KINDS) {
      if (found.some((c) => c.kind === kind)) continue;
      base.missing.push(kind);
      extra.push(`no ${COMPONENT_LABEL[kind]} (supply it separately)`);
    }
    return finish({ ...base, format: 'comfyui-single-file' }, extra);
  }
  const only = found[0];
  if (!only) {
    const names = [...src.tensors.keys()];
    return finish({ ...base, format: 'unknown' }, [names.length ? `its tensors (${listSome(names, 4)}) match no FLUX layout` : 'it holds no tensors']);
  }
  if (only.layout === 'diffusers') {
    // A lone diffusers file is readable as a component, but the format belongs to its folder.
    return finish({ ...base, format: 'unknown' }, [`it is a diffusers-layout ${COMPONENT_LABEL[only.kind]}; open the diffusers folder that holds it (or use openComponent)`]);
  }
  const format = ({ transformer: 'bfl-transformer', autoencoder: 'bfl-autoencoder', t5: 'hf-t5', clip: 'hf-clip' } as const)[only.kind];
  return finish({ ...base, format });
}
