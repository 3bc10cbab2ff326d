// The Fireworks cloud client (the cloud fallback) and where its settings come from.
export * from './fireworks.js';
export * from './errors.js';
export * from './config.js';
