// Child process for crash.e2e.test.ts: records generations in a loop (and now and then purges one)
// until it is killed. Prints "ready" once the library is open, then one line per recording.
import sharp from 'sharp';
import { openLibrary } from '../../../main/library/index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-child.ts LIBRARY_DIR');
const lib = await openLibrary(dir);
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const n = Math.floor(Math.random() * 1e9);
  const raw = Buffer.alloc(24 * 24 * 3);
  for (let p = 0; p < raw.length; p++) raw[p] = (p * 7 + n) & 0xff;
  const image = await sharp(raw, { raw: { width: 24, height: 24, channels: 3 } }).png().toBuffer();
  const g = await lib.recordGeneration({
    prompt: `crash test ${n}`, seed: n, model: 'crash-model', backend: 'local', image, tags: i % 3 ? [] : ['crash'], project: i % 2 ? 'Crash' : null,
  });
  if (i % 4 === 3) {
    lib.trash([g.id]);
    await lib.purge([g.id]);
  }
  process.stdout.write(`recorded ${g.id}\n`);
}
