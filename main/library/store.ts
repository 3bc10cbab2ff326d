import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { CatalogDamageError, REPAIR_COMMAND, type ImageFormat } from '../catalog/index.js';
import { IMAGE_HASH } from '../catalog/rows.js';
import { writeFileAtomicAsync } from '../../runtime/util/files.js';
import { isPng, pngForDecoding } from './png.js';

// The content-addressed file store: images/ab/<sha256>.png and thumbs/ab/<sha256>.webp. Every write
// is a temp file in the target folder, fsync, rename, fsync of the folder (runtime/util/files.ts), so
// a file under its final name is always complete, and a crash leaves at most a .tmp- file that a
// scan sweeps up.

export const IMAGES = 'images';
export const THUMBS = 'thumbs';
export const THUMB_SIZE = 256;
const EXTENSIONS: Record<ImageFormat, string> = { png: 'png', jpeg: 'jpg' };

export const STORED_NAME = /^([0-9a-f]{64})\.(png|jpg)$/;
export const THUMB_NAME = /^([0-9a-f]{64})\.webp$/;

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The one place a stored file's name is made from catalog values, so it is where they are proven
 * to be ours: a 64-digit lowercase hash and a known format. A catalog edited by hand (a hash of
 * '../../etc/passwd', an absolute path) gets a sentence with the repair command, never a path.
 */
function checkStored(hash: unknown, format?: unknown): asserts hash is string {
  if (typeof hash !== 'string' || !IMAGE_HASH.test(hash)) {
    throw new CatalogDamageError(`the catalog is damaged: ${JSON.stringify(String(hash).slice(0, 80))} is not an image hash; run '${REPAIR_COMMAND}' to fix it`);
  }
  if (format !== undefined && !Object.hasOwn(EXTENSIONS, String(format))) {
    throw new CatalogDamageError(`the catalog is damaged: ${JSON.stringify(String(format).slice(0, 80))} is not an image format; run '${REPAIR_COMMAND}' to fix it`);
  }
}

export function imageRelPath(hash: string, format: ImageFormat): string {
  checkStored(hash, format);
  return path.join(IMAGES, hash.slice(0, 2), `${hash}.${EXTENSIONS[format]}`);
}

export function thumbRelPath(hash: string): string {
  checkStored(hash);
  return path.join(THUMBS, hash.slice(0, 2), `${hash}.webp`);
}

/** Whether a catalog value can name a stored file (see checkStored). */
export function isStoredName(hash: unknown, format: unknown): boolean {
  return typeof hash === 'string' && IMAGE_HASH.test(hash) && Object.hasOwn(EXTENSIONS, String(format));
}

export function formatOfExtension(ext: string): ImageFormat {
  return ext === 'jpg' ? 'jpeg' : 'png';
}

/** Writes bytes to file atomically and durably, making its folder if needed; the file either holds all of them or is untouched. */
export function writeLibraryFile(file: string, bytes: Buffer): Promise<void> {
  return writeFileAtomicAsync(file, bytes, { mode: 0o644, createFolder: true });
}

/** A 256-pixel WebP of the image (fit inside, never enlarged). */
export async function makeThumbnail(bytes: Buffer): Promise<Buffer> {
  // failOn 'error': a damaged ancillary chunk is a libpng warning, not a reason to lose the image.
  // The decoder gets the pixels without the metadata chunks (see pngForDecoding: text bombs).
  return sharp(isPng(bytes) ? pngForDecoding(bytes) : bytes, { failOn: 'error', limitInputPixels: 16384 * 16384 })
    .rotate()
    .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.promises.lstat(file);
    return true;
  } catch {
    return false;
  }
}
