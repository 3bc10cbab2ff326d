// The engine: routing (local / cloud / auto), the job queue, progress and cancellation.
export * from './types.js';
export * from './config.js';
export * from './queue.js';
export * from './router.js';
export * from './engine.js';
export * from './local.js';
export { ProcessBackend, type BackendSpec, loadBackend } from './process-backend.js';
