// Secrets in the desktop app (the Fireworks key, the local API's token): encrypted with Electron's
// safeStorage (Keychain, DPAPI, libsecret/kwallet) into a 0600 file. On Linux without a keyring
// safeStorage falls back to a fixed plain-text key ('basic_text'); the store says so, and the UI
// shows that warning where the key is entered. Where no encryption is offered at all, the
// studio's 0600 secrets file is used, with the same warning.
import fs from 'node:fs';
import type { SecretStorageInfo } from '../contract.js';
import { FileSecretStore, type SecretStore } from '../../runtime/settings/index.js';
import { writeJsonAtomic } from '../../runtime/util/files.js';

/** The parts of Electron's safeStorage used here (passed in, so tests run in Node). */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  getSelectedStorageBackend?(): string;
}

export const PLAIN_TEXT_WARNING =
  'Your keys are stored without OS encryption: this Linux session has no keyring (GNOME Keyring or KWallet) for the app to use, so anyone who can read your files can read them. Install or unlock a keyring and restart to protect them.';

export function secretStorageInfo(safe: SafeStorageLike, platform: NodeJS.Platform = process.platform): SecretStorageInfo {
  if (!safe.isEncryptionAvailable()) return { backend: 'file', warning: PLAIN_TEXT_WARNING };
  if (platform === 'linux' && safe.getSelectedStorageBackend?.() === 'basic_text') return { backend: 'basic_text', warning: PLAIN_TEXT_WARNING };
  return { backend: 'os', warning: null };
}

export class SafeSecretStore implements SecretStore {
  private readonly fallback: FileSecretStore;

  constructor(readonly file: string, private readonly safe: SafeStorageLike, fallbackFile: string) {
    this.fallback = new FileSecretStore(fallbackFile);
  }

  private encrypted(): boolean {
    return this.safe.isEncryptionAvailable();
  }

  private read(): Record<string, string> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    const data = JSON.parse(text) as unknown;
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error(`${this.file} is not a JSON object; delete it and enter your keys again`);
    return Object.fromEntries(Object.entries(data as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  }

  async get(name: string): Promise<string | undefined> {
    if (!this.encrypted()) return this.fallback.get(name);
    const sealed = this.read()[name];
    if (sealed === undefined) return this.fallback.get(name);
    try {
      return this.safe.decryptString(Buffer.from(sealed, 'base64'));
    } catch {
      // Encrypted under another user or keyring: unusable, as if absent.
      return undefined;
    }
  }

  async set(name: string, value: string): Promise<void> {
    if (!this.encrypted()) return this.fallback.set(name, value);
    const data = this.read();
    data[name] = this.safe.encryptString(value).toString('base64');
    writeJsonAtomic(this.file, data, { mode: 0o600, createFolder: true });
    // One place per secret: a copy left in the plain file would outlive the encrypted one.
    await this.fallback.delete(name);
  }

  async delete(name: string): Promise<void> {
    await this.fallback.delete(name);
    if (!this.encrypted()) return;
    const data = this.read();
    if (name in data) {
      delete data[name];
      writeJsonAtomic(this.file, data, { mode: 0o600, createFolder: true });
    }
  }
}
