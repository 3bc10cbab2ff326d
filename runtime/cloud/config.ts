// Where the cloud client gets its settings: the key from FIREWORKS_API_KEY or the user's secret store
// ($SCHNELL_HOME/secrets.json here; the desktop app plugs the OS store in behind SecretStore), the
// base URL, account and model from $SCHNELL_HOME/config.json ("cloud": {...}).
import { FileSecretStore, SECRET_NAMES, type SecretStore, fireworksBaseUrlFromEnv, fireworksKeyFromEnv, homePaths, readUserConfig, schnellHome } from '../settings/index.js';
import { FIREWORKS_ACCOUNT, FIREWORKS_BASE_URL, FIREWORKS_MODEL, FireworksClient, type FireworksOptions } from './fireworks.js';

/** The name under which the key is kept in the secret store. */
export const FIREWORKS_KEY_SECRET = SECRET_NAMES.fireworksKey;

export async function fireworksApiKey(store: SecretStore, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const fromEnv = fireworksKeyFromEnv(env);
  if (fromEnv) return fromEnv;
  return (await store.get(FIREWORKS_KEY_SECRET))?.trim() || undefined;
}

export interface CloudClientSources {
  home?: string;
  env?: NodeJS.ProcessEnv;
  store?: SecretStore;
  /** Command-line or test overrides, applied last. */
  overrides?: FireworksOptions;
}

/** A client configured the way the user set things up (no key is fine: describe().hasKey says so). */
export async function createFireworksClient(src: CloudClientSources = {}): Promise<FireworksClient> {
  const env = src.env ?? process.env;
  const home = src.home ?? schnellHome(env);
  const cloud = readUserConfig(home).cloud ?? {};
  const store = src.store ?? new FileSecretStore(homePaths.secrets(home));
  const opts: FireworksOptions = {
    apiKey: await fireworksApiKey(store, env),
    baseUrl: fireworksBaseUrlFromEnv(env) || cloud.baseUrl || FIREWORKS_BASE_URL,
    account: cloud.account ?? FIREWORKS_ACCOUNT,
    model: cloud.model ?? FIREWORKS_MODEL,
  };
  if (typeof cloud.timeoutSeconds === 'number' && cloud.timeoutSeconds > 0) opts.timeoutMs = cloud.timeoutSeconds * 1000;
  if (typeof cloud.maxRetries === 'number' && cloud.maxRetries >= 0) opts.maxRetries = cloud.maxRetries;
  return new FireworksClient({ ...opts, ...src.overrides });
}
