import sharp from 'sharp';
import { isId, type Backend, type Generation, type NewGeneration, type Source } from '../catalog/index.js';
import { OWN_SOURCES, SOURCES, TEXT_LIMITS } from '../catalog/validate.js';
import { formatParameters, parseParameters, type Fields } from './a1111.js';
import { LibraryError } from './errors.js';
import { asInt, asNumber, asText, parseComfyPrompt, parseInvokeMetadata, parseJsonObject } from './foreign.js';
import { withExifUserComment } from './exif.js';
import { isJpeg, JpegError, readJpegComment, withJpegComment } from './jpeg.js';
import { isPng, pngSize, readPngText, withPngText } from './png.js';

// What an image file says about itself. Ours carry two descriptions: A1111 `parameters` text for
// other tools and a `schnell` JSON chunk with every catalog field, so a library can be rebuilt
// from its folder alone. Reading prefers ours, then InvokeAI, A1111 and ComfyUI.

export const JSON_KEYWORD = 'schnell';
const JSON_VERSION = 1;

/** Catalog fields as the file keeps them (the hash cannot be inside the file it names). */
export function generationJson(g: Generation): string {
  const { imageHash: _h, trashedAt: _t, missingAt: _m, ...fields } = g;
  return JSON.stringify({ schnell: JSON_VERSION, ...fields });
}

export type ImageFields = Fields;

/** Embeds the generation into PNG chunks or JPEG comments. */
export function embedMetadata(bytes: Buffer, g: Generation): Buffer {
  const json = generationJson(g);
  // JPEG: our JSON in COM segments, and the A1111 text as EXIF UserComment where other tools read it.
  if (g.format === 'jpeg') return withExifUserComment(withJpegComment(bytes, json), formatParameters(g));
  return withPngText(bytes, [
    { keyword: 'parameters', text: formatParameters(g) },
    { keyword: JSON_KEYWORD, text: json },
  ]);
}

function parseOurJson(raw: string, warnings: string[]): ImageFields | undefined {
  const m = parseJsonObject(raw, 'Schnell Studio', warnings);
  if (!m) return undefined;
  if (m.schnell !== JSON_VERSION) {
    warnings.push(`the Schnell Studio metadata has version ${JSON.stringify(m.schnell)}, not ${JSON_VERSION}; ignored`);
    return undefined;
  }
  const out: ImageFields = {};
  const take = <K extends keyof ImageFields>(key: K, v: ImageFields[K] | undefined, raw: unknown) => {
    if (v !== undefined) out[key] = v;
    else if (raw !== undefined && raw !== null) warnings.push(`the Schnell Studio metadata field '${key}' has an unusable value; ignored`);
  };
  const text = (k: string, max: number) => asText(m[k], max);
  // Over-long prompts are cut to the limit later (fitToLimits), not dropped.
  take('prompt', text('prompt', Infinity), m.prompt);
  take('negativePrompt', text('negativePrompt', Infinity), m.negativePrompt);
  take('width', asInt(m.width, 1, 65535), m.width);
  take('height', asInt(m.height, 1, 65535), m.height);
  take('steps', asInt(m.steps, 0, 10000), m.steps);
  take('cfgScale', asNumber(m.cfgScale), m.cfgScale);
  take('sampler', text('sampler', 64), m.sampler);
  take('samples', asInt(m.samples, 1, 10000), m.samples);
  take('seed', asInt(m.seed, 0, Number.MAX_SAFE_INTEGER), m.seed);
  take('sampleIndex', asInt(m.sampleIndex, 0, 9999), m.sampleIndex);
  const finish = text('finishReason', 64);
  take('finishReason', finish && /^[A-Za-z0-9_]+$/.test(finish) ? finish : undefined, m.finishReason);
  take('model', text('model', Infinity), m.model);
  take('backend', (['local', 'cloud', 'imported'] as const).find((b) => b === m.backend), m.backend);
  take('device', text('device', 256), m.device);
  take('durationMs', asNumber(m.durationMs) !== undefined && (m.durationMs as number) >= 0 ? Math.round(m.durationMs as number) : undefined, m.durationMs);
  take('fallbackReason', text('fallbackReason', 4096), m.fallbackReason);
  take('id', isId(m.id) ? m.id : undefined, m.id);
  take('parentId', isId(m.parentId) ? m.parentId : undefined, m.parentId);
  take('createdAt', typeof m.createdAt === 'string' && Number.isFinite(Date.parse(m.createdAt)) ? m.createdAt : undefined, m.createdAt);
  take('project', text('project', 128), m.project);
  take('tags', Array.isArray(m.tags) && m.tags.length <= 1000 && m.tags.every((t) => typeof t === 'string' && t.length <= 64) ? (m.tags as string[]) : undefined, m.tags);
  take('favorite', typeof m.favorite === 'boolean' ? m.favorite : undefined, m.favorite);
  take('rating', asInt(m.rating, 0, 5), m.rating);
  take('source', SOURCES.find((s) => s === m.source), m.source);
  return out;
}

