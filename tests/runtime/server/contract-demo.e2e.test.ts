// End to end: `schnell serve` (a child process, as users run it) on the untrained demo model, with
// every rule of api.md checked over real HTTP (contract-suite.ts). Resolutions are api.md's own
// (about a megapixel each); the demo model is small enough to make them in about a second on a CPU.
import { contractSuite } from './contract-suite.js';
import { T2I, TOKEN, spawnServe, tempDir, writeTempDemoModel } from './helpers.js';

contractSuite('schnell serve on the demo model', async () => {
  const home = tempDir('schnell-home-');
  const demo = await writeTempDemoModel();
  const serve = await spawnServe(['--model', demo.dir, '--token', TOKEN, '--backend', 'local', '--max-queue', '1'], { SCHNELL_HOME: home.dir });
  if (serve.info.local?.untrained !== true) throw new Error('the demo model must be reported as untrained');
  return {
    url: serve.url,
    token: TOKEN,
    path: T2I,
    maxQueued: 1,
    async close() {
      const { code } = await serve.stop('SIGTERM');
      demo.cleanup();
      home.cleanup();
      if (code !== 0) throw new Error(`schnell serve exited with ${code} after SIGTERM:\n${serve.output()}`);
    },
  };
});
