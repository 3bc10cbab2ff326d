// Which model catalogue the studio and `schnell models` use, and where its files come from. Offline
// and corporate machines often cannot reach huggingface.co but have a mirror of it (a local
// hf-mirror, an Artifactory remote, a plain HTTP server holding `<org>/<repo>/resolve/main/<file>`):
// SCHNELL_MODEL_MIRROR (or the Hugging Face tools' HF_ENDPOINT, or "modelMirror" in config.json)
// rewrites every https://huggingface.co/ URL of the catalogue onto it. SCHNELL_MODEL_MANIFEST
// names a whole other catalogue (same shape as resources/models.json), e.g. an organisation's own.
import fs from 'node:fs';
import { modelManifestFromEnv, modelMirrorFromEnv, readUserConfig, schnellHome } from '../settings/index.js';
import { DEFAULT_MANIFEST, loadManifest, ManifestError, parseManifest, type ModelManifest } from './manifest.js';

const HUB = 'https://huggingface.co/';

/** A mirror base as given by the user, checked: an http(s) URL; the result ends in one slash. */
export function mirrorBase(mirror: string, where = 'the model mirror'): string {
  let u: URL;
  try {
    u = new URL(mirror);
  } catch {
    throw new ManifestError(`${where} (${JSON.stringify(mirror)}) is not a URL; give one such as https://hf-mirror.example.com`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ManifestError(`${where} (${mirror}) must be an http(s) URL`);
  u.search = '';
  u.hash = '';
  return u.href.replace(/\/*$/, '/');
}

/** The URL a file is fetched from with `mirror`: huggingface.co's path kept under the mirror's base. */
export function mirrorUrl(url: string, mirror: string | null | undefined): string {
  if (!mirror || !url.startsWith(HUB)) return url;
  return mirrorBase(mirror) + url.slice(HUB.length);
}

/** The same catalogue with every huggingface.co URL pointing at the mirror. */
export function withMirror(manifest: ModelManifest, mirror: string | null | undefined): ModelManifest {
  if (!mirror) return manifest;
  const base = mirrorBase(mirror);
  return parseManifest({ version: 1, files: manifest.files.map((f) => ({ ...f, url: mirrorUrl(f.url, base) })), models: manifest.models }, manifest.source);
}

export interface CatalogueChoice {
  /** An explicit catalogue file (the CLI's --manifest); else SCHNELL_MODEL_MANIFEST, else the bundled one. */
  file?: string | undefined;
  home?: string;
  env?: NodeJS.ProcessEnv;
}

/** The model catalogue in effect, with the mirror applied (environment first, then config.json). */
export function loadModelCatalogue(o: CatalogueChoice = {}): ModelManifest {
  const env = o.env ?? process.env;
  const manifest = loadManifest(o.file ?? modelManifestFromEnv(env) ?? DEFAULT_MANIFEST);
  const fromEnv = modelMirrorFromEnv(env);
  if (fromEnv) return withMirror(manifest, mirrorBase(fromEnv, env.SCHNELL_MODEL_MIRROR?.trim() ? 'SCHNELL_MODEL_MIRROR' : 'HF_ENDPOINT'));
  return withMirror(manifest, savedMirror(o.home ?? schnellHome(env)));
}

/** "modelMirror" in config.json; a home that is no folder yet (or a file) is left to whoever needs the folder to report. */
function savedMirror(home: string): string | undefined {
  try {
    if (!fs.statSync(home).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  return readUserConfig(home).modelMirror;
}
