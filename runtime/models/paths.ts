// Where models live, and the name rules that keep names from manifests, servers and imports inside
// that place (the containment check itself is runtime/util/paths.ts). Names are refused, never
// "cleaned": a name that needs cleaning came from someone who should not be trusted with a path.
import fs from 'node:fs';
import path from 'node:path';
import { homePaths, schnellHome } from '../settings/home.js';
import { resolveInside, UnsafePathError } from '../util/paths.js';

export { UnsafePathError, schnellHome };

/** The installed-models folder: one model-set folder per model. */
export function modelsRoot(home: string = schnellHome()): string {
  return homePaths.models(home);
}

/** Ids of models and files: lowercase slugs, so they are safe as folder names on every platform. */
export const SLUG = /^[a-z0-9][a-z0-9._-]{0,79}$/;

// Windows device names are refused everywhere: a model folder should copy to any machine.
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/** True when `id` is a safe slug (see SLUG) and not `.`/`..`-like. */
export function isSlug(id: string): boolean {
  return SLUG.test(id) && !id.includes('..') && !RESERVED.test(id);
}

export function assertSlug(id: string, what: string): void {
  if (typeof id !== 'string' || !isSlug(id)) {
    throw new UnsafePathError(`${what} ${JSON.stringify(id)} is not a valid id: ${SLUG_RULE}`);
  }
}

/** The id rule in words, for messages. */
export const SLUG_RULE = "use 1 to 80 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit (no path separators, no '..', no Windows device names such as con or nul)";

/** One file or folder name: no separators, no `..`, no drive letters or control characters. */
export function isSafeFileName(name: string): boolean {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) return false;
  if (name === '.' || name === '..' || name.includes('..')) return false;
  if (/[/\\:\0]/.test(name) || /[\x00-\x1f\x7f]/.test(name)) return false;
  if (name.startsWith('.') || name.startsWith(' ') || name.endsWith(' ') || name.endsWith('.')) return false;
  if (RESERVED.test(name)) return false;
  return path.basename(name) === name && !path.isAbsolute(name);
}

export function assertSafeFileName(name: string, what: string): void {
  if (!isSafeFileName(name)) {
    throw new UnsafePathError(`${what} ${JSON.stringify(name)} is not a plain file name: names must not contain '/', '\\', ':', '..' or control characters, or start with '.'`);
  }
}

/**
 * Resolves `segments` (each a plain name) below `root` and proves the result stays there, with no
 * symbolic link on the way, not even one that stays inside (runtime/util/paths.ts, links 'none').
 * Returns the path below the real root. Parts that do not exist yet are fine (a download's
 * destination); `create` makes the parent folders.
 */
export function containedPath(root: string, segments: string[], opts: { create?: boolean } = {}): string {
  if (segments.length === 0) throw new UnsafePathError('no path given below the models folder', 'empty');
  for (const s of segments) assertSafeFileName(s, 'path component');
  if (opts.create) fs.mkdirSync(root, { recursive: true });
  return resolveInside(fs.realpathSync(root), segments.join('/'), { what: 'path in the models folder', links: 'none', createFolders: opts.create });
}

/**
 * Checks a relative path as written in a model folder's `schnell-model.json` (forward slashes) and
 * resolves it with containedPath. Absolute paths and `..` are refused here: only in-place imports
 * may point elsewhere, and those are recorded as absolute on purpose (see registry.ts).
 */
export function containedRelative(root: string, rel: string): string {
  if (typeof rel !== 'string' || rel.length === 0) throw new UnsafePathError('empty path in a model folder', 'empty');
  if (path.isAbsolute(rel) || /^[a-zA-Z]:/.test(rel) || rel.startsWith('\\')) {
    throw new UnsafePathError(`${rel} is an absolute path; a managed model folder may only name files inside itself`, 'absolute');
  }
  return containedPath(root, rel.split('/'));
}
