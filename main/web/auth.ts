// Who may use the headless studio: whoever holds the one-time sign-in link it printed at start.
// The link's code is exchanged once for a session cookie (HttpOnly, so page scripts cannot read
// it; SameSite=Strict, so no other site's page can make the browser send it). Each exchange
// retires its code; the studio prints a fresh link for the next browser.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { tokenMatches } from '../../runtime/server/http.js';

export const SESSION_COOKIE = 'schnell_studio_session';

export class StudioAuth {
  private code: string;
  private readonly sessions = new Set<string>();

  constructor(private readonly onNewCode: (code: string) => void = () => undefined) {
    this.code = newSecret();
  }

  /** The code the current sign-in link carries. */
  get signInCode(): string {
    return this.code;
  }

  /** Trades the one-time code for a session id (null when wrong or already used). */
  exchange(code: string): string | null {
    if (!tokenMatches(code, this.code)) return null;
    this.code = newSecret();
    this.onNewCode(this.code);
    const session = newSecret();
    this.sessions.add(session);
    return session;
  }

  /** Whether the request carries a live session cookie. */
  allows(req: IncomingMessage): boolean {
    const given = cookie(req, SESSION_COOKIE);
    if (!given) return false;
    for (const s of this.sessions) if (tokenMatches(given, s)) return true;
    return false;
  }

  setCookieHeader(session: string, secure: boolean): string {
    return `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** One cookie's value from the Cookie header. */
export function cookie(req: IncomingMessage, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
