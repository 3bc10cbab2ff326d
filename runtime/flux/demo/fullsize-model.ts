// The full-size untrained model set: random weights at the real FLUX.1 [schnell] shapes and in the
// real file formats (FP8 E4M3 transformer and T5-XXL with BF16 vectors, as the community FP8 files
// store them; fp16 CLIP-L; the fp32 autoencoder), labelled untrained like the tiny demo. It answers
// "does the real size run on my hardware?" before a 17 GB download, and it is what the memory and
// speed checks measure. Every file is streamed to disk a chunk at a time, so writing 17 GB takes a
// few MB of memory; `--double-blocks`, `--single-blocks` and `--t5-layers` shrink depth at full width.
import path from 'node:path';
import fs from 'node:fs';
import { writeDemoTokenizers } from './demo-tokenizers.js';
import {
  autoencoderTensors, clipConfig, clipTensors, Prng, t5Config, t5Tensors, TensorSet, transformerTensors,
  type AutoencoderShape, type ClipShape, type T5Shape, type TransformerShape,
} from './demo-weights.js';
import { DEMO_MODEL_NAME, DEMO_FILES, type DemoModelInfo } from './demo-model.js';
import { MODEL_SET_MANIFEST } from '../checkpoints/model-set.js';
import { DEFAULT_MODEL_CONFIG } from '../model-config.js';
import { streamSafetensors, type StreamedTensor } from './stream-writer.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/files.js';
import type { SafetensorsDtype } from '../../onnx/tensor-source.js';
import { readRegularFileSync } from '../../util/regular-file.js';

/** FLUX.1 [schnell]'s shapes (BFL's flux1-schnell, Google's T5 v1.1 XXL, OpenAI's CLIP ViT-L/14). */
export const FULL_SHAPES = {
  transformer: { hidden: 3072, heads: 24, depth: 19, depthSingle: 38, mlpRatio: 4, contextDim: 4096, vecDim: 768 } satisfies TransformerShape,
  t5: { dModel: 4096, dKv: 64, heads: 64, dFf: 10240, layers: 24, vocab: 32128, buckets: 32 } satisfies T5Shape,
  clip: { hidden: 768, heads: 12, layers: 12, intermediate: 3072, vocab: 49408, positions: 77 } satisfies ClipShape,
  autoencoder: { ch: 128, chMult: [1, 2, 4, 4], numResBlocks: 2, zChannels: 16 } satisfies AutoencoderShape,
};

export interface FullSizeOptions {
  doubleBlocks?: number;
  singleBlocks?: number;
  t5Layers?: number;
  /** Called after each file with its name and bytes (the CLI prints progress). */
  onFile?: (file: string, bytes: number) => void;
  /** Called as a file's tensor data is written (bytes so far, of all its tensor bytes). */
  onBytes?: (file: string, written: number, total: number) => void;
}

const NOTICE = 'UNTRAINED random weights at the real FLUX.1 [schnell] sizes, for trying Schnell Studio on this hardware; this is not FLUX.1 and draws nothing but colour noise.';
const SEED = 20241128;

