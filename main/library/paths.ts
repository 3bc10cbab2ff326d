import fs from 'node:fs';
import path from 'node:path';
import { LibraryError } from './errors.js';

// Containment checks for names that arrive from outside: a renderer asking for a file, an import
// from a folder, a link planted in the library. Lexical checks first (absolute, '..', NUL), then
// the real path (after every symlink) must still lie inside the real root: path.relative after
// realpath, as ComfyUI Desktop does it.

export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Lexically checks a relative name and joins it to root; refuses anything that could leave it. */
export function joinInside(root: string, name: string, what = 'path'): string {
  if (typeof name !== 'string' || name === '') throw new LibraryError(`the ${what} is empty`);
  if (name.includes('\0')) throw new LibraryError(`the ${what} ${JSON.stringify(name)} contains a NUL character; refused`);
  if (path.isAbsolute(name) || path.win32.isAbsolute(name) || /^[a-zA-Z]:/.test(name)) {
    throw new LibraryError(`the ${what} ${JSON.stringify(name)} is absolute; only names inside ${root} are allowed`);
  }
  if (name.split(/[\\/]+/).includes('..')) throw new LibraryError(`the ${what} ${JSON.stringify(name)} climbs out with '..'; refused`);
  const joined = path.resolve(root, name);
  if (!isInside(root, joined)) throw new LibraryError(`the ${what} ${JSON.stringify(name)} leaves ${root}; refused`);
  return joined;
}

/** The real path of an existing file under root, refusing links that lead outside it. */
export async function realInside(realRoot: string, file: string, what = 'path'): Promise<string> {
  let real: string;
  try {
    real = await fs.promises.realpath(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LibraryError(`the ${what} ${file} does not exist`);
    throw new LibraryError(`cannot resolve the ${what} ${file}: ${(err as Error).message}`);
  }
  if (!isInside(realRoot, real)) throw new LibraryError(`the ${what} ${file} is a link to ${real}, outside ${realRoot}; refused`);
  return real;
}
