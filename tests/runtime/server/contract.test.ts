// api.md over real HTTP against the in-process server on the fault-injecting backend (run in a
// child process, as `schnell serve` runs the real one). The same suite runs against `schnell serve`
// on the demo model in contract-demo.e2e.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { contractSuite } from './contract-suite.js';
import { T2I, TOKEN, faultSpec, startTestServer, tempDir } from './helpers.js';

contractSuite('in-process server, fault-injecting backend', async () => {
  const tmp = tempDir();
  const modelFile = path.join(tmp.dir, 'model.safetensors');
  fs.writeFileSync(modelFile, 'stand-in');
  const s = await startTestServer({ policy: 'local', local: faultSpec({ modelFile, stepMs: 40 }), maxQueued: 1 });
  return {
    url: s.url,
    token: TOKEN,
    path: T2I,
    maxQueued: 1,
    async close() {
      await s.close();
      tmp.cleanup();
    },
  };
});
