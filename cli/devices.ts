// `schnell devices [--probe] [--json]`: the execution providers this machine's onnxruntime offers,
// and why the others are missing (for CUDA: how to install it). `--probe` also loads a one-node
// model on each offered provider, since "offered" does not prove a usable GPU is present.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { GraphBuilder } from '../runtime/onnx/graph.js';
import { createSession, listDevices, type DeviceInfo } from '../runtime/onnx/session.js';

const USAGE = `usage: schnell devices [--probe] [--json]

Lists the execution providers (--device values) this machine offers. --probe also loads a tiny
model on each one to check that it really works here.`;

interface Probed extends DeviceInfo {
  probe?: { ok: boolean; message?: string };
}

async function probe(d: DeviceInfo): Promise<Probed> {
  if (!d.available) return d;
  const g = new GraphBuilder('probe');
  const x = g.input('x', 'float32', [4]);
  g.output(g.op('Add', [x, x]), 'y', 'float32', [4]);
  try {
    const s = await createSession(g.toBytes({ baseDir: os.tmpdir() }), { baseDir: os.tmpdir(), provider: d.provider, label: 'probe model' });
    const out = await s.run({ x: { type: 'float32', dims: [4], data: Float32Array.of(1, 2, 3, 4) } });
    await s.release();
    const ok = !s.fallbackReason && (out.y!.data as Float32Array)[3] === 8;
    return { ...d, probe: ok ? { ok } : { ok, message: s.fallbackReason ?? 'wrong result' } };
  } catch (e) {
    return { ...d, probe: { ok: false, message: (e as Error).message } };
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, probe: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let devices: Probed[] = listDevices();
  if (values.probe) {
    const probed: Probed[] = [];
    for (const d of devices) probed.push(await probe(d));
    devices = probed;
  }
  if (values.json) {
    console.log(JSON.stringify({ devices, default: 'cpu' }, null, 2));
    return 0;
  }
  const width = Math.max(...devices.map((d) => d.provider.length));
  for (const d of devices) {
    const works = d.probe ? (d.probe.ok ? '  (probe: works)' : `  (probe failed: ${d.probe.message})`) : '';
    console.log(`${d.available && d.probe?.ok !== false ? '✓' : '✗'} ${d.provider.padEnd(width)}  ${d.note}${works}`);
  }
  console.log('\nUse one with `schnell generate --device NAME`; the CPU is the default, and a device that fails to load falls back to it.');
  return 0;
}
