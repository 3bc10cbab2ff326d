// The untrained demo model: a tiny, deterministic random-weight FLUX model set in the real file
// layouts (BFL transformer and autoencoder files, Hugging Face T5 and CLIP files with config.json
// beside them, tokenizer/ and tokenizer_2/ folders, schnell-model.json). It lets a newcomer and the
// end-to-end tests run the whole product without a 17 GB download. It is labelled UNTRAINED in its
// name, its manifest, every file's metadata and a README: its images are colour noise, and it never
// pretends to be FLUX.
import fs from 'node:fs';
import path from 'node:path';
import { writeDemoTokenizers } from './demo-tokenizers.js';
import {
  autoencoderTensors, clipConfig, clipTensors, t5Config, t5Tensors, transformerTensors,
  type AutoencoderShape, type ClipShape, type T5Shape, type TransformerShape,
} from './demo-weights.js';
import { MODEL_SET_MANIFEST } from '../checkpoints/model-set.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../model-config.js';
import { writeSafetensors } from '../checkpoints/safetensors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/files.js';
import { readRegularFileSync } from '../../util/regular-file.js';

export const DEMO_MODEL_NAME = 'demo (untrained)';
/** Bump when the demo's files change, so ensureDemoModel rewrites older copies. */
export const DEMO_MODEL_VERSION = 1;
const SEED = 20241127;

const VOCAB = { clip: 1024, t5: 512 };
const T5: T5Shape = { dModel: 32, dKv: 8, heads: 4, dFf: 64, layers: 2, vocab: VOCAB.t5 };
const CLIP: ClipShape = { hidden: 32, heads: 2, layers: 2, intermediate: 64, vocab: VOCAB.clip, positions: 77 };
// Head width 16 = axes 4 + 6 + 6 (FLUX.1: 128 = 16 + 56 + 56).
const TRANSFORMER: TransformerShape = { hidden: 32, heads: 2, depth: 1, depthSingle: 1, mlpRatio: 4, contextDim: T5.dModel, vecDim: CLIP.hidden };
// 32 channels is the least GroupNorm(32) allows; four levels give FLUX's 8× upsampling.
const AE: AutoencoderShape = { ch: 32, chMult: [1, 1, 1, 1], numResBlocks: 0, zChannels: 16 };
const CONFIG: ModelConfig = { ...DEFAULT_MODEL_CONFIG, axes_dim: [4, 6, 6] };

const FILES = {
  transformer: 'flux1-schnell-demo-untrained.safetensors',
  autoencoder: 'ae-demo-untrained.safetensors',
  t5: 't5xxl-demo-untrained.safetensors',
  clip: 'clip_l-demo-untrained.safetensors',
  clip_tokenizer: 'tokenizer',
  t5_tokenizer: 'tokenizer_2',
} as const;

const NOTICE = 'UNTRAINED random weights for trying out Schnell Studio; this is not FLUX.1 and draws nothing but colour noise.';

/** Where the demo model lives by default: $SCHNELL_HOME/demo-model (where `schnell start` puts it). */
export function defaultDemoModelDir(home: string): string {
  return path.join(home, 'demo-model');
}

export interface DemoModelInfo {
  dir: string;
  name: string;
  files: string[];
  bytes: number;
}

/**
 * Writes the demo model set into `dir` (created if needed). Refuses a non-empty folder that is not
 * already a demo model, so a typo cannot overwrite someone's files.
 */
export function writeDemoModel(dir: string): DemoModelInfo {
  const root = path.resolve(dir);
  const manifestFile = path.join(root, MODEL_SET_MANIFEST);
  if (fs.existsSync(root)) {
    if (!fs.statSync(root).isDirectory()) throw new Error(`${root} is a file; give a folder for the demo model`);
    if (fs.readdirSync(root).length > 0 && readDemoManifest(manifestFile) === undefined) {
      throw new Error(`${root} is not empty and holds no demo model; choose an empty or new folder`);
    }
  }
  return writeRandomModelSet(root, { transformer: TRANSFORMER, autoencoder: AE, t5: T5, clip: CLIP, config: CONFIG }, { demo_version: DEMO_MODEL_VERSION });
}