export interface ImageInfo {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  /** Which description was used: ours ('studio' or what we recorded), another tool's, or none. */
  source: Source;
  fields: ImageFields;
  warnings: string[];
}

export function detectFormat(bytes: Buffer): 'png' | 'jpeg' | null {
  return isPng(bytes) ? 'png' : isJpeg(bytes) ? 'jpeg' : null;
}

/** Reads format, true size and metadata. Throws LibraryError for files that are not usable images. */
export async function readImageInfo(bytes: Buffer, name: string): Promise<ImageInfo> {
  const format = detectFormat(bytes);
  if (!format) throw new LibraryError(`${name} is not a PNG or JPEG image`);
  const warnings: string[] = [];
  let width: number;
  let height: number;
  let fields: ImageFields | undefined;
  let source: Source = 'unknown';
  try {
    if (format === 'png') {
      ({ width, height } = pngSize(bytes));
      const readers: [string, Source, (t: string, w: string[]) => ImageFields | undefined][] = [
        [JSON_KEYWORD, 'studio', parseOurJson],
        ['invokeai_metadata', 'invokeai', parseInvokeMetadata],
        ['parameters', 'a1111', parseParameters],
        ['prompt', 'comfyui', parseComfyPrompt],
      ];
      // Only the chunks some reader looks at are decoded (a ComfyUI workflow or a bomb under another name is not).
      const { texts, warnings: w } = readPngText(bytes, { keywords: new Set(readers.map(([k]) => k)) });
      warnings.push(...w);
      const text = (k: string) => texts.find((t) => t.keyword === k)?.text;
      for (const [keyword, from, parse] of readers) {
        const t = text(keyword);
        if (t === undefined) continue;
        fields = parse(t, warnings);
        if (fields) {
          source = from === 'studio' ? (fields.source ?? 'studio') : from;
          break;
        }
      }
    } else {
      const meta = await sharp(bytes).metadata();
      if (!meta.width || !meta.height) throw new LibraryError(`${name} is a JPEG without a readable size`);
      ({ width, height } = meta);
      let comment: string | null = null;
      try {
        comment = readJpegComment(bytes);
      } catch (err) {
        // Damaged or oversized metadata loses the metadata, not the image.
        if (!(err instanceof JpegError)) throw err;
        warnings.push(`${err.message}; the metadata was dropped and the image kept`);
      }
      if (comment !== null) {
        fields = parseOurJson(comment, warnings);
        if (fields) source = fields.source ?? 'studio';
      }
    }
  } catch (err) {
    if (err instanceof LibraryError) throw err;
    throw new LibraryError(`${name} is not a usable image: ${(err as Error).message}`);
  }
  fields ??= {};
  // The pixels are the truth: a description that disagrees about the size is wrong.
  if ((fields.width !== undefined && fields.width !== width) || (fields.height !== undefined && fields.height !== height)) {
    warnings.push(`the metadata says ${fields.width}x${fields.height} but the image is ${width}x${height}; using the image's size`);
  }
  fields.width = width;
  fields.height = height;
  return { format, width, height, source, fields, warnings };
}

/** Cuts text to at most `max` UTF-16 units without splitting a surrogate pair. */
function cut(text: string, max: number): string {
  const s = text.slice(0, max);
  const last = s.charCodeAt(s.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? s.slice(0, -1) : s;
}

/**
 * Another tool's file may say more than a catalog field holds (a prompt of a few million
 * characters): the text is cut to the field's limit with a warning, so the image still comes in.
 */
export function fitToLimits(f: ImageFields, warnings: string[]): void {
  for (const [field, max] of Object.entries(TEXT_LIMITS) as [keyof typeof TEXT_LIMITS, number][]) {
    const v = f[field];
    if (typeof v === 'string' && v.length > max) {
      f[field] = cut(v, max);
      warnings.push(`the file's ${field} has ${v.length} characters, over the ${max}-character limit; cut to ${max}`);
    }
  }
}

/** A catalog row for a file found on disk or brought in from elsewhere. */
export function toNewGeneration(info: ImageInfo, hash: string, fallbackCreatedAt: number): NewGeneration {
  const f = info.fields;
  fitToLimits(f, info.warnings);
  const backend: Backend = OWN_SOURCES.includes(info.source) ? (f.backend ?? 'local') : 'imported';
  return {
    ...f,
    prompt: f.prompt ?? '',
    width: info.width,
    height: info.height,
    model: f.model && f.model.trim() !== '' ? f.model : 'unknown',
    backend,
    source: info.source,
    imageHash: hash,
    format: info.format,
    createdAt: f.createdAt ?? fallbackCreatedAt,
  };
}
