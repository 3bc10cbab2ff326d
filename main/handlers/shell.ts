// What a transport tells the handlers about itself: how its pages address library files and
// previews, what the desktop can do that a browser cannot, and where events go.
import path from 'node:path';
import type { EventName, GalleryItem, SecretStorageInfo, StudioEvents } from '../contract.js';
import type { LibraryGeneration } from '../library/index.js';

export interface Shell {
  kind: 'desktop' | 'browser';
  /** The URL a page uses for a library file (`images/ab/….png`, `thumbs/ab/….webp`). */
  fileUrl(relativeName: string): string;
  /** The URL of a job's latest preview. */
  previewUrl(jobId: string): string;
  /** Desktop only: shows a file in the system's file manager. */
  reveal?(file: string): void;
  /** How secrets are kept here (the desktop's safeStorage, or the 0600 file). */
  secretStorage?: SecretStorageInfo;
}

export type Emit = <E extends EventName>(name: E, payload: StudioEvents[E]) => void;

/** A library row as the UI gets it: URLs instead of absolute paths. */
export function galleryItem(g: LibraryGeneration, libraryDir: string, shell: Shell): GalleryItem {
  const { file, thumbnail, ...rest } = g;
  return { ...rest, imageUrl: shell.fileUrl(relativeName(libraryDir, file)), thumbnailUrl: shell.fileUrl(relativeName(libraryDir, thumbnail)) };
}

/** `images/ab/abc.png` with forward slashes on every OS. */
export function relativeName(libraryDir: string, file: string): string {
  return path.relative(libraryDir, file).split(path.sep).join('/');
}

/** Percent-encodes each segment of a relative name for a URL path. */
export function encodeName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}
