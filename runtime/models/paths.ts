// Where models live, and the one check that keeps names from manifests, servers and imports inside
// that place. Names are refused, never "cleaned": a name that needs cleaning came from someone who
// should not be trusted with a path.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** $SCHNELL_HOME, or ~/.schnell-studio (the same default as runtime/onnx/session.ts). */
export function schnellHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.SCHNELL_HOME || path.join(os.homedir(), '.schnell-studio'));
}

/** The installed-models folder: one model-set folder per model. */
export function modelsRoot(home: string = schnellHome()): string {
  return path.join(home, 'models');
}

/** Ids of models and files: lowercase slugs, so they are safe as folder names on every platform. */
export const SLUG = /^[a-z0-9][a-z0-9._-]{0,79}$/;

// Windows device names are refused everywhere: a model folder should copy to any machine.
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

/** True when `id` is a safe slug (see SLUG) and not `.`/`..`-like. */
export function isSlug(id: string): boolean {
  return SLUG.test(id) && !id.includes('..') && !RESERVED.test(id);
}

export function assertSlug(id: string, what: string): void {
  if (typeof id !== 'string' || !isSlug(id)) {
    throw new UnsafePathError(`${what} ${JSON.stringify(id)} is not a valid id: use lowercase letters, digits, '.', '-' or '_' (no path separators, at most 80 characters)`);
  }
}

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

/** True when `child` is `root` or lies below it (both already resolved). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel) && rel.split(path.sep)[0] !== '..');
}

/**
 * Resolves `segments` (each a plain name) below `root` and proves the result stays there: the root
 * is realpath'd, every existing component on the way is lstat'd and must not be a symbolic link,
 * and `path.relative` from the real root must not climb out. Parts that do not exist yet are fine
 * (a download's destination); `create` makes the parent folders.
 */
export function containedPath(root: string, segments: string[], opts: { create?: boolean } = {}): string {
  if (segments.length === 0) throw new UnsafePathError('no path given below the models folder');
  for (const s of segments) assertSafeFileName(s, 'path component');
  if (opts.create) fs.mkdirSync(root, { recursive: true });
  const realRoot = fs.realpathSync(root);
  let current = realRoot;
  for (let i = 0; i < segments.length; i++) {
    const next = path.join(current, segments[i]!);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st?.isSymbolicLink()) {
      throw new UnsafePathError(`${next} is a symbolic link; files inside the models folder must be real files`);
    }
    if (st && i < segments.length - 1 && !st.isDirectory()) {
      throw new UnsafePathError(`${next} is not a folder`);
    }
    if (!st && opts.create && i < segments.length - 1) fs.mkdirSync(next);
    current = next;
  }
  if (!isInside(realRoot, current) || current === realRoot) {
    throw new UnsafePathError(`${segments.join('/')} would leave the models folder ${realRoot}`);
  }
  return current;
}

/**
 * Checks a relative path as written in a model folder's `schnell-model.json` (forward slashes) and
 * resolves it with containedPath. Absolute paths and `..` are refused here: only in-place imports
 * may point elsewhere, and those are recorded as absolute on purpose (see registry.ts).
 */
export function containedRelative(root: string, rel: string): string {
  if (typeof rel !== 'string' || rel.length === 0) throw new UnsafePathError('empty path in a model folder');
  if (path.isAbsolute(rel) || /^[a-zA-Z]:/.test(rel) || rel.startsWith('\\')) {
    throw new UnsafePathError(`${rel} is an absolute path; a managed model folder may only name files inside itself`);
  }
  return containedPath(root, rel.split('/'));
}
