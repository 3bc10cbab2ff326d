// The .safetensors format: an 8-byte little-endian header length, a JSON header naming every
// tensor's dtype, shape and byte range, then the raw data. We read only the header into the JS
// heap (checkpoints are many GB; the graphs point straight at the bytes on disk), validate it
// completely, and turn every problem into a CheckpointError naming the file and the tensor.
import fs from 'node:fs';
import path from 'node:path';
import type { SafetensorsDtype, TensorInfo } from '../../onnx/tensor-source.js';
import { toFloat32 } from './dtypes.js';
import { writeAll, writeFileAtomic } from '../../util/files.js';
import { NotRegularFileError, openRegularFileSync } from '../../util/regular-file.js';

export { toFloat32 } from './dtypes.js';

/** A checkpoint that cannot be used, with one sentence saying which file (and tensor) and why. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(message: string, readonly file: string, readonly tensor?: string) {
    super(message);
  }
}

export const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
});

/** The reference implementation's limit; real FLUX headers are about 100 KB. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsHeader {
  /** Absolute path. */
  file: string;
  /** File size in bytes. */
  size: number;
  /** Length of the JSON header (padding included). */
  headerLength: number;
  /** Absolute offset of the data area (8 + headerLength). */
  dataStart: number;
  /** The `__metadata__` map ({} when absent). */
  metadata: Record<string, string>;
  /** Every tensor, in header order, with absolute offsets. */
  tensors: TensorInfo[];
  byName: Map<string, TensorInfo>;
}

export function isDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === 'string' && Object.hasOwn(DTYPE_SIZE, x);
}

/** Product of a shape, or undefined when it is not a safe integer. */
export function elementCount(shape: readonly number[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const show = (x: unknown): string => {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

function ioError(file: string, e: unknown, doing = 'read'): CheckpointError {
  const err = e as NodeJS.ErrnoException;
  if (err instanceof CheckpointError) return err;
  if (err instanceof NotRegularFileError) return new CheckpointError(`${err.message}.`, file);
  switch (err.code) {
    case 'ENOENT': return new CheckpointError(`Checkpoint file ${file} does not exist.`, file);
    case 'EISDIR': return new CheckpointError(`${file} is a folder, not a .safetensors file.`, file);
    case 'EACCES':
    case 'EPERM': return new CheckpointError(`Checkpoint file ${file} cannot be ${doing} (permission denied).`, file);
    case 'ENOSPC': return new CheckpointError(`Could not write ${file}: the disk is full.`, file);
    default: return new CheckpointError(`Checkpoint file ${file} cannot be ${doing}: ${err.message}.`, file);
  }
}

/** Reads exactly `buf.length` bytes at `position`; a short read means the file shrank or is truncated. */
function readExactly(fd: number, buf: Uint8Array, position: number, file: string, tensor?: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) {
      const what = tensor ? `tensor "${tensor}"` : 'the header';
      throw new CheckpointError(`${file} ended while reading ${what} at byte ${position + done}: the file is truncated; download it again.`, file, tensor);
    }
    done += n;
  }
}

/**
 * Reads and validates the header of a .safetensors file. Only the 8-byte length and the JSON are
 * read; tensor data stays on disk. Throws CheckpointError for anything a careful reader would
 * refuse (the reference's checks, except that gaps between tensors are tolerated).
 */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const abs = path.resolve(file);
  let fd: number;
  try {
    fd = openRegularFileSync(abs, 'checkpoint file');
  } catch (e) {
    throw ioError(abs, e);
  }
  try {
    let size: number;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new CheckpointError(`${abs} is not a regular file, so it cannot be a .safetensors checkpoint.`, abs);
      size = st.size;
    } catch (e) {
      throw ioError(abs, e);
    }
    if (size < 8) {
      const why = size === 0 ? 'the file is empty' : `the file is only ${size} bytes, shorter than the 8-byte header length`;
      throw new CheckpointError(`${abs} is not a valid .safetensors file: ${why}.`, abs);
    }
    const lenBytes = new Uint8Array(8);
    readExactly(fd, lenBytes, 0, abs);
    const claimed = Buffer.from(lenBytes.buffer).readBigUInt64LE(0);
    if (claimed > BigInt(MAX_HEADER_BYTES)) {
      throw new CheckpointError(`${abs} is not a valid .safetensors file: its header claims ${claimed} bytes, more than the ${MAX_HEADER_BYTES}-byte limit (the file is corrupt or of another format).`, abs);
    }
    const headerLength = Number(claimed);
    const dataStart = 8 + headerLength;
    if (dataStart > size) {
      throw new CheckpointError(`${abs} is truncated or not a .safetensors file: its header length (${headerLength} bytes) runs past the end of the file (${size} bytes).`, abs);
    }
    const raw = new Uint8Array(headerLength);
    readExactly(fd, raw, 8, abs);
    const tensors = parseHeader(abs, raw, dataStart, size);
    return { file: abs, size, headerLength, dataStart, ...tensors };
  } finally {
    fs.closeSync(fd);
  }
}

