import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CheckpointError, DTYPE_SIZE, MAX_HEADER_BYTES, readSafetensorsHeader, readTensor, readTensorBytes, writeSafetensors, type TensorToWrite,
} from '../../../../runtime/flux/checkpoints/safetensors.js';
import { f16ToNumber, fp8e4m3ToNumber, fp8e5m2ToNumber, toFloat32 } from '../../../../runtime/flux/checkpoints/dtypes.js';
import type { SafetensorsDtype } from '../../../../runtime/onnx/tensor-source.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
const tiny = (f: string) => path.join(fixtures, 'flux-tiny', f);
const FIXTURE_FILES = ['tiny-flux1-schnell.safetensors', 'tiny-flux1-schnell-fp8-e4m3fn.safetensors', 'tiny-ae.safetensors', 'tiny-t5xxl.safetensors', 'tiny-clip_l.safetensors', 'goldens.safetensors'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-st-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const tmpFile = (name = 'x.safetensors') => path.join(tmp, `${n++}-${name}`);

/** A .safetensors file with any header text (valid or not) and `dataBytes` of data. */
function rawFile(header: string | Buffer | object, dataBytes: number, lengthField?: bigint): string {
  const f = tmpFile();
  const h = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(h.length));
  fs.writeFileSync(f, Buffer.concat([len, h, Buffer.alloc(dataBytes, 7)]));
  return f;
}

function expectCheckpointError(fn: () => unknown, file: string, tensor?: string, pattern?: RegExp): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof CheckpointError, `expected a CheckpointError, got ${String(caught)}`);
  const err = caught as CheckpointError;
  assert.equal(err.file, path.resolve(file));
  assert.ok(err.message.includes(path.resolve(file)), `message names the file: ${err.message}`);
  if (tensor !== undefined) {
    assert.equal(err.tensor, tensor);
    assert.ok(err.message.includes(`"${tensor}"`), `message names the tensor: ${err.message}`);
  }
  if (pattern) assert.match(err.message, pattern);
  assert.ok(!err.message.includes('\n    at '), 'no stack trace in the message');
  return err;
}

test('fixture headers: every tensor with absolute offsets inside the file', () => {
  for (const name of FIXTURE_FILES) {
    const h = readSafetensorsHeader(tiny(name));
    assert.equal(h.file, path.resolve(tiny(name)));
    assert.equal(h.size, fs.statSync(tiny(name)).size);
    assert.equal(h.dataStart, 8 + h.headerLength);
    assert.ok(h.tensors.length > 0);
    let end = h.dataStart;
    for (const t of [...h.tensors].sort((a, b) => a.offset - b.offset)) {
      assert.equal(t.offset, end, `${name}: ${t.name} follows the previous tensor`);
      assert.equal(t.length, t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype]);
      end += t.length;
    }
    assert.equal(end, h.size, `${name}: the tensors cover the data area`);
  }
  const clip = readSafetensorsHeader(tiny('tiny-clip_l.safetensors'));
  // First tensor in the data area begins right after the 8-byte length and the JSON.
  assert.equal(clip.byName.get('embeddings.position_embedding.weight')?.offset, 8 + clip.headerLength);
  assert.deepEqual(readSafetensorsHeader(tiny('tiny-flux1-schnell.safetensors')).metadata, { format: 'pt' });
});

test('writeSafetensors reproduces the reference writer byte for byte (order, padding, metadata)', () => {
  for (const name of FIXTURE_FILES) {
    const h = readSafetensorsHeader(tiny(name));
    const tensors: TensorToWrite[] = h.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: readTensorBytes(t) }));
    // Give them in a scrambled order: the writer must sort like the reference.
    tensors.reverse();
    const out = tmpFile(name);
    writeSafetensors(out, tensors, Object.keys(h.metadata).length ? h.metadata : undefined);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(tiny(name))), `${name} rewritten identically`);
    assert.equal(readSafetensorsHeader(out).headerLength % 8, 0);
  }
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left behind');
});

