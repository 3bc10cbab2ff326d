import type { NewGeneration } from '../catalog/index.js';

// The A1111 "parameters" text, the de-facto standard other tools read:
//
//   a cat in the rain
//   Negative prompt: blurry
//   Steps: 4, Sampler: Euler, CFG scale: 1, Seed: 42, Size: 1024x1024, Model: flux-1-schnell-fp8
//
// Written so A1111, Forge, Civitai and image viewers show the recipe; parsed like A1111's own
// parse_generation_parameters (last line is the settings when it has 3+ "Key: value" pairs).

export type Fields = Partial<Omit<NewGeneration, 'imageHash' | 'format'>>;

const SAMPLER_NAMES: Record<string, string> = { K_EULER: 'Euler', K_DPMPP_2M: 'DPM++ 2M' };
const SAMPLER_CODES: Record<string, string> = { euler: 'K_EULER', 'dpm++ 2m': 'K_DPMPP_2M', dpmpp_2m: 'K_DPMPP_2M' };

/** Our sampler code for another tool's sampler name, or the name itself when we have no match. */
export function samplerCode(name: string): string {
  return SAMPLER_CODES[name.trim().toLowerCase()] ?? name.trim();
}

function quote(value: string): string {
  return /[,:"\n]/.test(value) ? JSON.stringify(value) : value;
}

export function formatParameters(g: Fields & { prompt: string }): string {
  const oneLine = (s: string) => s.replace(/\u0000/g, ' ');
  const lines = [oneLine(g.prompt)];
  if (g.negativePrompt) lines.push(`Negative prompt: ${oneLine(g.negativePrompt)}`);
  const settings: [string, string | number | null | undefined][] = [
    ['Steps', g.steps],
    ['Sampler', g.sampler ? (SAMPLER_NAMES[g.sampler] ?? g.sampler) : 'Euler'],
    ['CFG scale', g.cfgScale ?? 1],
    ['Seed', g.seed],
    ['Size', g.width && g.height ? `${g.width}x${g.height}` : null],
    ['Model', g.model],
    ['Batch size', g.samples !== undefined && g.samples > 1 ? g.samples : null],
    ['Batch pos', g.samples !== undefined && g.samples > 1 ? g.sampleIndex ?? 0 : null],
    ['Finish reason', g.finishReason && g.finishReason !== 'SUCCESS' ? g.finishReason : null],
  ];
  lines.push(
    settings
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => `${k}: ${quote(oneLine(String(v)))}`)
      .join(', '),
  );
  return lines.join('\n');
}

// A linear scan rather than A1111's regex: that regex backtracks quadratically on a long line
// without colons, and these lines come from files anyone can write.
function settingsOf(line: string): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < line.length) {
    const colon = line.indexOf(':', pos);
    const comma = line.indexOf(',', pos);
    if (colon < 0) break;
    if (comma >= 0 && comma < colon) {
      pos = comma + 1; // a piece without a key
      continue;
    }
    const key = line.slice(pos, colon).trim();
    let i = colon + 1;
    while (line[i] === ' ') i++;
    let value: string;
    if (line[i] === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      const raw = line.slice(i, j + 1);
      try {
        value = String(JSON.parse(raw));
      } catch {
        value = raw;
      }
      const next = line.indexOf(',', j + 1);
      pos = next < 0 ? line.length : next + 1;
    } else {
      const next = line.indexOf(',', i);
      value = line.slice(i, next < 0 ? line.length : next).trim();
      pos = next < 0 ? line.length : next + 1;
    }
    if (key.length <= 64 && /^\w[\w \-/]*$/.test(key)) out.set(key.toLowerCase(), value);
  }
  return out;
}

function int(v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined || !/^\s*\d+\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

export function parseParameters(text: string, warnings: string[]): Fields {
  const lines = text.trim().split('\n');
  let settings = settingsOf(lines[lines.length - 1] ?? '');
  if (settings.size >= 3) lines.pop();
  else settings = new Map();
  const prompt: string[] = [];
  const negative: string[] = [];
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice('Negative prompt:'.length).trim();
    }
    (inNegative ? negative : prompt).push(line);
  }
  const fields: Fields = { prompt: prompt.join('\n'), negativePrompt: negative.join('\n') };
  const size = settings.get('size')?.match(/^(\d+)x(\d+)$/);
  if (size) {
    fields.width = int(size[1], 1, 65535);
    fields.height = int(size[2], 1, 65535);
  }
  fields.steps = int(settings.get('steps'), 0, 10000);
  const cfg = Number(settings.get('cfg scale'));
  if (settings.has('cfg scale') && Number.isFinite(cfg)) fields.cfgScale = cfg;
  if (settings.has('seed')) {
    fields.seed = int(settings.get('seed'), 0, Number.MAX_SAFE_INTEGER);
    if (fields.seed === undefined) warnings.push(`the A1111 seed ${JSON.stringify(settings.get('seed'))} is not a usable seed; ignored`);
  }
  const sampler = settings.get('sampler');
  if (sampler) fields.sampler = samplerCode(sampler).slice(0, 64);
  const model = settings.get('model') ?? settings.get('model hash');
  if (model) fields.model = model.slice(0, 512);
  fields.samples = int(settings.get('batch size'), 1, 10000);
  fields.sampleIndex = int(settings.get('batch pos'), 0, 9999);
  const finish = settings.get('finish reason');
  if (finish && /^[A-Za-z0-9_]{1,64}$/.test(finish)) fields.finishReason = finish;
  for (const k of Object.keys(fields) as (keyof Fields)[]) if (fields[k] === undefined) delete fields[k];
  return fields;
}
