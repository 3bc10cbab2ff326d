// The user's settings as the engine reads them: runtime/settings owns config.json; this re-export
// keeps the engine's public surface (BackendPolicy, readUserConfig) in one import.
export { BACKEND_POLICIES, type BackendPolicy, type CloudSettings, type UserConfig, configFile, readUserConfig } from '../settings/index.js';
