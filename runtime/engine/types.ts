// The engine's vocabulary (results, progress, backend interfaces, BackendError). Defined in
// runtime/api/backend.ts, below the engine, so the cloud client and the safety check can use it
// without importing the engine; re-exported here for the engine's callers.
export * from '../api/backend.js';
