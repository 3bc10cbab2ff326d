// `schnell devices [--json]`: the execution providers this machine's onnxruntime offers, and why
// the others are missing (for CUDA: how to install it).
import { parseArgs } from 'node:util';
import { listDevices } from '../onnx/session.js';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    console.log('usage: schnell devices [--json]\n\nLists the execution providers (--device values) this machine offers.');
    return 0;
  }
  const devices = listDevices();
  if (values.json) {
    console.log(JSON.stringify({ devices, default: 'cpu' }, null, 2));
    return 0;
  }
  const width = Math.max(...devices.map((d) => d.provider.length));
  for (const d of devices) {
    console.log(`${d.available ? '✓' : '✗'} ${d.provider.padEnd(width)}  ${d.note}`);
  }
  console.log('\nUse one with `schnell generate --device NAME`; the CPU is the default, and a device that fails to load falls back to it.');
  return 0;
}