function parseHeader(file: string, raw: Uint8Array, dataStart: number, size: number): Pick<SafetensorsHeader, 'metadata' | 'tensors' | 'byName'> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new CheckpointError(`${file} is not a valid .safetensors file: its header is not UTF-8 text.`, file);
  }
  let json: unknown;
  try {
    // Some writers pad with NUL instead of spaces; JSON itself never ends in NUL.
    json = JSON.parse(text.replace(/\0+$/, ''));
  } catch {
    throw new CheckpointError(`${file} is not a valid .safetensors file: its header is not valid JSON.`, file);
  }
  if (!isPlainObject(json)) {
    throw new CheckpointError(`${file} is not a valid .safetensors file: its header is ${show(json)}, not a JSON object.`, file);
  }

  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  const byName = new Map<string, TensorInfo>();
  const dataSize = size - dataStart;
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw new CheckpointError(`${file}: the header's __metadata__ is ${show(entry)}; it must be a map of strings to strings.`, file);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new CheckpointError(`${file}: the header's __metadata__ entry "${k}" is ${show(v)}; metadata values must be strings.`, file);
        metadata[k] = v;
      }
      continue;
    }
    const bad = (why: string) => new CheckpointError(`${file}: tensor "${name}" ${why}`, file, name);
    if (!isPlainObject(entry)) throw bad(`has header entry ${show(entry)}; expected {"dtype", "shape", "data_offsets"}.`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDtype(dtype)) throw bad(`has unknown dtype ${show(dtype)}; supported dtypes are ${Object.keys(DTYPE_SIZE).join(', ')}.`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`has shape ${show(shape)}; a shape must be a list of non-negative integers.`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw bad(`has data_offsets ${show(offsets)}; expected [begin, end] with 0 <= begin <= end.`);
    }
    const [begin, end] = offsets as [number, number];
    const count = elementCount(shape as number[]);
    const bytes = count === undefined ? undefined : count * DTYPE_SIZE[dtype];
    if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes !== end - begin) {
      throw bad(`is ${dtype} with shape ${show(shape)} (${bytes ?? 'too many'} bytes), but its data_offsets [${begin}, ${end}] span ${end - begin} bytes; the header is corrupt.`);
    }
    if (end > dataSize) {
      throw bad(`ends at byte ${dataStart + end}, past the end of the file (${size} bytes): the file is truncated (an interrupted download?); download it again.`);
    }
    const info: TensorInfo = { name, dtype, shape: shape as number[], file, offset: dataStart + begin, length: end - begin };
    tensors.push(info);
    byName.set(name, info);
  }

  // Overlapping byte ranges mean a corrupt (or hostile) header: two tensors would share bytes.
  const ranges = tensors.filter((t) => t.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < ranges.length; i++) {
    const a = ranges[i - 1]!;
    const b = ranges[i]!;
    if (b.offset < a.offset + a.length) {
      throw new CheckpointError(`${file}: tensor "${b.name}" overlaps tensor "${a.name}" (bytes ${b.offset}-${b.offset + b.length} and ${a.offset}-${a.offset + a.length}); the header is corrupt.`, file, b.name);
    }
  }
  return { metadata, tensors, byName };
}

