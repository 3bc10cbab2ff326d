// `schnell generate "prompt" …`: the request goes through the studio core like every other
// generation (one engine, one model resolution, one device policy), as a job from source 'cli'.
// With --library/--project the core records each image (file + catalog row); without, it records
// nothing and only the --out files are written. Files always carry their parameters.
import path from 'node:path';
import { ApiError, imageSeed, requestWarnings } from '../runtime/api/index.js';
import { writeFileAtomic } from '../runtime/util/files.js';
import type { JobOutcome, Studio } from '../main/studio.js';
import { type GenerateCommand, NO_MODEL, outputPaths, parseGenerateArgs, USAGE } from './generate-args.js';
import { UsageError } from './options.js';
import { progressBar } from './progress-bar.js';

const NO_MODEL_OR_KEY = `${NO_MODEL}; or set FIREWORKS_API_KEY to generate in the Fireworks cloud`;

export async function run(argv: string[]): Promise<number> {
  let cmd: GenerateCommand | 'help';
  try {
    cmd = parseGenerateArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message, 2);
    throw e;
  }
  if (cmd === 'help') {
    console.log(USAGE);
    return 0;
  }
  let studio: Studio | undefined;
  try {
    studio = await openStudio(cmd);
    return await generate(studio, cmd);
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message, 2);
    // Routing refusals (no key, nothing can serve, the cloud said no) are sentences, not bugs.
    if (e instanceof ApiError) return fail(e.message, 1);
    throw e;
  } finally {
    await studio?.close();
  }
}

function fail(message: string, code: number): number {
  console.error(`schnell generate: ${message}`);
  return code;
}

/** A studio for this one command: its own job only (resume: false), the model in this process. */
async function openStudio(cmd: GenerateCommand): Promise<Studio> {
  const [{ Studio }, { ModelNotFoundError }] = await Promise.all([import('../main/studio.js'), import('../runtime/models/resolve-model.js')]);
  if (cmd.project !== undefined) {
    const [{ checkName }, { CatalogError }] = await Promise.all([import('../main/catalog/validate.js'), import('../main/catalog/index.js')]);
    try {
      checkName('project', cmd.project);
    } catch (e) {
      if (e instanceof CatalogError) throw new UsageError(`${e.message} (--project)`);
      throw e;
    }
  }
  try {
    return await Studio.open({
      library: cmd.library === undefined ? false : cmd.library === 'studio' ? undefined : cmd.library,
      model: cmd.model ?? null,
      backend: cmd.backend,
      device: cmd.device,
      isolate: false,
      resume: false,
    });
  } catch (e) {
    if (e instanceof ModelNotFoundError) throw new UsageError(e.message.replace(/^the model /, '--model '));
    if ((e as Error).name === 'LibraryError' || (e as Error).name === 'CatalogError') {
      const dir = cmd.library === 'studio' ? 'of $SCHNELL_HOME' : cmd.library;
      throw new UsageError(`the library ${dir} cannot be opened: ${(e as Error).message.replace(/^cannot open the library [^:]*: /, '')} (--library)`);
    }
    throw e;
  }
}

async function generate(studio: Studio, cmd: GenerateCommand): Promise<number> {
  const { request, json } = cmd;
  const note = (s: string) => {
    if (!json) console.error(`note: ${s}`);
  };
  if (cmd.backend === 'auto' && cmd.model === undefined && !studio.router.cloudReady) throw new UsageError(NO_MODEL_OR_KEY);
  for (const w of studio.warnings) note(w);
  // The same sentence as the server's X-Schnell-Warning (a negative prompt that CFG ≤ 1 ignores), in flag names.
  for (const w of requestWarnings(request, { negativePrompt: '--negative-prompt', cfgScale: '--cfg-scale' })) note(w);
  // What cannot serve (a model that does not open under local, no key for the cloud) is one
  // sentence before anything starts; auto's fallback is planned here and said when it served.
  await studio.router.plan(request, cmd.backend);
  const local = cmd.backend !== 'cloud' ? await studio.localModel() : null;
  if (local?.untrained) note(`"${local.name}" is UNTRAINED (random weights): its images are colour noise, not pictures.`);
  if (!json) console.error(`seed: ${request.seed}`);

  const bar = process.stderr.isTTY && !json ? progressBar() : undefined;
  const submitted = studio.submit(request, { source: 'cli', ...(cmd.project !== undefined ? { project: cmd.project } : {}) });
  const off = studio.on('job.progress', ({ jobId, progress }) => {
    if (jobId === submitted.id) bar?.update({ ...progress, seed: imageSeed(request.seed, progress.image) });
  });
  const onSigint = () => studio.cancel(submitted.id);
  process.once('SIGINT', onSigint);
  let outcome: JobOutcome;
  try {
    outcome = await submitted.outcome;
  } catch (e) {
    bar?.done();
    if (studio.job(submitted.id)?.status === 'cancelled') return fail('cancelled', 130);
    throw e;
  } finally {
    off();
    process.removeListener('SIGINT', onSigint);
  }
  bar?.done();

  const { result, model, images } = outcome;
  const where = result.backend === 'local' ? `this machine ("${model.name}" on ${model.device})` : `the Fireworks cloud (${studio.router.cloud?.describe().baseUrl ?? 'unknown address'}, model ${result.model})`;
  note(result.fallback ? `served by ${where}, because the local model could not serve: ${result.fallback.reason}` : `served by ${where}`);

  // Recording without --out: the library's files are the output (nothing lands in the working folder).
  const recorded = images.every((img) => img.generation !== null);
  let files: string[];
  if (recorded && cmd.out === undefined) files = images.map((img) => img.generation!.file);
  else {
    files = outputPaths(cmd.out, images, request.outputFormat);
    try {
      images.forEach((img, i) => writeFileAtomic(files[i]!, img.bytes, { createFolder: true }));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (!err.code) throw e;
      const why = err.message.replace(/^E[A-Z]+: /, '').replace(/,.*$/s, '');
      return fail(`could not write the image${images.length > 1 ? 's' : ''} to ${path.resolve(cmd.out ?? '.')}: ${why} (${err.code}); choose another --out`, 1);
    }
  }
  if (recorded && images.length) {
    note(`recorded ${images.length} image${images.length === 1 ? '' : 's'} in the library ${studio.library!.dir}${cmd.project ? ` (project ${cmd.project})` : ''}: ${images.map((i) => i.generation!.id).join(', ')}`);
  }
  if (json) {
    console.log(JSON.stringify({
      model: model.name, untrained: model.untrained, device: model.device, backend: result.backend,
      ...(result.fallback ? { fallbackReason: result.fallback.reason } : {}),
      seed: request.seed,
      jobId: submitted.id,
      images: images.map((img, i) => ({
        index: img.index, seed: img.seed, path: files[i], format: img.format, width: img.width, height: img.height,
        bytes: img.bytes.length, finishReason: img.finishReason, ...(img.generation ? { id: img.generation.id } : {}),
      })),
      timings: result.timings,
    }, null, 2));
  } else {
    for (const [i, img] of images.entries()) console.log(`${files[i]}  (seed ${img.seed})`);
  }
  return 0;
}
