// Child process for files.test.ts: rewrites one file over and over, each version one byte value
// repeated, until it is killed. Prints "ready" after the first complete write.
import { writeAll, writeFileAtomic } from '../../../runtime/util/files.js';

const [file, sizeArg] = process.argv.slice(2);
if (!file || !sizeArg) throw new Error('usage: atomic-writer-child.ts FILE BYTES');
const size = Number(sizeArg);
for (let i = 0; ; i++) {
  // Written in 64 KiB pieces, so that a kill often lands in the middle of a version.
  const piece = Buffer.alloc(64 * 1024, i & 0xff);
  writeFileAtomic(file, (fd) => {
    for (let done = 0; done < size; done += piece.length) writeAll(fd, piece.subarray(0, Math.min(piece.length, size - done)));
  });
  if (i === 0) process.stdout.write('ready\n');
}
