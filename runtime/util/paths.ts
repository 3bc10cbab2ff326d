// The one containment check: does a path that came from outside (a manifest, a renderer, an
// import, a link someone planted) stay inside its folder? Such paths are refused, never cleaned.
// Lexical checks first (empty, NUL, absolute, '..'), then the real path, after every symbolic
// link, must still lie inside the real root: path.relative after realpath, as ComfyUI Desktop does.
import fs from 'node:fs';
import path from 'node:path';

/** Why a path was refused, for callers that word the refusal in their own terms. */
export type UnsafePathReason =
  | 'name' // not a plain name (see runtime/models/paths.ts)
  | 'empty'
  | 'nul'
  | 'absolute'
  | 'parent' // a '..' step, or otherwise leaving the root
  | 'link' // a symbolic link where none are allowed
  | 'link-outside' // a symbolic link whose target lies outside the root
  | 'not-folder' // a file where a folder is needed on the way
  | 'missing'
  | 'unresolvable'; // realpath failed for another reason (a link loop, no permission)

export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
  constructor(message: string, readonly reason: UnsafePathReason = 'name', readonly file?: string) {
    super(message);
  }
}

/**
 * True when `candidate` is `root` itself or lies below it. Purely lexical: give absolute paths,
 * and real paths (fs.realpathSync) where links must count.
 */
export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Joins `relative` to `root` after the lexical checks: refuses empty names, NUL characters,
 * absolute paths (POSIX, Windows, drive letters, UNC) and any '..' step, with either separator.
 * Touches no file: use resolveInside when links may exist.
 */
export function joinInside(root: string, relative: string, what = 'path'): string {
  if (typeof relative !== 'string' || relative.trim() === '') throw new UnsafePathError(`the ${what} is empty`, 'empty');
  const q = JSON.stringify(relative);
  if (relative.includes('\0')) throw new UnsafePathError(`the ${what} ${q} contains a NUL character; refused`, 'nul');
  if (path.isAbsolute(relative) || path.win32.isAbsolute(relative) || /^[a-zA-Z]:/.test(relative)) {
    throw new UnsafePathError(`the ${what} ${q} is absolute; only names inside ${root} are allowed`, 'absolute');
  }
  if (relative.split(/[\\/]+/).includes('..')) throw new UnsafePathError(`the ${what} ${q} climbs out with '..'; refused`, 'parent');
  const joined = path.resolve(root, relative);
  if (!isInside(path.resolve(root), joined)) throw new UnsafePathError(`the ${what} ${q} leaves ${root}; refused`, 'parent');
  return joined;
}

export interface InsideOptions {
  /** Names the path in messages ('file name', 'import path'); default 'path'. */
  what?: string;
  /**
   * 'inside' (default): links are followed, and must lead to somewhere inside the root; a link to
   * nothing counts as missing (fine for reading). 'none': every existing part of the path is
   * lstat'd and no link is accepted, not even one that stays inside (for folders we write into).
   */
  links?: 'inside' | 'none';
  /** Refuse a path that does not exist (default: parts yet to be made are fine). */
  mustExist?: boolean;
  /** With links 'none': make the missing folders on the way (not the last part). */
  createFolders?: boolean;
  /** Return the real path (links resolved) rather than root joined with `relative`. */
  real?: boolean;
}

/**
 * joinInside, then proves on disk that the result stays inside the real root (see InsideOptions).
 * `root` must exist. Returns root joined with `relative` (or the real path, with `real`).
 */
export function resolveInside(root: string, relative: string, opts: InsideOptions = {}): string {
  const what = opts.what ?? 'path';
  const joined = joinInside(root, relative, what);
  const realRoot = fs.realpathSync(root);
  const parts = path.relative(path.resolve(root), joined).split(path.sep).filter(Boolean);
  const { real, exists } = opts.links === 'none' ? walkWithoutLinks(realRoot, parts, opts.createFolders === true) : followLinks(joined, what);
  if (opts.mustExist && !exists) throw new UnsafePathError(`the ${what} ${joined} does not exist`, 'missing', joined);
  if (!isInside(realRoot, real)) throw new UnsafePathError(`the ${what} ${joined} is a link to ${real}, outside ${realRoot}; refused`, 'link-outside', joined);
  return opts.real ? real : joined;
}

/**
 * The real path of `p`, or, when `p` does not exist yet, the real path of its deepest existing
 * folder with the rest appended: so a file or folder yet to be made can be checked too.
 */
export function realPathSoFar(p: string): string {
  let cur = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    let real: string | undefined;
    try {
      real = fs.realpathSync(cur);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    if (real !== undefined) return path.join(real, ...rest.reverse());
    const parent = path.dirname(cur);
    if (parent === cur) return path.resolve(p);
    rest.push(path.basename(cur));
    cur = parent;
  }
}

function followLinks(joined: string, what: string): { real: string; exists: boolean } {
  try {
    return { real: fs.realpathSync(joined), exists: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { real: realPathSoFar(joined), exists: false };
    throw new UnsafePathError(`cannot resolve the ${what} ${joined}: ${(err as Error).message}`, 'unresolvable', joined);
  }
}

function walkWithoutLinks(realRoot: string, parts: string[], createFolders: boolean): { real: string; exists: boolean } {
  let current = realRoot;
  let exists = true;
  for (let i = 0; i < parts.length; i++) {
    const next = path.join(current, parts[i]!);
    const last = i === parts.length - 1;
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st?.isSymbolicLink()) throw new UnsafePathError(`${next} is a symbolic link; only real files and folders are accepted inside ${realRoot}`, 'link', next);
    if (st && !last && !st.isDirectory()) throw new UnsafePathError(`${next} is not a folder`, 'not-folder', next);
    if (!st) {
      if (createFolders && !last) fs.mkdirSync(next);
      else exists = false;
    }
    current = next;
  }
  return { real: current, exists };
}
