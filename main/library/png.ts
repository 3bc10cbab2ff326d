import zlib from 'node:zlib';

// PNG text chunks (tEXt, zTXt, iTXt): read them from any file, write ours into our own. Files come
// from anywhere, so every length is checked against what is really there, CRCs are verified, and
// compressed text is inflated with a ceiling. Structural damage (a chunk claiming more bytes than
// the file has) fails the file with a sentence; a bad text chunk is skipped with a warning.

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Per text chunk, before and after decompression: a 100 KB prompt fits many times over. */
export const MAX_TEXT_BYTES = 16 * 1024 * 1024;
const MAX_TEXT_CHUNKS = 1024;

export class PngError extends Error {
  override name = 'PngError';
}

export interface PngChunk {
  type: string;
  /** Offset of the chunk's length field. */
  offset: number;
  data: Buffer;
}

export interface PngText {
  keyword: string;
  text: string;
}

export function isPng(buf: Buffer): boolean {
  return buf.length >= 8 && buf.subarray(0, 8).equals(PNG_SIGNATURE);
}

// zlib.crc32 arrived in Node 20.15; keep a table fallback for older 20.x.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(...parts: Buffer[]): number {
  const native = (zlib as unknown as { crc32?: (d: Buffer, v?: number) => number }).crc32;
  if (native) return parts.reduce((crc, p) => native(p, crc), 0) >>> 0;
  let c = 0xffffffff;
  for (const p of parts) for (let i = 0; i < p.length; i++) c = CRC_TABLE[(c ^ p[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Splits a PNG into chunks, checking the structure (not the CRCs: see readPngText). */
export function readPngChunks(buf: Buffer): PngChunk[] {
  if (!isPng(buf)) throw new PngError('not a PNG file (the 8-byte PNG signature is missing)');
  const chunks: PngChunk[] = [];
  let offset = 8;
  while (offset < buf.length) {
    if (buf.length - offset < 12) throw new PngError(`the PNG is truncated at byte ${offset} (a chunk header needs 12 bytes, ${buf.length - offset} remain)`);
    const length = buf.readUInt32BE(offset);
    const typeBytes = buf.subarray(offset + 4, offset + 8);
    const type = typeBytes.toString('latin1');
    if (!/^[A-Za-z]{4}$/.test(type)) throw new PngError(`the PNG has an invalid chunk type ${JSON.stringify(type)} at byte ${offset}`);
    if (length > 0x7fffffff) throw new PngError(`the PNG chunk '${type}' at byte ${offset} claims ${length} bytes, more than PNG allows`);
    if (length > buf.length - offset - 12) {
      throw new PngError(`the PNG chunk '${type}' at byte ${offset} claims ${length} bytes but only ${buf.length - offset - 12} remain (truncated or lying length)`);
    }
    if (chunks.length === 0 && type !== 'IHDR') throw new PngError(`the PNG starts with '${type}' instead of IHDR`);
    chunks.push({ type, offset, data: buf.subarray(offset + 8, offset + 8 + length) });
    offset += 12 + length;
    if (type === 'IEND') break; // bytes after IEND are not part of the image
  }
  if (chunks[chunks.length - 1]?.type !== 'IEND') throw new PngError('the PNG is truncated (no IEND chunk)');
  return chunks;
}

function chunkCrcOk(buf: Buffer, c: PngChunk): boolean {
  const stored = buf.readUInt32BE(c.offset + 8 + c.data.length);
  return crc32(buf.subarray(c.offset + 4, c.offset + 8), c.data) === stored;
}

export function pngSize(buf: Buffer): { width: number; height: number } {
  const ihdr = readPngChunks(buf)[0]!;
  if (ihdr.data.length !== 13) throw new PngError(`the PNG's IHDR chunk has ${ihdr.data.length} bytes instead of 13`);
  const width = ihdr.data.readUInt32BE(0);
  const height = ihdr.data.readUInt32BE(4);
  if (width === 0 || height === 0) throw new PngError(`the PNG claims a size of ${width}×${height}`);
  return { width, height };
}

function inflateBounded(data: Buffer, what: string): Buffer {
  try {
    return zlib.inflateSync(data, { maxOutputLength: MAX_TEXT_BYTES });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) throw new PngError(`${what} inflates past ${MAX_TEXT_BYTES} bytes`);
    throw new PngError(`${what} is not valid compressed data (${e.message})`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeTextChunk(c: PngChunk): PngText {
  const nul = c.data.indexOf(0);
  const what = `the '${c.type}' chunk at byte ${c.offset}`;
  if (nul < 1 || nul > 79) throw new PngError(`${what} has no valid keyword (1–79 bytes before a NUL)`);
  const keyword = c.data.subarray(0, nul).toString('latin1');
  const rest = c.data.subarray(nul + 1);
  if (c.type === 'tEXt') return { keyword, text: rest.toString('latin1') };
  if (c.type === 'zTXt') {
    if (rest.length < 1 || rest[0] !== 0) throw new PngError(`${what} uses an unknown compression method`);
    return { keyword, text: inflateBounded(rest.subarray(1), what).toString('latin1') };
  }
  // iTXt: compression flag, method, language tag NUL, translated keyword NUL, UTF-8 text.
  if (rest.length < 2) throw new PngError(`${what} is too short for an iTXt header`);
  const compressed = rest[0];
  if (compressed !== 0 && compressed !== 1) throw new PngError(`${what} has an invalid compression flag ${compressed}`);
  if (compressed === 1 && rest[1] !== 0) throw new PngError(`${what} uses an unknown compression method`);
  const langEnd = rest.indexOf(0, 2);
  const transEnd = langEnd < 0 ? -1 : rest.indexOf(0, langEnd + 1);
  if (transEnd < 0) throw new PngError(`${what} is missing its language or translated-keyword field`);
  const body = rest.subarray(transEnd + 1);
  const raw = compressed === 1 ? inflateBounded(body, what) : body;
  try {
    return { keyword, text: utf8.decode(raw) };
  } catch {
    throw new PngError(`${what} text is not valid UTF-8`);
  }
}

/**
 * The text chunks of a PNG. Chunks with a bad CRC, a bad header, too much data or bad encoding are
 * skipped and described in `warnings`; a structurally broken file throws PngError.
 */
export function readPngText(buf: Buffer): { texts: PngText[]; warnings: string[] } {
  const texts: PngText[] = [];
  const warnings: string[] = [];
  for (const c of readPngChunks(buf)) {
    if (c.type !== 'tEXt' && c.type !== 'zTXt' && c.type !== 'iTXt') continue;
    if (texts.length >= MAX_TEXT_CHUNKS) {
      warnings.push(`more than ${MAX_TEXT_CHUNKS} text chunks; the rest were ignored`);
      break;
    }
    if (c.data.length > MAX_TEXT_BYTES) {
      warnings.push(`the '${c.type}' chunk at byte ${c.offset} holds ${c.data.length} bytes, over the ${MAX_TEXT_BYTES}-byte limit; ignored`);
      continue;
    }
    if (!chunkCrcOk(buf, c)) {
      warnings.push(`the '${c.type}' chunk at byte ${c.offset} fails its CRC check (damaged); ignored`);
      continue;
    }
    try {
      texts.push(decodeTextChunk(c));
    } catch (err) {
      warnings.push(`${(err as Error).message}; ignored`);
    }
  }
  return { texts, warnings };
}

function makeChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(head.subarray(4), data), 0);
  return Buffer.concat([head, data, tail]);
}

const LATIN1_PRINTABLE = /^[\u0020-\u007e\u00a1-\u00ff\n]*$/;

/** tEXt when the text is plain Latin-1 (what most readers expect), otherwise uncompressed iTXt. */
export function textChunk(keyword: string, text: string): Buffer {
  if (!/^[\u0020-\u007e\u00a1-\u00ff]{1,79}$/.test(keyword) || keyword !== keyword.trim()) throw new PngError(`invalid PNG text keyword ${JSON.stringify(keyword)}`);
  if (LATIN1_PRINTABLE.test(text)) {
    const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]);
    if (data.length > MAX_TEXT_BYTES) throw new PngError(`the '${keyword}' text is over ${MAX_TEXT_BYTES} bytes`);
    return makeChunk('tEXt', data);
  }
  // NUL separates iTXt fields; it must not appear in the text itself.
  const body = Buffer.from(text.replace(/\u0000/g, '\ufffd'), 'utf8');
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), body]);
  if (data.length > MAX_TEXT_BYTES) throw new PngError(`the '${keyword}' text is over ${MAX_TEXT_BYTES} bytes`);
  return makeChunk('iTXt', data);
}

/**
 * Returns a copy of the PNG with these text entries right after IHDR (where readers that stop at
 * the image data still see them), replacing any text chunks with the same keywords.
 */
export function withPngText(buf: Buffer, entries: PngText[]): Buffer {
  const chunks = readPngChunks(buf);
  const replaced = new Set(entries.map((e) => e.keyword));
  const parts: Buffer[] = [PNG_SIGNATURE];
  for (const c of chunks) {
    const isText = c.type === 'tEXt' || c.type === 'zTXt' || c.type === 'iTXt';
    if (isText) {
      const nul = c.data.indexOf(0);
      if (nul > 0 && replaced.has(c.data.subarray(0, nul).toString('latin1'))) continue;
    }
    parts.push(buf.subarray(c.offset, c.offset + 12 + c.data.length));
    if (c.type === 'IHDR') for (const e of entries) parts.push(textChunk(e.keyword, e.text));
  }
  return Buffer.concat(parts);
}