/** The shapes of a random-weight model set (the demo's, or the benchmark's mid-size one). */
export interface RandomModelShape {
  transformer: TransformerShape;
  autoencoder: AutoencoderShape;
  /** `vocab` must be at least the demo tokenizers' minimums (CLIP 514, T5 98). */
  t5: T5Shape;
  clip: ClipShape;
  config: ModelConfig;
  seed?: number;
}

/**
 * Writes an UNTRAINED random-weight model set in the real layouts. Each file is written
 * atomically and the manifest last: an interrupted run leaves no half model set behind.
 */
export function writeRandomModelSet(dir: string, shape: RandomModelShape, extra: Record<string, unknown> = {}): DemoModelInfo {
  const root = path.resolve(dir);
  const manifestFile = path.join(root, MODEL_SET_MANIFEST);
  fs.mkdirSync(root, { recursive: true });
  // A stale manifest must not describe half-rewritten files.
  fs.rmSync(manifestFile, { force: true });
  const seed = shape.seed ?? SEED;
  const meta = (component: string): Record<string, string> => ({
    format: 'pt', 'schnell.untrained': 'true', 'schnell.model': DEMO_MODEL_NAME, 'schnell.component': component, description: NOTICE,
  });
  writeSafetensors(path.join(root, FILES.transformer), transformerTensors(shape.transformer, seed + 1), meta('transformer'));
  writeSafetensors(path.join(root, FILES.autoencoder), autoencoderTensors(shape.autoencoder, seed + 2), meta('autoencoder'));
  writeSafetensors(path.join(root, FILES.t5), t5Tensors(shape.t5, seed + 3), meta('t5'));
  writeJsonAtomic(path.join(root, FILES.t5.replace(/\.safetensors$/, '.config.json')), { ...t5Config(shape.t5), _note: NOTICE });
  writeSafetensors(path.join(root, FILES.clip), clipTensors(shape.clip, seed + 4, 'text_model.'), meta('clip'));
  writeJsonAtomic(path.join(root, FILES.clip.replace(/\.safetensors$/, '.config.json')), { ...clipConfig(shape.clip), _note: NOTICE });
  writeDemoTokenizers(root, { clipVocabSize: shape.clip.vocab, t5VocabSize: shape.t5.vocab });
  writeFileAtomic(path.join(root, 'README.txt'), `${DEMO_MODEL_NAME}\n\n${NOTICE}\nMade by \`schnell demo-model\`; install a real FLUX.1 [schnell] model with \`schnell models\`.\n`);
  writeJsonAtomic(manifestFile, {
    name: DEMO_MODEL_NAME,
    untrained: true,
    description: NOTICE,
    ...extra,
    components: FILES,
    config: shape.config,
  });
  const files = listFiles(root);
  return { dir: root, name: DEMO_MODEL_NAME, files, bytes: files.reduce((n, f) => n + fs.statSync(f).size, 0) };
}

/** The demo's file names (relative to its folder). */
export const DEMO_FILES = FILES;

/** The demo model folder, written first if it is missing or from an older version. */
export function ensureDemoModel(dir: string): string {
  const m = readDemoManifest(path.join(path.resolve(dir), MODEL_SET_MANIFEST));
  if (m?.demo_version === DEMO_MODEL_VERSION) return path.resolve(dir);
  return writeDemoModel(dir).dir;
}

function readDemoManifest(file: string): { demo_version?: unknown } | undefined {
  try {
    const m = JSON.parse(readRegularFileSync(file, 'model description', 'utf8')) as { untrained?: unknown; demo_version?: unknown };
    return m.untrained === true && m.demo_version !== undefined ? m : undefined;
  } catch {
    return undefined;
  }
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : [p];
  }).sort();
}