test('writeSafetensors keeps integer-like names in order and round-trips every dtype', () => {
  const f = tmpFile();
  const dtypes: [SafetensorsDtype, ArrayBufferView, number[]][] = [
    ['F64', new Float64Array([1.5, -2.25, 1e-300]), [1.5, -2.25, 0]],
    ['F32', new Float32Array([3, -0.5]), [3, -0.5]],
    ['I64', new BigInt64Array([-5n, 1n << 40n]), [-5, 2 ** 40]],
    ['I32', new Int32Array([-7, 123456]), [-7, 123456]],
    ['I16', new Int16Array([-300, 300]), [-300, 300]],
    ['I8', new Int8Array([-128, 127]), [-128, 127]],
    ['U8', new Uint8Array([0, 255]), [0, 255]],
    ['BOOL', new Uint8Array([0, 1]), [0, 1]],
    ['F16', new Uint16Array([0x3c00, 0xc000]), [1, -2]],
    ['BF16', new Uint16Array([0x3f80, 0x4049]), [1, 3.140625]],
    ['F8_E4M3', new Uint8Array([0x38, 0x7e]), [1, 448]],
    ['F8_E5M2', new Uint8Array([0x3c, 0x7b]), [1, 57344]],
  ];
  const tensors = dtypes.map(([dtype, data], i) => ({ name: String(10 - i), dtype, shape: [data.byteLength / DTYPE_SIZE[dtype]], data }));
  writeSafetensors(f, tensors, { note: 'test' });
  const h = readSafetensorsHeader(f);
  assert.deepEqual(h.metadata, { note: 'test' });
  for (const [i, [dtype, , expected]] of dtypes.entries()) {
    const t = h.byName.get(String(10 - i))!;
    assert.equal(t.dtype, dtype);
    assert.equal(t.offset % DTYPE_SIZE[dtype], 0, `${dtype} is aligned`);
    assert.deepEqual([...readTensor(t)], expected.map((x) => Math.fround(x)), dtype);
  }
  // Names sort by bytes, as the reference does ("10" < "2"), not by JS integer-key order.
  const raw = fs.readFileSync(f).subarray(8, 8 + h.headerLength).toString();
  assert.ok(raw.indexOf('"__metadata__"') < raw.indexOf('"1"'));
});

