// `schnell demo-model [--out DIR] [--json]`: writes the tiny UNTRAINED demo model set.
import { parseArgs } from 'node:util';
import { defaultDemoModelDir, writeDemoModel } from '../runtime/flux/demo/demo-model.js';
import { schnellHome } from '../runtime/models/paths.js';

const USAGE = `usage: schnell demo-model [--out DIR] [--json]

Writes a tiny model set with random, UNTRAINED weights in the real FLUX.1 file layouts (under 2 MB).
It runs the whole product end to end without a download; its images are colour noise.
Default folder: ${defaultDemoModelDir(schnellHome())}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string', short: 'o' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const info = writeDemoModel(values.out ?? defaultDemoModelDir(schnellHome()));
  if (values.json) {
    console.log(JSON.stringify({ ...info, untrained: true }, null, 2));
  } else {
    console.log(`wrote the demo model "${info.name}" to ${info.dir} (${(info.bytes / 1e6).toFixed(1)} MB)`);
    console.log('UNTRAINED: random weights, images are colour noise. It is for trying the product, not for pictures.');
    console.log(`try: schnell generate "a lighthouse" --model ${JSON.stringify(info.dir)} --out lighthouse.png`);
  }
  return 0;
}
