// `$SCHNELL_HOME/config.json`: the user's settings, validated with zod. A broken file is refused
// with one sentence that names the file and the offending key; unknown keys are kept (other parts
// of the app and newer versions own them). Read once per change of the file, written atomically.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../util/files.js';
import { homePaths, schnellHome } from './home.js';

export type BackendPolicy = 'local' | 'cloud' | 'auto';
export const BACKEND_POLICIES: readonly BackendPolicy[] = ['local', 'cloud', 'auto'];

const cloudSchema = z.looseObject({
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as "https://api.fireworks.ai"' }).optional(),
  account: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).optional(),
  model: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).optional(),
  timeoutSeconds: z.number({ error: 'must be a number of seconds' }).positive({ error: 'must be above 0' }).optional(),
  maxRetries: z.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }).optional(),
});

const configSchema = z.looseObject({
  /** The local model: a folder, a checkpoint file or an installed model id. */
  model: z.string({ error: 'must be a model folder, a checkpoint file or an installed model id' }).min(1, { error: 'must not be empty' }).optional(),
  backend: z.enum(BACKEND_POLICIES as [BackendPolicy, ...BackendPolicy[]], { error: 'must be "local", "cloud" or "auto"' }).optional(),
  device: z.string({ error: 'must be a device name such as "cpu" or "cuda"' }).min(1, { error: 'must not be empty' }).optional(),
  /** The port `schnell serve` / `npm start` listen on (default 7788; the next free one when taken). */
  port: z.number({ error: 'must be a port number from 1 to 65535' }).int({ error: 'must be a whole port number from 1 to 65535' }).min(1, { error: 'must be a port number from 1 to 65535' }).max(65535, { error: 'must be a port number from 1 to 65535' }).optional(),
  /** The studio library folder (default $SCHNELL_HOME/library). */
  library: z.string({ error: 'must be a folder' }).min(1, { error: 'must not be empty' }).optional(),
  cloud: cloudSchema.optional(),
  /** A mirror of huggingface.co that model downloads use instead (SCHNELL_MODEL_MIRROR wins). */
  modelMirror: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as "https://hf-mirror.example.com"' }).optional(),
});

export type CloudSettings = z.infer<typeof cloudSchema>;
export type UserConfig = z.infer<typeof configSchema>;

/** A settings file that cannot be used; the message names the file, the key and what to do. */
export class SettingsError extends Error {
  override name = 'SettingsError';
  constructor(readonly file: string, readonly key: string | null, message: string) {
    super(message);
  }
}

export function configFile(home: string = schnellHome()): string {
  return homePaths.config(home);
}

const cache = new Map<string, { stamp: string; config: UserConfig }>();

function stampOf(file: string): string | null {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SettingsError(file, null, `cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Checks a config object; throws SettingsError naming the first bad key. */
export function checkConfig(data: unknown, file = 'config.json'): UserConfig {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new SettingsError(file, null, `${file} must hold a JSON object; fix it or delete it to start over`);
  const parsed = configSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = issue.path.join('.');
  throw new SettingsError(file, key, `${file}: "${key}" ${issue.message}; fix it or delete the key`);
}

/** Reads config.json; a missing file is an empty config, a broken one a SettingsError. */
export function readUserConfig(home: string = schnellHome()): UserConfig {
  const file = configFile(home);
  const stamp = stampOf(file);
  if (stamp === null) return {};
  const hit = cache.get(file);
  if (hit && hit.stamp === stamp) return hit.config;
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw new SettingsError(file, null, `${file} is not valid JSON (${err.message}); fix it or delete it to start over`);
    throw new SettingsError(file, null, `cannot read ${file}: ${(err as Error).message}`);
  }
  const config = checkConfig(data, file);
  cache.set(file, { stamp, config });
  return config;
}

/**
 * Changes some keys of config.json (undefined removes a key) and writes it atomically; the rest of
 * the file, unknown keys included, is kept. Returns the new config.
 */
export function updateUserConfig(changes: Partial<UserConfig>, home: string = schnellHome()): UserConfig {
  const file = configFile(home);
  const next: Record<string, unknown> = { ...readUserConfig(home) };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete next[k];
    else next[k] = v;
  }
  const config = checkConfig(next, file);
  writeJsonAtomic(file, config, { createFolder: true });
  cache.delete(file);
  return config;
}

/** The studio library folder: "library" in config.json, else $SCHNELL_HOME/library. */
export function studioLibraryDir(home: string = schnellHome()): string {
  const configured = readUserConfig(home).library;
  return configured ? path.resolve(home, configured) : homePaths.library(home);
}