test('writeSafetensors refuses bad tensors and leaves the existing file untouched', () => {
  const f = tmpFile();
  writeSafetensors(f, [{ name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]);
  const before = fs.readFileSync(f);
  expectCheckpointError(() => writeSafetensors(f, [{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array([1, 2]) }]), f, 'a', /8 bytes/);
  expectCheckpointError(() => writeSafetensors(f, [{ name: 'a', dtype: 'F7' as SafetensorsDtype, shape: [2], data: new Float32Array(2) }]), f, 'a', /dtype/);
  expectCheckpointError(() => writeSafetensors(f, [
    { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
    { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
  ]), f, 'a', /twice/);
  assert.ok(fs.readFileSync(f).equals(before));
  const nowhere = path.join(tmp, 'no-such-folder', 'x.safetensors');
  expectCheckpointError(() => writeSafetensors(nowhere, []), nowhere);
});

test('dtype conversions are exact: FP8 e4m3fn, e5m2, F16, BF16 special values', () => {
  assert.equal(fp8e4m3ToNumber(0x38), 1);
  assert.equal(fp8e4m3ToNumber(0x7e), 448);
  assert.equal(fp8e4m3ToNumber(0xfe), -448);
  assert.equal(fp8e4m3ToNumber(0x01), 2 ** -9);
  assert.equal(fp8e4m3ToNumber(0x08), 2 ** -6);
  assert.equal(fp8e4m3ToNumber(0x78), 256, 'e4m3fn has no infinity: exponent 15 is a normal number');
  assert.ok(Number.isNaN(fp8e4m3ToNumber(0x7f)) && Number.isNaN(fp8e4m3ToNumber(0xff)));
  assert.ok(Object.is(fp8e4m3ToNumber(0x80), -0));
  assert.equal(fp8e5m2ToNumber(0x3c), 1);
  assert.equal(fp8e5m2ToNumber(0x7b), 57344);
  assert.equal(fp8e5m2ToNumber(0x7c), Infinity);
  assert.equal(fp8e5m2ToNumber(0xfc), -Infinity);
  assert.ok(Number.isNaN(fp8e5m2ToNumber(0x7d)));
  assert.equal(fp8e5m2ToNumber(0x01), 2 ** -16);
  assert.equal(f16ToNumber(0x3c00), 1);
  assert.equal(f16ToNumber(0x7bff), 65504);
  assert.equal(f16ToNumber(0x0001), 2 ** -24);
  assert.equal(f16ToNumber(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToNumber(0x7e00)));
  const bf = toFloat32(new Uint8Array(new Uint16Array([0x3f80, 0xc2f7, 0x7f80, 0x0001]).buffer), 'BF16');
  assert.deepEqual([...bf], [1, -123.5, Infinity, Math.fround(2 ** -133)]);
  // Unaligned input is copied, not misread.
  const odd = new Uint8Array(9);
  odd.set(new Uint8Array(new Float32Array([1.25, -3]).buffer), 1);
  assert.deepEqual([...toFloat32(odd.subarray(1), 'F32')], [1.25, -3]);
  // Every e4m3 byte decodes to a distinct value (apart from ±0 and the NaNs): nothing collapsed.
  const values = new Set(Array.from({ length: 256 }, (_, i) => fp8e4m3ToNumber(i)).filter((v) => !Number.isNaN(v) && v !== 0));
  assert.equal(values.size, 256 - 4);
});

test('FP8 and BF16 fixture tensors are the float32 tensors rounded to nearest', () => {
  const f32 = readSafetensorsHeader(tiny('tiny-flux1-schnell.safetensors'));
  const fp8 = readSafetensorsHeader(tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors'));
  const grid = [...new Set(Array.from({ length: 256 }, (_, i) => fp8e4m3ToNumber(i)).filter((v) => !Number.isNaN(v)))].sort((a, b) => a - b);
  let checked = 0;
  for (const t of fp8.tensors) {
    const ref = readTensor(f32.byName.get(t.name)!);
    const got = readTensor(t);
    assert.equal(got.length, ref.length);
    for (let i = 0; i < ref.length; i++) {
      const x = ref[i]!;
      const y = got[i]!;
      if (t.dtype === 'F8_E4M3') {
        let lo = 0;
        let hi = grid.length - 1;
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          if (grid[mid]! <= x) lo = mid; else hi = mid;
        }
        const best = Math.min(Math.abs(grid[lo]! - x), Math.abs(grid[hi]! - x));
        assert.ok(Math.abs(y - x) <= best + 1e-12, `${t.name}[${i}]: ${y} is not the nearest e4m3 value to ${x}`);
      } else {
        assert.equal(t.dtype, 'BF16');
        const bits = new Uint32Array(new Float32Array([x]).buffer)[0]!;
        const rounded = (((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16) >>> 0;
        assert.equal(y, new Float32Array(new Uint32Array([rounded]).buffer)[0], `${t.name}[${i}]`);
      }
      checked++;
    }
  }
  assert.ok(checked > 100_000);
});

test('malformed files: each gives a CheckpointError naming the file (and tensor)', () => {
  const good = { a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, b: { dtype: 'BF16', shape: [4], data_offsets: [24, 32] } };
  const cases: [string, string, string | undefined, RegExp][] = [];
  const add = (what: string, file: string, tensor: string | undefined, re: RegExp) => cases.push([what, file, tensor, re]);

  const empty = tmpFile();
  fs.writeFileSync(empty, '');
  add('empty file', empty, undefined, /empty/);
  const short = tmpFile();
  fs.writeFileSync(short, Buffer.from([1, 2, 3, 4, 5]));
  add('shorter than 8 bytes', short, undefined, /5 bytes/);
  add('header length past the end', rawFile(good, 32, 5000n), undefined, /runs past the end/);
  add('10 GB header claim', rawFile(good, 32, 10_000_000_000n), undefined, /10000000000 bytes/);
  add('2^64-1 header claim', rawFile(good, 32, 0xffffffffffffffffn), undefined, /limit/);
  add('non-JSON header', rawFile('{"a": {"dtype": "F32", ', 32), undefined, /not valid JSON/);
  add('header not an object', rawFile('[1, 2, 3]', 32), undefined, /not a JSON object/);
  add('header not UTF-8', rawFile(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 0), undefined, /UTF-8/);
  add('unknown dtype', rawFile({ ...good, b: { ...good.b, dtype: 'F7' } }, 32), 'b', /unknown dtype "F7"/);
  add('negative shape', rawFile({ ...good, a: { ...good.a, shape: [-2, -3] } }, 32), 'a', /non-negative integers/);
  add('float shape', rawFile({ ...good, a: { ...good.a, shape: [2.5, 3] } }, 32), 'a', /non-negative integers/);
  add('shape not a list', rawFile({ ...good, a: { ...good.a, shape: '2x3' } }, 32), 'a', /shape/);
  add('bad data_offsets', rawFile({ ...good, a: { ...good.a, data_offsets: [24] } }, 32), 'a', /data_offsets/);
  add('reversed data_offsets', rawFile({ ...good, a: { ...good.a, data_offsets: [24, 0] } }, 32), 'a', /data_offsets/);
  add('wrong dtype byte count', rawFile({ ...good, b: { ...good.b, dtype: 'F32' } }, 32), 'b', /span 8 bytes/);
  add('wrong shape byte count', rawFile({ ...good, a: { ...good.a, shape: [2, 4] } }, 32), 'a', /32 bytes.*span 24/);
  add('overflowing shape', rawFile({ ...good, a: { ...good.a, shape: [2 ** 40, 2 ** 40] } }, 32), 'a', /too many/);
  add('overlapping tensors', rawFile({ a: good.a, b: { dtype: 'BF16', shape: [4], data_offsets: [20, 28] } }, 32), 'b', /overlaps tensor "a"/);
  add('offsets out of range', rawFile({ ...good, b: { dtype: 'BF16', shape: [4], data_offsets: [1_000_000, 1_000_008] } }, 32), 'b', /past the end of the file/);
  add('entry not an object', rawFile({ ...good, c: [1, 2] }, 32), 'c', /expected/);
  add('metadata not a string map', rawFile({ __metadata__: { format: 1 }, ...good }, 32), undefined, /__metadata__/);
  add('metadata not an object', rawFile({ __metadata__: 'pt', ...good }, 32), undefined, /__metadata__/);

  // A real checkpoint cut short, as an interrupted download leaves it.
  const truncated = tmpFile('truncated.safetensors');
  const whole = fs.readFileSync(tiny('tiny-flux1-schnell.safetensors'));
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const lastKept = readSafetensorsHeader(tiny('tiny-flux1-schnell.safetensors')).tensors
    .filter((t) => t.offset + t.length > Math.floor(whole.length * 0.6)).sort((a, b) => a.offset - b.offset)[0]!;
  assert.ok(lastKept);
  cases.push(['truncated data', truncated, undefined, /truncated/]);
  const missing = path.join(tmp, 'does-not-exist.safetensors');
  add('missing file', missing, undefined, /does not exist/);
  add('a folder', tmp, undefined, /folder|not a regular file/);

  assert.ok(cases.length >= 20);
  for (const [what, file, tensor, re] of cases) {
    const err = (() => {
      try {
        return expectCheckpointError(() => readSafetensorsHeader(file), file, tensor, re);
      } catch (e) {
        throw new Error(`${what}: ${(e as Error).message}`);
      }
    })();
    if (file === truncated) assert.ok(err.tensor, 'the truncated case names a tensor');
  }
});

test('readTensor on a file that shrank after its header was read names the file and tensor', () => {
  const f = tmpFile();
  writeSafetensors(f, [{ name: 'w', dtype: 'F32', shape: [256], data: new Float32Array(256) }]);
  const info = readSafetensorsHeader(f).byName.get('w')!;
  fs.truncateSync(f, info.offset + 100);
  expectCheckpointError(() => readTensor(info), f, 'w', /truncated/);
});

test('the reader never reads tensor data: a 4 GB sparse checkpoint costs only its header', () => {
  const f = tmpFile('sparse.safetensors');
  const count = 2 ** 30; // 4 GiB of F32, all of it a hole on disk
  const header = Buffer.from(JSON.stringify({ huge: { dtype: 'F32', shape: [count], data_offsets: [0, count * 4] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(f, Buffer.concat([len, header]));
  fs.truncateSync(f, 8 + header.length + count * 4);
  global.gc?.();
  const before = process.memoryUsage();
  const h = readSafetensorsHeader(f);
  const afterMem = process.memoryUsage();
  assert.equal(h.byName.get('huge')?.length, count * 4);
  assert.ok(afterMem.arrayBuffers - before.arrayBuffers < 16 * 2 ** 20, `array buffers grew by ${afterMem.arrayBuffers - before.arrayBuffers}`);
  assert.ok(afterMem.rss - before.rss < 256 * 2 ** 20, `rss grew by ${afterMem.rss - before.rss}`);
});

test('a large but legal header (100,000 tensors) is read in full', () => {
  const header: Record<string, unknown> = {};
  for (let i = 0; i < 100_000; i++) header[`blocks.${i}.w`] = { dtype: 'BF16', shape: [2], data_offsets: [i * 4, i * 4 + 4] };
  const f = rawFile(header, 400_000);
  const h = readSafetensorsHeader(f);
  assert.equal(h.tensors.length, 100_000);
  assert.ok(h.headerLength > 4_000_000 && h.headerLength < MAX_HEADER_BYTES);
  assert.equal(h.byName.get('blocks.99999.w')?.offset, h.dataStart + 399_996);
});
