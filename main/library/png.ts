import zlib from 'node:zlib';

// PNG text chunks (tEXt, zTXt, iTXt): read them from any file, write ours into our own. Files come
// from anywhere, so every length is checked against what is really there, CRCs are verified, and
// compressed text is inflated with a ceiling per chunk and a budget per file (a 1 MB file of a few
// hundred small zTXt chunks can otherwise inflate to gigabytes). Structural damage (a chunk
// claiming more bytes than the file has) fails the file with a sentence; a bad text chunk, or one
// over the budget, is skipped with a warning saying what was dropped; the image is kept.

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Per text chunk, before and after decompression: a 100 KB prompt fits many times over. */
export const MAX_TEXT_BYTES = 16 * 1024 * 1024;
/** All text of one file together, after decompression: our own chunks with two maximal prompts fit. */
export const MAX_FILE_TEXT_BYTES = 24 * 1024 * 1024;
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

class OverBudget extends PngError {}

/** Inflates at most `limit` bytes (zlib stops there: the output is never allocated past it). */
function inflateBounded(data: Buffer, what: string, limit: number, budgetLeft: boolean): Buffer {
  try {
    return zlib.inflateSync(data, { maxOutputLength: Math.max(1, limit) });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      if (budgetLeft) throw new PngError(`${what} inflates past ${MAX_TEXT_BYTES} bytes`);
      throw new OverBudget(`${what} inflates past what is left of the ${MAX_FILE_TEXT_BYTES}-byte text budget of this file`);
    }
    throw new PngError(`${what} is not valid compressed data (${e.message})`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function keywordOf(c: PngChunk): string | undefined {
  const nul = c.data.indexOf(0);
  return nul < 1 || nul > 79 ? undefined : c.data.subarray(0, nul).toString('latin1');
}

/** Decodes one text chunk, inflating at most `budget` bytes; returns the text and the bytes it used. */
function decodeTextChunk(c: PngChunk, budget: number): PngText & { bytes: number } {
  const nul = c.data.indexOf(0);
  const what = `the '${c.type}' chunk at byte ${c.offset}`;
  if (nul < 1 || nul > 79) throw new PngError(`${what} has no valid keyword (1–79 bytes before a NUL)`);
  const keyword = c.data.subarray(0, nul).toString('latin1');
  const rest = c.data.subarray(nul + 1);
  const limit = Math.min(MAX_TEXT_BYTES, budget);
  const inflate = (data: Buffer) => inflateBounded(data, `${what} ('${keyword}')`, limit, budget >= MAX_TEXT_BYTES);
  if (c.type === 'tEXt') {
    if (rest.length > budget) throw new OverBudget(`${what} ('${keyword}', ${rest.length} bytes) is over what is left of the ${MAX_FILE_TEXT_BYTES}-byte text budget of this file`);
    return { keyword, text: rest.toString('latin1'), bytes: rest.length };
  }
  if (c.type === 'zTXt') {
    if (rest.length < 1 || rest[0] !== 0) throw new PngError(`${what} uses an unknown compression method`);
    const raw = inflate(rest.subarray(1));
    return { keyword, text: raw.toString('latin1'), bytes: raw.length };
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
  if (compressed === 0 && body.length > budget) throw new OverBudget(`${what} ('${keyword}', ${body.length} bytes) is over what is left of the ${MAX_FILE_TEXT_BYTES}-byte text budget of this file`);
  const raw = compressed === 1 ? inflate(body) : body;
  try {
    return { keyword, text: utf8.decode(raw), bytes: raw.length };
  } catch {
    throw new PngError(`${what} text is not valid UTF-8`);
  }
}

/**
 * The text chunks of a PNG. Chunks with a bad CRC, a bad header, too much data or bad encoding are
 * skipped and described in `warnings`; a structurally broken file throws PngError. With `keywords`,
 * only those chunks are decoded (a reader need not inflate text it will never look at). All text
 * read from one file shares MAX_FILE_TEXT_BYTES: what is over is skipped, and the warnings count it.
 */
export function readPngText(buf: Buffer, opts: { keywords?: ReadonlySet<string> } = {}): { texts: PngText[]; warnings: string[] } {
  const texts: PngText[] = [];
  const warnings: string[] = [];
  let budget = MAX_FILE_TEXT_BYTES;
  const dropped: string[] = [];
  let examined = 0;
  for (const c of readPngChunks(buf)) {
    if (c.type !== 'tEXt' && c.type !== 'zTXt' && c.type !== 'iTXt') continue;
    if (opts.keywords) {
      const k = keywordOf(c);
      if (k !== undefined && !opts.keywords.has(k)) continue;
    }
    if (++examined > MAX_TEXT_CHUNKS) {
      warnings.push(`more than ${MAX_TEXT_CHUNKS} text chunks; the rest were ignored`);
      break;
    }
    if (budget <= 0) {
      dropped.push(keywordOf(c) ?? '?');
      continue;
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
      const { bytes, ...t } = decodeTextChunk(c, budget);
      budget -= bytes;
      texts.push(t);
    } catch (err) {
      if (err instanceof OverBudget) {
        budget = 0;
        dropped.push(keywordOf(c) ?? '?');
      } else warnings.push(`${(err as Error).message}; ignored`);
    }
  }
  if (dropped.length) {
    const names = [...new Set(dropped)].slice(0, 5).map((k) => `'${k}'`).join(', ');
    warnings.push(`the file's text chunks hold more than ${MAX_FILE_TEXT_BYTES} bytes of text; ${dropped.length} chunk${dropped.length === 1 ? '' : 's'} (${names}) were dropped and the image kept`);
  }
  return { texts, warnings };
}

/** The chunks a decoder needs to draw the image (and orient and colour it); everything else is metadata. */
const PIXEL_CHUNKS = new Set(['IHDR', 'PLTE', 'tRNS', 'gAMA', 'cHRM', 'sRGB', 'sBIT', 'pHYs', 'eXIf', 'IDAT', 'IEND']);

/**
 * A copy of the PNG without its metadata chunks, for the image decoder (sharp). libvips reads every
 * text chunk, inflating zTXt/iTXt without a total bound: a 1 MB file of a few hundred small
 * compressed chunks took 1.7 GB and 44 s to make a thumbnail. Text and unknown chunks, and the
 * compressed ICC profile (iCCP, a bomb of its own), are left out; the pixels are the same.
 * A file whose chunk structure cannot be read is returned as it is (the decoder then decides).
 */
export function pngForDecoding(buf: Buffer): Buffer {
  let chunks: PngChunk[];
  try {
    chunks = readPngChunks(buf);
  } catch {
    return buf;
  }
  if (chunks.every((c) => PIXEL_CHUNKS.has(c.type))) return buf;
  return Buffer.concat([PNG_SIGNATURE, ...chunks.filter((c) => PIXEL_CHUNKS.has(c.type)).map((c) => buf.subarray(c.offset, c.offset + 12 + c.data.length))]);
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
