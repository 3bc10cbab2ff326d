// The local server's bearer token: given on the command line, or created on first start and kept
// in $SCHNELL_HOME/server-token (readable by the owner only). The creator prints it once.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { homePaths } from '../settings/home.js';
import { writeFileAtomic } from '../util/files.js';

export const TOKEN_FILE = 'server-token';

export function tokenFile(home: string): string {
  return homePaths.serverToken(home);
}

/** The stored token, creating one when there is none. `created` tells the caller to print it. */
export function ensureServerToken(home: string): { token: string; created: boolean; file: string } {
  const file = tokenFile(home);
  try {
    const st = fs.statSync(file);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
    const token = fs.readFileSync(file, 'utf8').trim();
    if (isValidToken(token)) return { token, created: false, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the server token ${file}: ${(err as Error).message}`);
  }
  const token = `sk-schnell-${randomBytes(24).toString('base64url')}`;
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, `${token}\n`, { mode: 0o600 });
  return { token, created: true, file };
}

/** Printable, header-safe, long enough to resist guessing. */
export function isValidToken(token: string): boolean {
  return /^[\x21-\x7e]{16,512}$/.test(token);
}
