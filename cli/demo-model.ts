// `schnell demo-model [--size tiny|full] [--out DIR] [--json]`: writes an UNTRAINED model set: the
// tiny demo (under 2 MB), or random weights at the real FLUX.1 [schnell] sizes (about 17 GB,
// streamed to disk) to try the real size on this hardware before downloading it.
import { parseArgs } from 'node:util';
import { defaultDemoModelDir, writeDemoModel } from '../runtime/flux/demo/demo-model.js';
import { writeFullSizeModel } from '../runtime/flux/demo/fullsize-model.js';
import { schnellHome } from '../runtime/models/paths.js';
import { UsageError } from './usage.js';

const USAGE = `usage: schnell demo-model [--size tiny|full] [--out DIR] [--json]
       [--double-blocks N] [--single-blocks N] [--t5-layers N]   (with --size full)

Writes a model set with random, UNTRAINED weights in the real FLUX.1 file layouts; its images are
colour noise. --size tiny (default, under 2 MB) runs the whole product end to end without a download.
--size full writes the real shapes and formats (FP8 transformer 11.9 GB and T5-XXL 4.9 GB, fp16 CLIP-L,
fp32 autoencoder; about 17 GB): try the real size on your hardware before downloading it. The depth
flags shrink it at full width (19 double blocks, 38 single blocks and 24 T5 layers at most).
Default folder: ${defaultDemoModelDir(schnellHome())}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', short: 'o' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      size: { type: 'string' }, 'double-blocks': { type: 'string' }, 'single-blocks': { type: 'string' }, 't5-layers': { type: 'string' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const size = values.size ?? 'tiny';
  if (size !== 'tiny' && size !== 'full') throw new UsageError(`--size must be tiny or full, got ${JSON.stringify(size)}`);
  const depth = (flag: 'double-blocks' | 'single-blocks' | 't5-layers'): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (size !== 'full') throw new UsageError(`--${flag} needs --size full`);
    if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} must be a whole number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const opts = { doubleBlocks: depth('double-blocks'), singleBlocks: depth('single-blocks'), t5Layers: depth('t5-layers') };
  const out = values.out ?? defaultDemoModelDir(schnellHome());
  let lastNote = Date.now();
  const info = size === 'full'
    ? writeFullSizeModel(out, {
      ...(opts.doubleBlocks !== undefined ? { doubleBlocks: opts.doubleBlocks } : {}),
      ...(opts.singleBlocks !== undefined ? { singleBlocks: opts.singleBlocks } : {}),
      ...(opts.t5Layers !== undefined ? { t5Layers: opts.t5Layers } : {}),
      onFile: (file, bytes) => console.error(`wrote ${file} (${(bytes / 1e9).toFixed(2)} GB)`),
      onBytes: (file, done, total) => {
        if (Date.now() - lastNote < 3000) return;
        lastNote = Date.now();
        console.error(`writing ${file}: ${(done / 1e9).toFixed(1)} of ${(total / 1e9).toFixed(1)} GB`);
      },
    })
    : writeDemoModel(out);
  if (values.json) {
    console.log(JSON.stringify({ ...info, size, untrained: true }, null, 2));
  } else {
    console.log(`wrote the ${size === 'full' ? 'full-size ' : ''}demo model "${info.name}" to ${info.dir} (${(info.bytes / 1e6).toFixed(1)} MB)`);
    console.log('UNTRAINED: random weights, images are colour noise. It is for trying the product, not for pictures.');
    console.log(`try: schnell generate "a lighthouse" --model ${JSON.stringify(info.dir)} --out lighthouse.png`);
  }
  return 0;
}
