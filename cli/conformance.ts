// `schnell conformance DIR [--device D] [--json]`: checks the runtime against a reference folder
// (goldens.json and/or expected_ids.json). Exit code 0 only when every case passes.
import { parseArgs } from 'node:util';
import { runConformance, type CaseResult } from '../runtime/flux/conformance.js';
import { parseDevice } from './options.js';

const USAGE = `usage: schnell conformance DIR [--device cpu|cuda|dml|coreml|webgpu] [--recipe PROVIDER] [--case NAME …] [--json]

Runs every case of DIR/goldens.json (transformer forward, T5, CLIP, whole pipeline) through the
runtime's own code, and every tokenizer case where DIR/expected_ids.json exists.
--recipe builds the graphs as that provider's recipe (GPUs: float16 compute, FP8 widened on the
device) while --device runs them, e.g. --recipe webgpu on the CPU; float16 cases are held to the
float16 tolerance (README, "GPU").`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      device: { type: 'string' },
      recipe: { type: 'string' },
      case: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`schnell conformance: give exactly one reference folder\n\n${USAGE}`);
    return 2;
  }
  const provider = parseDevice(values.device);
  const recipe = values.recipe !== undefined ? parseDevice(values.recipe) : undefined;
  const report = await runConformance(positionals[0]!, { provider, ...(recipe ? { recipe } : {}), ...(values.case ? { only: values.case } : {}) });
  if (report.unknownCases) {
    const names = report.unknownCases.map((n) => `'${n}'`).join(', ');
    console.error(`schnell conformance: ${report.dir} has no case ${names} (--case); its cases are ${report.availableCases!.join(', ')}`);
    return 2;
  }
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    if (report.fallbackReason) console.error(`note: ${report.fallbackReason}`);
    for (const [name, c] of Object.entries(report.cases)) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${name.padEnd(24)} ${describe(c)}`);
    const failed = Object.values(report.cases).filter((c) => !c.ok).length;
    console.log(report.ok ? `\nall ${Object.keys(report.cases).length} cases pass (${report.provider}, ${report.compute})` : `\n${failed} of ${Object.keys(report.cases).length} cases fail`);
  }
  return report.ok ? 0 : 1;
}

function describe(c: CaseResult): string {
  if (c.error) return c.error;
  return Object.entries(c)
    .filter(([k, v]) => k !== 'ok' && k !== 'kind' && (typeof v === 'number' || typeof v === 'string'))
    .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`)
    .join('  ');
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toExponential(2));
