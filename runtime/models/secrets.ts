// Secrets (the Hugging Face token) and the redaction every log line and error passes through.
// The desktop app will plug the OS keychain in behind SecretStore; the CLI uses a 0600 file.
import fs from 'node:fs';
import path from 'node:path';
import { schnellHome } from './paths.js';
import { writeJsonAtomic } from '../util/files.js';

export interface SecretStore {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

export const HF_TOKEN_SECRET = 'huggingface.token';

/** `$SCHNELL_HOME/secrets.json`, readable by its owner only, written atomically. */
export class FileSecretStore implements SecretStore {
  readonly file: string;
  constructor(file: string = path.join(schnellHome(), 'secrets.json')) {
    this.file = file;
  }

  private read(): Record<string, string> {
    let text: string;
    try {
      const st = fs.statSync(this.file);
      // Tighten a file someone loosened; secrets must not stay group- or world-readable.
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) fs.chmodSync(this.file, 0o600);
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    try {
      const data = JSON.parse(text) as unknown;
      if (data && typeof data === 'object' && !Array.isArray(data)) {
        return Object.fromEntries(Object.entries(data).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      }
    } catch {
      // fall through: never echo the file's content, it holds secrets
    }
    throw new Error(`${this.file} is not a JSON object of secrets; fix or delete it`);
  }

  private write(data: Record<string, string>): void {
    writeJsonAtomic(this.file, data, { mode: 0o600, createFolder: true });
  }

  async get(name: string): Promise<string | undefined> {
    return this.read()[name];
  }
  async set(name: string, value: string): Promise<void> {
    this.write({ ...this.read(), [name]: value });
  }
  async delete(name: string): Promise<void> {
    const data = this.read();
    if (name in data) {
      delete data[name];
      this.write(data);
    }
  }
}

/** The Hugging Face token: `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) first, then the secret store. */
export async function huggingFaceToken(store?: SecretStore, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const fromEnv = (env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN)?.trim();
  if (fromEnv) return fromEnv;
  const stored = (await store?.get(HF_TOKEN_SECRET))?.trim();
  return stored || undefined;
}

/** Hugging Face user tokens look like `hf_` + 30-40 letters; reject anything that would break a header. */
export function checkTokenShape(token: string): void {
  if (!/^[\x21-\x7e]{8,512}$/.test(token)) throw new Error('the token contains spaces or control characters; paste it again');
}

const PATTERNS: RegExp[] = [
  /\bhf_[A-Za-z0-9]{8,}\b/g, // Hugging Face tokens
  /(Bearer\s+)[^\s"',;]+/gi, // any bearer credential
  /(\/\/)[^/@\s]+@/g, // user:password@ in URLs
  /([?&](?:token|access_token|api_key|apikey|sig|signature|x-amz-signature|x-amz-credential)=)[^&\s"']+/gi,
];

/** Removes known secret values and anything shaped like a credential. */
export function redact(text: string, secrets: Array<string | undefined | null> = []): string {
  let out = String(text);
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  out = out.replace(PATTERNS[0]!, '[redacted]');
  out = out.replace(PATTERNS[1]!, '$1[redacted]');
  out = out.replace(PATTERNS[2]!, '$1[redacted]@');
  out = out.replace(PATTERNS[3]!, '$1[redacted]');
  return out;
}
