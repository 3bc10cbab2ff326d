// The user's settings file, `$SCHNELL_HOME/config.json`, as the engine reads it. Secrets never live
// here (they go to secrets.json or the OS store); unknown keys are kept for other parts of the app.
import fs from 'node:fs';
import path from 'node:path';
import { schnellHome } from '../models/paths.js';

export type BackendPolicy = 'local' | 'cloud' | 'auto';
export const BACKEND_POLICIES: readonly BackendPolicy[] = ['local', 'cloud', 'auto'];

export interface CloudSettings {
  /** https://api.fireworks.ai unless set. */
  baseUrl?: string;
  account?: string;
  model?: string;
  timeoutSeconds?: number;
  maxRetries?: number;
}

export interface UserConfig {
  /** The local model set to serve (a folder or checkpoint file). */
  model?: string;
  backend?: BackendPolicy;
  device?: string;
  cloud?: CloudSettings;
  [key: string]: unknown;
}

export function configFile(home: string = schnellHome()): string {
  return path.join(home, 'config.json');
}

/** Reads config.json; a missing file is an empty config, a broken one is a clear error. */
export function readUserConfig(home: string = schnellHome()): UserConfig {
  const file = configFile(home);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; fix it or delete it to start over`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file} must hold a JSON object`);
  const cfg = data as UserConfig;
  if (cfg.model !== undefined && typeof cfg.model !== 'string') throw new Error(`${file}: "model" must be a path`);
  if (cfg.backend !== undefined && !BACKEND_POLICIES.includes(cfg.backend)) throw new Error(`${file}: "backend" must be "local", "cloud" or "auto"`);
  if (cfg.cloud !== undefined && (typeof cfg.cloud !== 'object' || cfg.cloud === null)) throw new Error(`${file}: "cloud" must be an object`);
  return cfg;
}
