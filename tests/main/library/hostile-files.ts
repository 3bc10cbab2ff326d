// Hostile files shared by the issue-13 tests: a PNG decompression bomb of many small compressed
// text chunks, a prompt full of terminal escapes, and FIFOs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { crc32 } from '../../../main/library/png.js';
import { makePng } from '../helpers.js';

export function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(head.subarray(4), data), 0);
  return Buffer.concat([head, data, tail]);
}

/**
 * A ~1 MB PNG: a real A1111 `parameters` chunk, then `count` zTXt/iTXt chunks each inflating to
 * `each` bytes (every one under the 16 MB per-chunk cap; together about a gigabyte).
 */
export async function bombPng(count = 300, each = 3_400_000): Promise<Buffer> {
  const png = await makePng(16, 16, 7);
  const ihdrEnd = 8 + 12 + 13;
  const zeros = zlib.deflateSync(Buffer.alloc(each, 0x61), { level: 9 });
  const bombs: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    // Under the keywords the readers look at, so a reader that skips unknown keywords is not enough.
    const keyword = ['parameters', 'schnell', 'prompt', 'invokeai_metadata'][i % 4]!;
    bombs.push(
      i % 2
        ? chunk('iTXt', Buffer.concat([Buffer.from(`${keyword}\0\x01\0\0\0`, 'latin1'), zeros]))
        : chunk('zTXt', Buffer.concat([Buffer.from(`${keyword}\0\0`, 'latin1'), zeros])),
    );
  }
  const real = chunk('tEXt', Buffer.from('parameters\0a lighthouse at dusk\nSteps: 4, Seed: 5, Size: 16x16', 'latin1'));
  return Buffer.concat([png.subarray(0, ihdrEnd), real, ...bombs, png.subarray(ihdrEnd)]);
}

/** Window title, colours, a carriage return, a bidi override, NUL, a C1 CSI and isolates. */
export const HOSTILE = 'a cat\u001b]0;pwned\u0007 in \u001b[31mred\u001b[0m\rFAKE \u202eevil\u202c \u0000nul \u009b31m c1 \u2066iso\u2069';
/** Anything a terminal acts on: C0 but \n and \t, DEL, C1, bidi controls, line/paragraph separators. */
export const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

/** A FIFO (named pipe) at `file`, replacing what was there; nobody writes to it. */
export function fifo(file: string): string {
  fs.rmSync(file, { force: true });
  execFileSync('mkfifo', [file]);
  return file;
}