/** The raw bytes of one tensor (parts concatenated), in a fresh buffer. */
export function readTensorBytes(info: TensorInfo): Uint8Array {
  let out: Uint8Array;
  try {
    out = new Uint8Array(info.length);
  } catch {
    throw new CheckpointError(`Tensor "${info.name}" in ${info.file} (${info.length} bytes) is too large to read into memory at once.`, info.file, info.name);
  }
  const ranges = info.parts ?? [{ name: info.name, file: info.file, offset: info.offset, length: info.length, shape: info.shape }];
  let at = 0;
  for (const r of ranges) {
    if (r.offset < 0) throw new CheckpointError(`Tensor "${info.name}" in ${r.file} has no byte range to read.`, r.file, info.name);
    let fd: number;
    try {
      fd = openRegularFileSync(r.file, 'checkpoint file');
    } catch (e) {
      throw ioError(r.file, e);
    }
    try {
      readExactly(fd, out.subarray(at, at + r.length), r.offset, r.file, r.name);
    } finally {
      fs.closeSync(fd);
    }
    at += r.length;
  }
  if (at !== info.length) throw new CheckpointError(`Tensor "${info.name}" in ${info.file}: its parts add up to ${at} bytes, not ${info.length}.`, info.file, info.name);
  return out;
}

/** One tensor widened to float32 (exact for every float dtype narrower than F64). */
export function readTensor(info: TensorInfo): Float32Array {
  return toFloat32(readTensorBytes(info), info.dtype);
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Raw little-endian bytes (a Float32Array, Uint16Array of BF16 bits, Uint8Array of FP8, …). */
  data: ArrayBufferView;
}

// The reference orders tensors by descending dtype (its enum order), then name, so that every
// tensor starts aligned to its element size once the header is padded to 8 bytes.
const DTYPE_RANK: SafetensorsDtype[] = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'F16', 'BF16', 'I32', 'F32', 'F64', 'I64'];

/**
 * Writes a .safetensors file the way the reference does (same order, same padding, so the same
 * bytes), atomically (see runtime/util/files.ts).
 */
export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): void {
  const abs = path.resolve(file);
  const seen = new Set<string>();
  for (const t of tensors) {
    const bad = (why: string) => new CheckpointError(`Cannot write ${abs}: tensor "${t.name}" ${why}`, abs, t.name);
    if (!t.name || t.name === '__metadata__') throw bad('has a reserved or empty name.');
    if (seen.has(t.name)) throw bad('appears twice.');
    seen.add(t.name);
    if (!isDtype(t.dtype)) throw bad(`has unknown dtype ${show(t.dtype)}.`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`has shape ${show(t.shape)}; expected non-negative integers.`);
    const bytes = (elementCount(t.shape) ?? NaN) * DTYPE_SIZE[t.dtype];
    if (bytes !== t.data.byteLength) throw bad(`is ${t.dtype} ${show(t.shape)} (${bytes} bytes) but its data has ${t.data.byteLength} bytes.`);
  }
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string') throw new CheckpointError(`Cannot write ${abs}: metadata "${k}" must be a string.`, abs);
  }
  const ordered = [...tensors].sort((a, b) =>
    DTYPE_RANK.indexOf(b.dtype) - DTYPE_RANK.indexOf(a.dtype) || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const { len, header } = safetensorsHeader(ordered.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.data.byteLength })), metadata);

  try {
    writeFileAtomic(abs, (fd) => {
      writeAll(fd, len);
      writeAll(fd, header);
      for (const t of ordered) writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    });
  } catch (e) {
    throw ioError(abs, e, 'written');
  }
}

/**
 * The 8-byte length and the JSON header of a safetensors file whose tensors follow in this order.
 * Built by hand: a JS object would move integer-like names to the front. Padded with spaces to 8 bytes.
 */
export function safetensorsHeader(
  tensors: readonly { name: string; dtype: string; shape: readonly number[]; bytes: number }[],
  metadata?: Record<string, string>,
): { len: Buffer; header: Buffer; dataBytes: number } {
  const entries: string[] = [];
  if (metadata) entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const t of tensors) {
    const end = offset + t.bytes;
    entries.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  let header = Buffer.from(`{${entries.join(',')}}`, 'utf8');
  const pad = (8 - (header.length % 8)) % 8;
  if (pad) header = Buffer.concat([header, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return { len, header, dataBytes: offset };
}
