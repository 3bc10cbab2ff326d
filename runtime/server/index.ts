// The local HTTP server (schnell serve).
export { startServer, MAX_BODY_BYTES, TEXT_TO_IMAGE_PATH, type ServerOptions, type RunningServer } from './server.js';
export { ensureServerToken, tokenFile } from './token.js';
export { hostAllowed } from './http.js';
