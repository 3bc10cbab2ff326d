// The one response encoder: binary image (Content-Type, Content-Length, Seed, Finish-Reason) or the
// JSON envelope `{id, base64[], finishReason, seed}`, and the one error encoding.
import { ApiError } from './errors.js';
import type { ImageFormat, ResponseType } from './headers.js';

export type FinishReason = 'SUCCESS' | 'CONTENT_FILTERED';

export interface ImageOutput {
  bytes: Uint8Array;
  seed: number;
  finishReason: FinishReason;
  format: ImageFormat;
}

export interface ImagesOutput {
  id: string;
  /** The base seed of the request. */
  seed: number;
  images: ImageOutput[];
}

/** The JSON response body of text_to_image. */
export interface TextToImageJson {
  id: string;
  base64: string[];
  finishReason: FinishReason;
  seed: number;
}

export interface EncodedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export const MEDIA_TYPE: Record<ImageFormat, 'image/png' | 'image/jpeg'> = { png: 'image/png', jpeg: 'image/jpeg' };

/** The format a byte string really is, from its magic bytes. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 &&
      bytes[4] === 0x0d && bytes[5] === 0x0a && bytes[6] === 0x1a && bytes[7] === 0x0a) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/**
 * Decodes one `base64` entry; accepts the `data:image/png;base64,…` form newer Fireworks pages
 * show. Returns null for text that is not base64.
 */
export function decodeBase64Image(entry: string): Buffer | null {
  let data = entry.trim();
  const m = /^data:([^,]*?),/i.exec(data);
  if (m) {
    if (!/;base64$/i.test(m[1] ?? '')) return null;
    data = data.slice(m[0].length);
  }
  data = data.replace(/\s+/g, '');
  if (data.length === 0 || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(data)) return null;
  return Buffer.from(data, data.includes('-') || data.includes('_') ? 'base64url' : 'base64');
}

export function overallFinishReason(images: { finishReason: FinishReason }[]): FinishReason {
  return images.some((i) => i.finishReason === 'CONTENT_FILTERED') ? 'CONTENT_FILTERED' : 'SUCCESS';
}

export function toTextToImageJson(out: ImagesOutput): TextToImageJson {
  return {
    id: out.id,
    base64: out.images.map((i) => Buffer.from(i.bytes.buffer, i.bytes.byteOffset, i.bytes.byteLength).toString('base64')),
    finishReason: overallFinishReason(out.images),
    seed: out.seed,
  };
}

/** Encodes generated images as the client asked. A format mismatch here is a bug, never sent. */
export function encodeImages(out: ImagesOutput, responseType: ResponseType, extraHeaders: Record<string, string> = {}): EncodedResponse {
  for (const img of out.images) {
    if (sniffImageFormat(img.bytes) !== img.format) {
      throw new Error(`internal error: image ${out.images.indexOf(img)} is not the ${img.format} it claims to be`);
    }
  }
  if (responseType === 'application/json') {
    const body = Buffer.from(JSON.stringify(toTextToImageJson(out)));
    return {
      status: 200,
      headers: { ...extraHeaders, 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
      body,
    };
  }
  const img = out.images[0];
  if (out.images.length !== 1 || !img) throw new Error(`internal error: a binary response needs exactly one image, got ${out.images.length}`);
  if (MEDIA_TYPE[img.format] !== responseType) throw new Error(`internal error: client asked for ${responseType}, image is ${img.format}`);
  const body = Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength);
  return {
    status: 200,
    headers: {
      ...extraHeaders,
      'Content-Type': responseType,
      'Content-Length': String(body.length),
      Seed: String(img.seed),
      'Finish-Reason': img.finishReason,
    },
    body,
  };
}

export function encodeError(err: ApiError, extraHeaders: Record<string, string> = {}): EncodedResponse {
  const body = Buffer.from(JSON.stringify(err.toJSON()));
  const headers: Record<string, string> = { ...extraHeaders, 'Content-Type': 'application/json', 'Content-Length': String(body.length) };
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  return { status: err.status, headers, body };
}
