// The environment variables that override saved settings, read here only: a key in the
// environment wins over one in secrets.json, a base URL over config.json's "cloud", a model
// mirror over config.json's "modelMirror".
export function fireworksKeyFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.FIREWORKS_API_KEY?.trim() || undefined;
}

export function fireworksBaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.FIREWORKS_BASE_URL?.trim() || undefined;
}

export function huggingFaceTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return (env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN)?.trim() || undefined;
}

/**
 * Where model files are fetched from instead of huggingface.co (an offline or corporate mirror):
 * SCHNELL_MODEL_MIRROR, else the Hugging Face tools' own HF_ENDPOINT.
 */
export function modelMirrorFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.SCHNELL_MODEL_MIRROR?.trim() || env.HF_ENDPOINT?.trim() || undefined;
}

/** A model catalogue (a models.json of the same shape) to use instead of the bundled one. */
export function modelManifestFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.SCHNELL_MODEL_MANIFEST?.trim() || undefined;
}
