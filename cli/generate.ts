// `schnell generate … [--library DIR] [--project NAME]`: the runtime's generate command, plus
// recording every image it makes in the studio library (a catalog row and a file with its
// parameters embedded). It lives here, at the composition root, because runtime/ never imports
// main/: the runtime command offers hooks (runGenerate) and this module fills them in.
import type { GenerationRequest } from '../runtime/api/index.js';
import { type GenerateCommand, type GenerateOutcome, GenerateUsageError, type ImageExtras, runGenerate } from './generate-images.js';
import type { Library } from '../main/library/index.js';

const OPTIONS = {
  library: { type: 'string' },
  project: { type: 'string' },
} as const;

const USAGE = `
library (records every image: a catalog row, and the file with its parameters embedded):
  --library DIR            record in the library in DIR (created if needed)
  --project NAME           file the images under project NAME; alone, records in the studio
                           library ($SCHNELL_HOME/library). With --json, each image gets its catalog "id"`;

export async function run(argv: string[]): Promise<number> {
  let recorder: Recorder | undefined;
  return runGenerate(argv, {
    extraOptions: OPTIONS,
    extraUsage: USAGE,
    async prepare(cmd) {
      recorder = await Recorder.open(cmd);
    },
    afterSave(outcome, files, request) {
      return recorder?.record(outcome, files, request);
    },
    close() {
      recorder?.close();
    },
  });
}

/** Records a generation's images in one library; opened before generating so a bad folder or project fails fast. */
class Recorder {
  private constructor(
    private readonly lib: Library,
    private readonly project: string | null,
    private readonly quiet: boolean,
  ) {}

  /** A recorder when --library or --project is given, else undefined (nothing is recorded). */
  static async open(cmd: GenerateCommand): Promise<Recorder | undefined> {
    const dir = cmd.values.library;
    const project = cmd.values.project;
    if (dir === undefined && project === undefined) return undefined;
    if (typeof dir === 'string' && dir.trim() === '') throw new GenerateUsageError('--library needs a folder, e.g. --library ~/Pictures/schnell');
    // Loaded only when recording: a plain generate does not pay for SQLite.
    const [{ checkName }, { CatalogError }, { defaultLibraryDir, openLibrary }] = await Promise.all([
      import('../main/catalog/validate.js'),
      import('../main/catalog/index.js'),
      import('../main/library/index.js'),
    ]);
    let name: string | null = null;
    if (typeof project === 'string') {
      try {
        name = checkName('project', project);
      } catch (e) {
        if (e instanceof CatalogError) throw new GenerateUsageError(`${e.message} (--project)`);
        throw e;
      }
    }
    const folder = typeof dir === 'string' ? dir : defaultLibraryDir();
    let lib: Library;
    try {
      lib = await openLibrary(folder);
    } catch (e) {
      throw new GenerateUsageError(`the library ${folder} cannot be opened: ${(e as Error).message} (--library)`);
    }
    return new Recorder(lib, name, cmd.json);
  }

  /** One catalog row per image, in order; returns each image's catalog id for the --json report. */
  async record(outcome: GenerateOutcome, files: string[], request: GenerationRequest): Promise<ImageExtras> {
    const ids: string[] = [];
    const { model, result } = outcome;
    for (const img of result.images) {
      try {
        const g = await this.lib.recordGeneration({
          prompt: request.prompt,
          negativePrompt: request.negativePrompt,
          width: img.width,
          height: img.height,
          steps: request.steps,
          cfgScale: request.cfgScale,
          sampler: request.sampler,
          samples: request.samples,
          seed: img.seed,
          sampleIndex: img.index,
          finishReason: img.finishReason,
          model: model.name,
          backend: outcome.backend,
          device: model.device,
          durationMs: outcome.durationMs,
          fallbackReason: model.fallbackReason ?? null,
          image: Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength),
          format: img.format,
          project: this.project,
        });
        ids.push(g.id);
      } catch (e) {
        // The files are already written; say where, and how far recording got.
        throw new Error(`the images were written (${files.join(', ')}) but recording them in the library ${this.lib.dir} stopped after ${ids.length} of ${result.images.length}: ${(e as Error).message}`);
      }
    }
    if (!this.quiet) {
      console.error(`note: recorded ${ids.length} image${ids.length === 1 ? '' : 's'} in the library ${this.lib.dir}${this.project ? ` (project ${this.project})` : ''}: ${ids.join(', ')}`);
    }
    return ids.map((id) => ({ id }));
  }

  close(): void {
    this.lib.close();
  }
}
