// `schnell generate`'s one-line progress on a terminal, redrawn in place. The local runtime's
// sentence, when it sends one, says what runs now ("loading T5 (4.9 GB)", "encoding the prompt: T5
// block 12 of 24", "image 1 of 1, step 2 of 4, block 40 of 57"); within a step the bar moves by the
// runtime's share of it: counted over blocks where the model runs block by block, else its
// estimate, which its sentence calls one ("about 40 % (estimated from this machine's speed)").

export interface BarProgress {
  /** Steps finished (of `steps`) of image `image` (0-based) of `images`. */
  step: number;
  steps: number;
  image: number;
  images: number;
  seed: number;
  servedBy: string;
  stage?: string;
  message?: string;
  /** 0..1 within the running step. */
  fraction?: number;
}

const WIDTH = 24;

/** The line for `p`, given the last sentence said (`said`); returns the line and the sentence to keep. */
export function progressLine(p: BarProgress, said: string, columns = 120): { line: string; said: string } {
  const within = p.stage === 'denoise' && p.fraction !== undefined ? Math.max(0, Math.min(1, p.fraction)) : 0;
  const doneSteps = p.image * p.steps + p.step + within;
  const filled = Math.max(0, Math.min(WIDTH, Math.round((doneSteps / Math.max(1, p.steps * p.images)) * WIDTH)));
  // A plain step event keeps the last sentence until the runtime says what comes next; the cloud
  // says none, so a local one would be stale there.
  const keep = p.message ? p.message : p.servedBy === 'cloud' ? '' : said;
  const image = p.images > 1 ? `  image ${p.image + 1}/${p.images}` : '';
  const where = p.servedBy === 'cloud' ? '  (cloud)' : '';
  const line = `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${keep || `step ${p.step}/${p.steps}${image}`}  seed ${p.seed}${where}`;
  // Cut to the terminal's width: a wrapped line cannot be redrawn in place.
  return { line: line.slice(0, Math.max(40, columns - 1)), said: keep };
}

/** The bar on stderr (only on a terminal: the caller checks isTTY). */
export function progressBar(): { update(p: BarProgress): void; done(): void } {
  let shown = false;
  let said = '';
  return {
    update(p) {
      const next = progressLine(p, said, process.stderr.columns ?? 120);
      said = next.said;
      process.stderr.write(`\r\x1b[K${next.line}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\n');
    },
  };
}
