// `$SCHNELL_HOME/secrets.json`: API keys and tokens, readable by its owner only (0600), written
// atomically, never echoed (a broken file is named, its content never shown). The desktop app can
// put the OS keychain behind the same SecretStore interface.
import fs from 'node:fs';
import { z } from 'zod';
import { writeJsonAtomic } from '../util/files.js';
import { SettingsError } from './config.js';
import { homePaths, schnellHome } from './home.js';

export interface SecretStore {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

/** The secrets the studio knows, by the name they are stored under. */
export const SECRET_NAMES = {
  fireworksKey: 'fireworks.api_key',
  huggingFaceToken: 'huggingface.token',
} as const;

const secretsSchema = z.record(z.string(), z.string());

export class FileSecretStore implements SecretStore {
  readonly file: string;
  constructor(file: string = homePaths.secrets(schnellHome())) {
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
      throw new SettingsError(this.file, null, `cannot read ${this.file}: ${(err as Error).message}`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // Never echo the file's content: it holds secrets.
      throw new SettingsError(this.file, null, `${this.file} is not valid JSON; fix or delete it (it holds your saved keys)`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new SettingsError(this.file, null, `${this.file} must hold a JSON object of secrets; fix or delete it`);
    const parsed = secretsSchema.safeParse(data);
    if (!parsed.success) {
      const key = String(parsed.error.issues[0]!.path[0] ?? '');
      throw new SettingsError(this.file, key, `${this.file}: "${key}" must be a string; fix or delete that key`);
    }
    return parsed.data;
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
