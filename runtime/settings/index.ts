// The one settings module: $SCHNELL_HOME and what lives in it (config.json, secrets.json), plus the
// environment variables that override them. Nothing else in the product reads those. Sits beside
// runtime/util at the bottom of the layers, so every part of runtime/ and main/ may use it.
export * from './home.js';
export * from './config.js';
export * from './secrets.js';
export * from './env.js';
