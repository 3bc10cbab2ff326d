// The two custom protocols, as handlers from a Request to a Response (Electron's protocol.handle
// shape, which Node's fetch types share, so tests drive them without Electron):
//   schnell-app://studio/…      the built renderer, every answer with the window's CSP
//   schnell-image://library/…   library images and thumbnails, streamed, contained after realpath
import { FileRefused, fileResponse, libraryFileFor, PLACEHOLDER_PAGE, rendererFileFor, type ResolveLibraryFile } from '../web/files.js';
import { SECURITY_HEADERS } from '../web/csp.js';
import { APP_ORIGIN, DESKTOP_CSP, IMAGE_ORIGIN, PREVIEW_ORIGIN } from './security.js';

const headers = { ...SECURITY_HEADERS, 'Content-Security-Policy': DESKTOP_CSP };

function refusal(status: number, message: string): Response {
  return new Response(message, { status, headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8' } });
}

/** The path part as it arrived, still percent-encoded (so encoded separators can be refused). */
function rawPathOf(url: string, origin: string): string | null {
  if (!url.toLowerCase().startsWith(`${origin}/`)) return null;
  return url.slice(origin.length).split(/[?#]/)[0]!;
}

/** A running job's latest preview (schnell-image://preview/<jobId>). */
export type PreviewOf = (jobId: string) => { bytes: Uint8Array; type: string } | undefined;

export function imageProtocolHandler(resolve: ResolveLibraryFile, preview?: PreviewOf): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return refusal(405, 'images are read-only');
    const previewPath = rawPathOf(request.url, PREVIEW_ORIGIN);
    if (previewPath !== null) {
      const jobId = previewPath.slice(1);
      const p = /^[A-Za-z0-9_-]{1,64}$/.test(jobId) ? preview?.(jobId) : undefined;
      if (!p) return refusal(404, 'no preview for this job');
      return new Response(p.bytes as Uint8Array<ArrayBuffer>, { status: 200, headers: { ...headers, 'Content-Type': p.type, 'Cache-Control': 'no-store' } });
    }
    const raw = rawPathOf(request.url, IMAGE_ORIGIN);
    if (raw === null) return refusal(404, 'not a library address');
    try {
      return fileResponse(await libraryFileFor(raw, '/', resolve), headers);
    } catch (err) {
      if (err instanceof FileRefused) return refusal(err.status, err.message);
      return refusal(500, 'the image could not be read');
    }
  };
}

export function appProtocolHandler(rendererDir: string): (request: Request) => Promise<Response> {
  return async (request) => {
    const raw = rawPathOf(request.url, APP_ORIGIN);
    if (raw === null) return refusal(404, 'not an app address');
    try {
      const file = await rendererFileFor(rendererDir, raw);
      if (file) return fileResponse(file, { ...headers, 'Cache-Control': 'no-cache' });
      if (raw === '/' || raw === '/index.html') {
        return new Response(PLACEHOLDER_PAGE, { status: 200, headers: { ...headers, 'Content-Type': 'text/html; charset=utf-8' } });
      }
      return refusal(404, 'not found');
    } catch (err) {
      if (err instanceof FileRefused) return refusal(err.status, err.message);
      return refusal(500, 'the file could not be read');
    }
  };
}
