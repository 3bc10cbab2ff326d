// Turns an engine result into saved images: each image's size (the cloud decides what it sends),
// and, when the studio has a library, its file with the parameters embedded plus a catalog row
// with who asked (source), the seed, finish reason, model, backend, device, fallback and timing.
import fs from 'node:fs';
import type { GenerationRequest } from '../../runtime/api/index.js';
import type { GenerationResult } from '../../runtime/engine/types.js';
import type { Generation } from '../catalog/index.js';
import { type Library, embedMetadata } from '../library/index.js';
import type { JobSource, SavedImage, ServedModel } from './types.js';

export interface RecordContext {
  library: Library | null;
  request: GenerationRequest;
  result: GenerationResult;
  model: ServedModel;
  source: JobSource;
  project: string | null;
  parentId: string | null;
  /** The catalog job the rows belong to (null for a job kept in memory only). */
  jobId: string | null;
  /** Called after each image is saved, in order. */
  onSaved?: (image: SavedImage) => void;
}

export async function saveImages(ctx: RecordContext): Promise<SavedImage[]> {
  const { library, request, result, model } = ctx;
  const saved: SavedImage[] = [];
  for (const img of result.images) {
    const size = result.backend === 'local' ? { width: request.width, height: request.height } : await imageSize(img.bytes);
    let generation: SavedImage['generation'] = null;
    if (library) {
      try {
        generation = await library.recordGeneration({
          prompt: request.prompt,
          negativePrompt: request.negativePrompt,
          ...size,
          steps: request.steps,
          cfgScale: request.cfgScale,
          sampler: request.sampler,
          samples: request.samples,
          seed: img.seed,
          sampleIndex: img.index,
          finishReason: img.finishReason,
          model: model.name,
          backend: result.backend,
          device: model.device,
          durationMs: Math.round(result.timings.engineMs),
          fallbackReason: result.fallback?.reason ?? null,
          image: Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength),
          format: img.format,
          project: ctx.project,
          parentId: ctx.parentId,
          jobId: ctx.jobId,
          source: ctx.source,
        });
      } catch (err) {
        throw new Error(`recording image ${img.index + 1} of ${result.images.length} in the library ${library.dir} failed after ${saved.length} were saved: ${(err as Error).message}`);
      }
    }
    // Every saved image carries its parameters, as the library's files do: the recorded file, or
    // the same chunks embedded here when nothing is recorded (`schnell generate --out` alone).
    const raw = Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength);
    const bytes = generation ? await fs.promises.readFile(generation.file) : embedMetadata(raw, described(ctx, img, size));
    const image: SavedImage = { index: img.index, seed: img.seed, bytes, format: img.format, ...size, finishReason: img.finishReason, generation };
    saved.push(image);
    ctx.onSaved?.(image);
  }
  return saved;
}

/** The catalog's view of an image that is not recorded, for its embedded parameters. */
function described(ctx: RecordContext, img: GenerationResult['images'][number], size: { width: number; height: number }): Generation {
  const { request, result, model } = ctx;
  return {
    // No id, time or duration: a file made twice with one seed is the same file, byte for byte.
    id: undefined, prompt: request.prompt, negativePrompt: request.negativePrompt, ...size, steps: request.steps, cfgScale: request.cfgScale,
    sampler: request.sampler, samples: request.samples, seed: img.seed, sampleIndex: img.index, finishReason: img.finishReason,
    model: model.name, backend: result.backend, device: model.device, durationMs: undefined,
    fallbackReason: result.fallback?.reason ?? null, imageHash: '', format: img.format, favorite: false, rating: 0,
    parentId: ctx.parentId, project: ctx.project, jobId: null, tags: [], source: ctx.source, createdAt: undefined,
    trashedAt: null, missingAt: null,
  } as unknown as Generation;
}

async function imageSize(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  const { default: sharp } = await import('sharp');
  const meta = await sharp(bytes).metadata();
  return { width: meta.width ?? 0, height: meta.height ?? 0 };
}
