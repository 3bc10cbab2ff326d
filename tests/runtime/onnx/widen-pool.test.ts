// The worker pool that widens FP8 weights outside onnxruntime (runtime/onnx/widen-pool.ts): every
// byte of both FP8 formats lands as the format's value (times a tensor's scale), each tensor's
// buffer comes back to the caller without a copy, several tensors spread over the workers, and a
// file that cannot be read fails the call with one sentence naming the file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fp8Table, fp8ToFloat } from '../../../runtime/onnx/weights.js';
import { floatsOf, WidenPool } from '../../../runtime/onnx/widen-pool.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-widenpool-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const same = (a: number, b: number) => (Number.isNaN(a) ? Number.isNaN(b) : Object.is(a, b));

test('every FP8 byte widens to its value, scaled, in tensors spread over two workers', async () => {
  // 3 MB per tensor (more than the workers' 1 MB read chunk), every byte value many times over.
  const n = 3 * (1 << 20) + 17;
  const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 255);
  const file = path.join(tmp, 'w.bin');
  fs.writeFileSync(file, Buffer.concat([Buffer.from('header'), bytes, bytes]));
  const pool = new WidenPool(2, 'test weights');
  try {
    for (const kind of ['e4m3', 'e5m2'] as const) {
      const scaled = fp8Table(kind).map((v) => v * 0.5);
      const outs = [new ArrayBuffer(4 * n), new ArrayBuffer(4 * n), new ArrayBuffer(4 * 10)];
      const back = await pool.widen([
        { file, offset: 6, count: n, out: outs[0]!, table: fp8Table(kind) },
        { file, offset: 6 + n, count: n, out: outs[1]!, table: scaled },
        { file, offset: 6 + 5, count: 10, out: outs[2]!, table: fp8Table(kind) },
      ]);
      assert.deepEqual(back.map((b) => b.byteLength), [4 * n, 4 * n, 40]);
      assert.equal(outs[0]!.byteLength, 0, 'the buffer moved to a worker and back (not copied)');
      const [a, b, c] = back.map((x) => new Float32Array(x));
      let bad = 0;
      for (let i = 0; i < n; i++) {
        const v = Math.fround(fp8ToFloat(bytes[i]!, kind));
        if (!same(a![i]!, v) || !same(b![i]!, Math.fround(v * 0.5))) bad++;
      }
      assert.equal(bad, 0, `${kind}: ${bad} values differ`);
      for (let i = 0; i < 10; i++) assert.ok(same(c![i]!, Math.fround(fp8ToFloat(bytes[5 + i]!, kind))));
    }
  } finally {
    await pool.close();
  }
});

test('a weight file cut short fails with one sentence naming it, and a closed pool says so', async () => {
  const file = path.join(tmp, 'short.bin');
  fs.writeFileSync(file, new Uint8Array(100));
  const pool = new WidenPool(2, 'T5 encoder weights');
  try {
    await assert.rejects(pool.widen([{ file, offset: 50, count: 80, out: new ArrayBuffer(320), table: fp8Table('e4m3') }]),
      (e: Error) => /^could not widen the T5 encoder weights: .*short\.bin ended 30 bytes early at offset 100 \(truncated or replaced since it was loaded\); check the file and load the model again$/.test(e.message));
    await assert.rejects(pool.widen([{ file: path.join(tmp, 'missing.bin'), offset: 0, count: 4, out: new ArrayBuffer(16), table: fp8Table('e4m3') }]), /missing\.bin/);
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.widen([]), /T5 encoder weights widening pool was already closed/);
});

test('small tensors of every float dtype read as float32', () => {
  const f32 = new Float32Array([1.5, -2, 65504]);
  assert.deepEqual([...floatsOf(new Uint8Array(f32.buffer), 'F32')], [1.5, -2, 65504]);
  // 1.5, -2 and 65504 in float16 and bfloat16, little-endian.
  assert.deepEqual([...floatsOf(new Uint8Array(new Uint16Array([0x3e00, 0xc000, 0x7bff]).buffer), 'F16')], [1.5, -2, 65504]);
  assert.deepEqual([...floatsOf(new Uint8Array(new Uint16Array([0x3fc0, 0xc000]).buffer), 'BF16', 2)], [3, -4]);
  assert.deepEqual([...floatsOf(Uint8Array.from([0x38, 0xc0]), 'F8_E4M3')], [1, -2]);
  assert.throws(() => floatsOf(new Uint8Array(4), 'I32'), /I32 is not a floating-point weight/);
});

test('the workers, and only they, run below the caller\'s priority (Linux: their own nice value, relative to the process)', { skip: process.platform !== 'linux' && 'per-thread nice values are Linux' }, async () => {
  const niceOf = () => fs.readdirSync('/proc/self/task').map((t) => {
    const stat = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
  const before = niceOf();
  const base = Math.min(...before);
  const pool = new WidenPool(2, 'T5 encoder weights');
  try {
    // A widening round trip with a job for each: both workers have started and set their priority.
    const file = path.join(tmp, 'nice.bin');
    fs.writeFileSync(file, new Uint8Array(4));
    await pool.widen([0, 2].map((offset) => ({ file, offset, count: 2, out: new ArrayBuffer(8), table: fp8Table('e4m3') })));
    const during = niceOf();
    if (base < 19) assert.equal(during.filter((n) => n > base).length, 2, `thread nice values ${during.join(' ')} (process at ${base})`);
    assert.ok(before.every((n) => n === base), 'every thread starts at the process\'s priority');
  } finally {
    await pool.close();
  }
});

test('buffers handed to close() are freed with the workers, at once (the memory plan releases models by stage)', { skip: process.platform !== 'linux' && 'reads /proc/self/status' }, async () => {
  const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
  const pool = new WidenPool(1, 'transformer weights');
  let buffers = [0, 1].map(() => {
    const b = new ArrayBuffer(128 << 20);
    new Uint8Array(b).fill(1); // touched: resident
    return b;
  });
  const before = rssMiB();
  await pool.close(buffers);
  assert.ok(buffers.every((b) => b.byteLength === 0), 'moved to the worker');
  buffers = [];
  const after = rssMiB();
  assert.ok(before - after > 200, `resident ${before.toFixed(0)} MiB before close, ${after.toFixed(0)} MiB after`);
});
