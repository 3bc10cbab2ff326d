// The streamed safetensors writer behind `schnell demo-model --size full`: what it writes reads
// back through the product's own reader with the dtypes, shapes and spreads it was asked for, and
// the same request writes the same bytes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSafetensorsHeader, readTensor } from '../../../../runtime/flux/checkpoints/safetensors.js';
import { f16ToNumber, fp8e4m3ToNumber } from '../../../../runtime/flux/checkpoints/dtypes.js';
import { f16Bits, fp8e4m3Code, streamSafetensors, type StreamedTensor } from '../../../../runtime/flux/demo/stream-writer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-stream-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const TENSORS: StreamedTensor[] = [
  { name: 'w8', dtype: 'F8_E4M3', shape: [300, 1000], values: { kind: 'uniform', std: 0.02, seed: 1 } },
  { name: 'w16', dtype: 'F16', shape: [5000, 7], values: { kind: 'uniform', std: 0.5, seed: 2 } },
  { name: 'bias', dtype: 'BF16', shape: [33], values: { kind: 'fill', value: 1 } },
  { name: 'conv', dtype: 'F32', shape: [4, 3, 3, 3], values: { kind: 'smooth', std: 1, seed: 3 } },
];

function std(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / x.length);
}

test('streamed tensors read back with their dtype, shape and spread', () => {
  const file = path.join(dir, 'a.safetensors');
  let last = 0;
  streamSafetensors(file, TENSORS, { note: 'untrained' }, (done) => { last = done; });
  const h = readSafetensorsHeader(file);
  assert.equal(h.metadata?.note, 'untrained');
  assert.equal(last, 300_000 + 35_000 * 2 + 33 * 2 + 108 * 4);
  const get = (n: string) => h.tensors.find((t) => t.name === n)!;
  assert.deepEqual([get('w8').dtype, get('w8').shape], ['F8_E4M3', [300, 1000]]);
  const w8 = readTensor(get('w8'));
  assert.ok(Math.abs(std(w8) - 0.02) < 0.002, `FP8 spread ${std(w8)}`);
  assert.ok(Math.abs(std(readTensor(get('w16'))) - 0.5) < 0.02);
  assert.ok(readTensor(get('bias')).every((v) => v === 1));
  const conv = readTensor(get('conv'));
  // One random value per [out, in] pair over the binomial kernel: centre = 4 × corner.
  for (let k = 0; k < 12; k++) assert.ok(Math.abs(conv[k * 9 + 4]! - 4 * conv[k * 9]!) < 1e-6);
  assert.equal(fs.statSync(file).size, 8 + Number(fs.readFileSync(file).readBigUInt64LE(0)) + last);
});

test('the same tensors write the same bytes', () => {
  const a = path.join(dir, 'b1.safetensors'), b = path.join(dir, 'b2.safetensors');
  streamSafetensors(a, TENSORS, {});
  streamSafetensors(b, TENSORS, {});
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)));
});

test('float16 and FP8 E4M3 encoders round to the nearest representable value', () => {
  for (const x of [0, 1, -1, 0.1, 3.14159, 1e-5, 6e-8, 65504, -0.0273, 2 ** -14]) {
    assert.ok(Math.abs(f16ToNumber(f16Bits(x)) - x) <= Math.abs(x) * 2 ** -11 + 2 ** -25, `f16 ${x}`);
  }
  for (const x of [0, 1, -1, 0.1, 3.14, 0.002, -0.0273, 448]) {
    assert.ok(Math.abs(fp8e4m3ToNumber(fp8e4m3Code(x)) - x) <= Math.abs(x) * 2 ** -4 + 2 ** -10, `fp8 ${x}`);
  }
  assert.equal(fp8e4m3ToNumber(fp8e4m3Code(1000)), 448, 'saturates');
});
