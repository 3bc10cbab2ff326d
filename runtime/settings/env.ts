// The environment variables that override saved settings, read here only: a key in the
// environment wins over one in secrets.json, a base URL over config.json's "cloud".
export function fireworksKeyFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.FIREWORKS_API_KEY?.trim() || undefined;
}

export function fireworksBaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.FIREWORKS_BASE_URL?.trim() || undefined;
}

export function huggingFaceTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return (env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN)?.trim() || undefined;
}
