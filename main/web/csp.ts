// One Content-Security-Policy for the studio's UI, whichever shell shows it: the desktop window
// and the headless studio's pages get the same rules. Scripts, styles and connections only from
// the studio itself, no inline script, no eval, no remote origin, no framing, no plugins.

/** Extra image sources a shell adds (the desktop's `schnell-image:` protocol). */
export function contentSecurityPolicy(opts: { imageSources?: string[]; connectSources?: string[] } = {}): string {
  const img = ["'self'", 'blob:', ...(opts.imageSources ?? [])];
  const connect = ["'self'", ...(opts.connectSources ?? [])];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${img.join(' ')}`,
    "font-src 'self'",
    `connect-src ${connect.join(' ')}`,
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers every studio page and answer carries besides the CSP. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), usb=(), serial=(), hid=(), bluetooth=()',
});
