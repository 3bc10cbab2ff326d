// One model resolution for every way in (the studio, `schnell generate`, `serve`, `start`, an id in
// config.json): a model folder, a single checkpoint file, a diffusers folder, or the id of a model
// installed with `schnell models`. Anything else is one sentence naming what was given.
import fs from 'node:fs';
import path from 'node:path';
import type { ModelSetSpec } from '../flux/checkpoints/checkpoint.js';
import { schnellHome } from '../settings/home.js';
import { isSlug } from './paths.js';
import { getInstalled, installedModelSource, listInstalled } from './registry.js';

export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

/** The model `choice` names: an absolute path, or an installed model's path or component spec. */
export function resolveModelChoice(choice: string, home: string = schnellHome()): string | ModelSetSpec {
  const given = choice.trim();
  if (given === '') throw new ModelNotFoundError('the model is empty; give a model folder, a .safetensors file or an installed model id');
  if (fs.existsSync(given)) return path.resolve(given);
  if (isSlug(given) && getInstalled(given, home)) return installedModelSource(given, home);
  const installed = safeList(home);
  throw new ModelNotFoundError(
    `the model ${given} does not exist: it is neither a model folder, a checkpoint file nor an installed model id` +
      (installed.length ? ` (installed: ${installed.join(', ')})` : ' (no model is installed: see `schnell models list`)'),
  );
}

function safeList(home: string): string[] {
  try {
    return listInstalled(home).map((m) => m.id);
  } catch {
    return [];
  }
}
