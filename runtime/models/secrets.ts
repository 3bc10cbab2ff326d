// Secrets (the Hugging Face token) and the redaction every log line and error passes through.
// The store itself is runtime/settings (secrets.json, 0600); the desktop app may plug the OS keychain in behind SecretStore.
import { FileSecretStore, SECRET_NAMES, huggingFaceTokenFromEnv, type SecretStore } from '../settings/index.js';

export { FileSecretStore, type SecretStore };

export const HF_TOKEN_SECRET = SECRET_NAMES.huggingFaceToken;

/** The Hugging Face token: `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) first, then the secret store. */
export async function huggingFaceToken(store?: SecretStore, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const fromEnv = huggingFaceTokenFromEnv(env);
  if (fromEnv) return fromEnv;
  const stored = (await store?.get(HF_TOKEN_SECRET))?.trim();
  return stored || undefined;
}

/** A Hugging Face access token looks like hf_ and then letters and digits (34 of them today). */
export function checkHuggingFaceTokenShape(token: string): void {
  if (/\s/.test(token) || /[\x00-\x1f\x7f]/.test(token)) throw new Error('the token contains spaces or control characters; paste it again');
  if (!/^hf_[A-Za-z0-9]{20,200}$/.test(token)) {
    throw new Error(`that is not a Hugging Face token (${token.length} characters; a token starts with hf_ and then letters and digits): copy it again from https://huggingface.co/settings/tokens`);
  }
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
