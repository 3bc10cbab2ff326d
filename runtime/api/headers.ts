// The header half of the request contract: Accept negotiation (406), Content-Type (415),
// Jpeg-Quality and Json-Return-Image-Accept (400).
import { ApiError, invalid } from './errors.js';

export type ResponseType = 'image/png' | 'image/jpeg' | 'application/json';
export type ImageFormat = 'png' | 'jpeg';

/** Our preference order when an Accept header allows several (a missing header means image/png). */
export const RESPONSE_TYPES: readonly ResponseType[] = ['image/png', 'image/jpeg', 'application/json'];

export const DEFAULT_JPEG_QUALITY = 90;

/** Request headers by lower-case name, as node:http gives them. */
export type HeaderBag = Record<string, string | string[] | undefined>;

export function header(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

interface AcceptRange {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(value: string): AcceptRange[] {
  const ranges: AcceptRange[] = [];
  for (const part of value.split(',')) {
    const [media = '', ...params] = part.split(';').map((s) => s.trim());
    const slash = media.indexOf('/');
    if (slash <= 0 || slash === media.length - 1) continue;
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/i.exec(p);
      if (m) {
        const n = Number(m[1]);
        q = Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
      }
    }
    ranges.push({ type: media.slice(0, slash).toLowerCase(), subtype: media.slice(slash + 1).toLowerCase(), q });
  }
  return ranges;
}

/**
 * Picks the response type. `*\/*` (curl's and Python requests' default) and `image/*` mean "any",
 * which gives the contract's default, image/png; a list naming none of our three types is a 406.
 */
export function negotiateResponseType(accept: string | undefined): ResponseType {
  if (accept === undefined || accept.trim() === '') return 'image/png';
  const ranges = parseAccept(accept);
  let best: { type: ResponseType; q: number; specificity: number; order: number } | null = null;
  RESPONSE_TYPES.forEach((candidate, order) => {
    const [type, subtype] = candidate.split('/') as [string, string];
    let match: { q: number; specificity: number } | null = null;
    for (const r of ranges) {
      const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === '*' ? 1 : r.type === '*' && r.subtype === '*' ? 0 : -1;
      if (specificity < 0) continue;
      if (!match || specificity > match.specificity) match = { q: r.q, specificity };
    }
    if (!match || match.q <= 0) return;
    if (!best || match.q > best.q || (match.q === best.q && match.specificity > best.specificity)) {
      best = { type: candidate, q: match.q, specificity: match.specificity, order };
    }
  });
  if (!best) {
    throw new ApiError(406, `Accept '${clip(accept)}' names no type this endpoint returns; use image/png, image/jpeg or application/json`, 'Accept');
  }
  return (best as { type: ResponseType }).type;
}

/** The request body must be JSON (UTF-8); anything else is a 415. */
export function checkContentType(contentType: string | undefined): void {
  if (contentType === undefined || contentType.trim() === '') {
    throw new ApiError(415, 'Content-Type is missing; send the body as JSON with Content-Type: application/json', 'Content-Type');
  }
  const [media = '', ...params] = contentType.split(';').map((s) => s.trim().toLowerCase());
  if (media !== 'application/json') {
    throw new ApiError(415, `Content-Type '${clip(contentType)}' is not supported; send the body as JSON with Content-Type: application/json`, 'Content-Type');
  }
  for (const p of params) {
    const m = /^charset\s*=\s*"?([^"]*)"?$/.exec(p);
    if (m && m[1] !== 'utf-8' && m[1] !== 'utf8') {
      throw new ApiError(415, `charset '${m[1]}' is not supported; send the JSON body as UTF-8`, 'Content-Type');
    }
  }
}

export interface OutputHeaders {
  responseType: ResponseType;
  format: ImageFormat;
  /** Set only when the client asked for a JPEG quality. */
  jpegQuality?: number;
}

/** Accept, Jpeg-Quality and Json-Return-Image-Accept, checked together because each limits the others. */
export function parseOutputHeaders(headers: HeaderBag): OutputHeaders {
  const responseType = negotiateResponseType(header(headers, 'accept'));
  const quality = header(headers, 'jpeg-quality');
  const jsonImage = header(headers, 'json-return-image-accept');
  const out: OutputHeaders = { responseType, format: responseType === 'image/jpeg' ? 'jpeg' : 'png' };

  if (quality !== undefined) {
    if (!/^\s*\d{1,3}\s*$/.test(quality) || Number(quality) > 100) {
      throw invalid(`Jpeg-Quality must be an integer from 0 to 100, got '${clip(quality)}'`, 'Jpeg-Quality');
    }
    if (responseType !== 'image/jpeg') {
      throw invalid(`Jpeg-Quality applies only with Accept: image/jpeg (this request gets ${responseType}); drop the header or ask for image/jpeg`, 'Jpeg-Quality');
    }
    out.jpegQuality = Number(quality);
  }
  if (jsonImage !== undefined) {
    const t = jsonImage.trim().toLowerCase();
    if (t !== 'image/png' && t !== 'image/jpeg') {
      throw invalid(`Json-Return-Image-Accept must be image/png or image/jpeg, got '${clip(jsonImage)}'`, 'Json-Return-Image-Accept');
    }
    if (responseType !== 'application/json') {
      throw invalid(`Json-Return-Image-Accept applies only with Accept: application/json (this request gets ${responseType})`, 'Json-Return-Image-Accept');
    }
    out.format = t === 'image/jpeg' ? 'jpeg' : 'png';
  }
  return out;
}

/** Header values are echoed in messages; keep them short and printable. */
export function clip(text: string, max = 60): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}
