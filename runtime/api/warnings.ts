// Things a request asks for that will not happen as written, said once in the same words by the
// server (an `X-Schnell-Warning` response header) and the CLI (a note on stderr): silently
// ignoring a field is how users end up tuning knobs that do nothing.
import type { GenerationRequest } from './request.js';

/** The response header that carries warnings (one header line per warning). */
export const WARNING_HEADER = 'X-Schnell-Warning';

/** The negative prompt acts only through true classifier-free guidance, i.e. cfg_scale above 1. */
export function negativePromptIgnored(request: Pick<GenerationRequest, 'negativePrompt' | 'cfgScale'>, names: FieldNames = {}): string | null {
  if (request.negativePrompt.trim() === '' || request.cfgScale > 1) return null;
  const neg = names.negativePrompt ?? 'negative_prompt';
  const cfg = names.cfgScale ?? 'cfg_scale';
  return `${neg} is ignored because ${cfg} is ${request.cfgScale}: it acts only with ${cfg} above 1 (true classifier-free guidance, two model runs per step)`;
}

/** How the caller spells the fields: the API's names by default, the CLI passes its flags. */
export interface FieldNames {
  negativePrompt?: string;
  cfgScale?: string;
}

/** Every warning for a validated request. */
export function requestWarnings(request: GenerationRequest, names: FieldNames = {}): string[] {
  const out: string[] = [];
  const negative = negativePromptIgnored(request, names);
  if (negative) out.push(negative);
  return out;
}
