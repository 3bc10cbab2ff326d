// `schnell serve` as users run it (a child process, the real CLI) on a fresh untrained demo model,
// for the tests that point clients nobody here wrote (the AI SDK, the openai package) at it.
import sharp from 'sharp';
import { type ServeProcess, TOKEN, spawnServe, tempDir, writeTempDemoModel } from '../runtime/server/helpers.js';

export { TOKEN };

export interface DemoServer {
  url: string;
  serve: ServeProcess;
  close(): Promise<void>;
}

export async function startDemoServer(): Promise<DemoServer> {
  const home = tempDir('schnell-interop-home-');
  const demo = await writeTempDemoModel();
  // No Fireworks key: every answer must come from this machine.
  const serve = await spawnServe(['--model', demo.dir, '--token', TOKEN, '--backend', 'local', '--max-queue', '8'], { SCHNELL_HOME: home.dir, FIREWORKS_API_KEY: '' });
  if (serve.info.local?.untrained !== true) throw new Error('expected the untrained demo model');
  return {
    url: serve.url,
    serve,
    async close() {
      const { code } = await serve.stop('SIGTERM');
      demo.cleanup();
      home.cleanup();
      if (code !== 0) throw new Error(`schnell serve exited with ${code}:\n${serve.output()}`);
    },
  };
}

/** Format and size of encoded image bytes, read by a real decoder. */
export async function imageInfo(bytes: Uint8Array): Promise<{ format: string | undefined; width: number | undefined; height: number | undefined }> {
  const m = await sharp(Buffer.from(bytes)).metadata();
  return { format: m.format, width: m.width, height: m.height };
}
