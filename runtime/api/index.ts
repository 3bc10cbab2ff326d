// The Fireworks text_to_image contract (../shared/docs/api.md) as one module: request schema,
// response encoding, errors. Used by the server, the cloud client, the CLI and the studio.
export * from './errors.js';
export * from './headers.js';
export * from './resolutions.js';
export * from './request.js';
export * from './response.js';
export * from './openai.js';
export * from './warnings.js';
