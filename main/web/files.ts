// Serving files to the UI without leaving their folders: library images and thumbnails (for the
// headless studio's /files/… and the desktop's schnell-image:// protocol alike) and the built
// renderer. Names arrive percent-encoded from a URL; encoded separators, NUL, backslashes and '..'
// are refused before decoding can hide them, then the library's realpath containment decides.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isInside, joinInside, UnsafePathError } from '../../runtime/util/paths.js';

export class FileRefused extends Error {
  override name = 'FileRefused';
  constructor(message: string, readonly status: 400 | 403 | 404) {
    super(message);
  }
}

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The relative name in a URL path (`images/ab/abc.png` from `/files/images/ab/abc.png` with
 * prefix `/files/`), decoded; refuses what could smuggle a different path past the checks.
 */
export function nameFromUrlPath(rawPath: string, prefix: string): string {
  if (!rawPath.startsWith(prefix)) throw new FileRefused('not a file address', 404);
  const raw = rawPath.slice(prefix.length);
  if (/%(2f|5c|00)/i.test(raw)) throw new FileRefused('encoded separators and NUL are not allowed in file names', 400);
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new FileRefused('the file name is not valid percent-encoding', 400);
  }
  if (name.includes('\0')) throw new FileRefused('NUL is not allowed in file names', 400);
  if (name.includes('\\')) throw new FileRefused('backslashes are not allowed in file names', 400);
  if (name.split('/').some((p) => p === '..' || p === '.')) throw new FileRefused("'..' and '.' steps are not allowed in file names", 400);
  return name;
}

/** A resolver that proves a library name stays inside the library after realpath (Library.resolveFile). */
export type ResolveLibraryFile = (name: string) => Promise<string>;

/** The real path of a library image or thumbnail named in a URL, or a FileRefused. */
export async function libraryFileFor(rawPath: string, prefix: string, resolve: ResolveLibraryFile): Promise<string> {
  const name = nameFromUrlPath(rawPath, prefix);
  try {
    const file = await resolve(name);
    const st = await fs.promises.stat(file);
    if (!st.isFile()) throw new FileRefused('not a file', 404);
    return file;
  } catch (err) {
    if (err instanceof FileRefused) throw err;
    const msg = (err as Error).message ?? String(err);
    if (/does not exist|ENOENT/.test(msg)) throw new FileRefused('no such image in the library', 404);
    throw new FileRefused(`refused: ${msg}`, 403);
  }
}

/** A file of the built renderer (index.html for the root), contained lexically and after realpath. */
export async function rendererFileFor(rendererDir: string, urlPath: string): Promise<string | null> {
  const name = nameFromUrlPath(urlPath, '/');
  const rel = name === '' ? 'index.html' : name;
  let file: string;
  try {
    file = joinInside(rendererDir, rel, 'file name');
    const real = await fs.promises.realpath(file);
    if (!isInside(await fs.promises.realpath(rendererDir), real)) return null;
    const st = await fs.promises.stat(real);
    return st.isFile() ? real : null;
  } catch (err) {
    if (err instanceof UnsafePathError) throw new FileRefused(err.message, 400);
    return null;
  }
}

/** A Response streaming the file (for Electron's protocol.handle and anything fetch-shaped). */
export function fileResponse(file: string, headers: Record<string, string> = {}): Response {
  const stream = Readable.toWeb(fs.createReadStream(file)) as ReadableStream<Uint8Array>;
  return new Response(stream, { status: 200, headers: { 'Content-Type': contentType(file), 'Cache-Control': 'private, max-age=31536000, immutable', ...headers } });
}

/** Shown when renderer/dist has not been built yet: what to run. No script, so the CSP holds. */
export const PLACEHOLDER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Schnell Studio</title></head>
<body><main><h1>Schnell Studio</h1>
<p>The studio is running, but its user interface has not been built yet.</p>
<p>Run <code>npm run build:renderer</code> (or <code>npm run build</code>) in the project folder, then reload this page.</p>
<p>The studio's API answers at <code>/api/&lt;command&gt;</code> meanwhile.</p></main></body></html>
`;
