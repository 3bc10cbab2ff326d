// Child process for studio-crash.e2e.test.ts: opens a studio on LIBRARY with the demo model at
// MODEL, submits three jobs, prints "job <id>" for each and "progress" once the first one is under
// way, then waits to be killed.
import { createGenerationRequest } from '../../runtime/api/index.js';
import { Studio } from '../../main/studio.js';

const [home, lib, model] = process.argv.slice(2);
if (!home || !lib || !model) throw new Error('usage: studio-crash-child.ts HOME LIBRARY MODEL');
const studio = await Studio.open({ home, library: lib, model, backend: 'local', isolate: false, env: { ...process.env, FIREWORKS_API_KEY: '' } });
const ids = [41, 42, 43].map(
  (seed) => studio.submit({ ...createGenerationRequest({ prompt: `a crash ${seed}`, seed, steps: 40 }), width: 64, height: 64 }, { source: 'ui' }).id,
);
for (const id of ids) process.stdout.write(`job ${id}\n`);
let said = false;
studio.on('job.progress', ({ jobId }) => {
  if (jobId === ids[0] && !said) {
    said = true;
    process.stdout.write('progress\n');
  }
});
setInterval(() => undefined, 1000);