/** Writes the full-size untrained model set into `dir` (refuses a non-empty folder that holds another model). */
export function writeFullSizeModel(dir: string, opts: FullSizeOptions = {}): DemoModelInfo {
  const root = path.resolve(dir);
  const manifestFile = path.join(root, MODEL_SET_MANIFEST);
  if (fs.existsSync(root) && fs.readdirSync(root).length > 0 && !isUntrainedSet(manifestFile)) {
    throw new Error(`${root} is not empty and holds no untrained model set; choose an empty or new folder`);
  }
  const depth = (v: number | undefined, full: number, flag: string): number => {
    if (v === undefined) return full;
    if (!Number.isInteger(v) || v < 1 || v > full) throw new RangeError(`${flag} must be a whole number from 1 to ${full}; got ${v}.`);
    return v;
  };
  const transformer = { ...FULL_SHAPES.transformer, depth: depth(opts.doubleBlocks, 19, '--double-blocks'), depthSingle: depth(opts.singleBlocks, 38, '--single-blocks') };
  const t5 = { ...FULL_SHAPES.t5, layers: depth(opts.t5Layers, 24, '--t5-layers') };
  const { clip, autoencoder } = FULL_SHAPES;
  fs.mkdirSync(root, { recursive: true });
  fs.rmSync(manifestFile, { force: true });
  const meta = (component: string): Record<string, string> => ({
    format: 'pt', 'schnell.untrained': 'true', 'schnell.model': DEMO_MODEL_NAME, 'schnell.component': component, description: NOTICE,
  });
  const write = (name: string, tensors: StreamedTensor[], component: string) => {
    const file = path.join(root, name);
    streamSafetensors(file, tensors, meta(component), opts.onBytes && ((done, total) => opts.onBytes!(file, done, total)));
    opts.onFile?.(file, fs.statSync(file).size);
  };
  write(DEMO_FILES.t5, layout((t) => t5Tensors(t5, SEED + 3, t), fp8Layout), 't5');
  writeJsonAtomic(path.join(root, DEMO_FILES.t5.replace(/\.safetensors$/, '.config.json')), { ...t5Config(t5), _note: NOTICE });
  write(DEMO_FILES.clip, layout((t) => clipTensors(clip, SEED + 4, 'text_model.', t), () => 'F16'), 'clip');
  writeJsonAtomic(path.join(root, DEMO_FILES.clip.replace(/\.safetensors$/, '.config.json')), { ...clipConfig(clip), _note: NOTICE });
  write(DEMO_FILES.autoencoder, layout((t) => autoencoderTensors(autoencoder, SEED + 2, t), () => 'F32'), 'autoencoder');
  write(DEMO_FILES.transformer, layout((t) => transformerTensors(transformer, SEED + 1, t), fp8Layout), 'transformer');
  // The real T5 tokenizer has 32000 pieces for 32128 embedding rows; the demo's grows to about 19000.
  writeDemoTokenizers(root, { clipVocabSize: clip.vocab, t5VocabSize: 16384 });
  writeFileAtomic(path.join(root, 'README.txt'), `${DEMO_MODEL_NAME}, full size\n\n${NOTICE}\nMade by \`schnell demo-model --size full\`.\n`);
  writeJsonAtomic(manifestFile, {
    name: DEMO_MODEL_NAME,
    untrained: true,
    size: 'full',
    depth: { double_blocks: transformer.depth, single_blocks: transformer.depthSingle, t5_layers: t5.layers },
    description: NOTICE,
    components: DEMO_FILES,
    config: DEFAULT_MODEL_CONFIG,
  });
  const files = listFiles(root);
  return { dir: root, name: DEMO_MODEL_NAME, files, bytes: files.reduce((n, f) => n + fs.statSync(f).size, 0) };
}

/** The community FP8 layout: every 2-D weight F8_E4M3, everything else BF16. */
const fp8Layout = (shape: number[]): SafetensorsDtype => (shape.length === 2 ? 'F8_E4M3' : 'BF16');

/**
 * Runs a demo-weights builder against a recorder instead of a generator: the builder names every
 * tensor with its shape and how it is drawn, and the values are produced later, chunk by chunk.
 */
function layout(build: (t: TensorSet) => unknown, dtypeOf: (shape: number[]) => SafetensorsDtype): StreamedTensor[] {
  const rec = new RecordingSet();
  build(rec);
  // T5 files carry one embedding table (the demo writes it twice, under both of its names).
  const names = new Set(rec.tensors.map((t) => t.name));
  const tensors = rec.tensors.filter((t) => !(t.name === 'encoder.embed_tokens.weight' && names.has('shared.weight')));
  return tensors.map((t) => {
    const spec = (t as unknown as Recorded).spec;
    return { name: t.name, shape: t.shape, dtype: dtypeOf(t.shape), values: spec };
  });
}

type Recorded = { name: string; shape: number[]; spec: StreamedTensor['values'] };

class RecordingSet extends TensorSet {
  private n = 0;
  constructor() {
    super(new Prng(0));
  }
  override random(name: string, shape: number[], std: number): void {
    this.push(name, shape, { kind: 'uniform', std, seed: SEED + 7919 * ++this.n });
  }
  override fill(name: string, shape: number[], value: number): void {
    this.push(name, shape, { kind: 'fill', value });
  }
  override smoothConv(name: string, out: number, inp: number, gain = 1): void {
    this.push(`${name}.weight`, [out, inp, 3, 3], { kind: 'smooth', std: gain / Math.sqrt(inp), seed: SEED + 7919 * ++this.n });
    this.random(`${name}.bias`, [out], 0.02);
  }
  private push(name: string, shape: number[], spec: StreamedTensor['values']): void {
    // Only the name, shape and spec are read back (see layout); `data` stays empty.
    (this.tensors as unknown as Recorded[]).push({ name: this.prefix + name, shape, spec, data: new Uint8Array(0) } as Recorded);
  }
}

function isUntrainedSet(file: string): boolean {
  try {
    return (JSON.parse(readRegularFileSync(file, 'model description', 'utf8')) as { untrained?: unknown }).untrained === true;
  } catch {
    return false;
  }
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : [p];
  }).sort();
}
