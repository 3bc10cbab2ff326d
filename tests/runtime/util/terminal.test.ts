// Terminal escapes from metadata (issue 13, defect 6): a prompt carrying a window-title sequence,
// colour codes, a carriage return, U+202E and NUL is printed as visible escapes by every CLI path
// (the library commands in this process, and the whole `schnell` program in a child), while the
// catalog keeps the text exactly as the file had it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { forTerminal, forTerminalLine, guardTerminalOutput, sanitizeChunk } from '../../../runtime/util/terminal.js';
import { ACTIVE, HOSTILE } from '../../main/library/hostile-files.js';
import { openLibrary } from '../../../main/library/index.js';
import { withPngText } from '../../../main/library/png.js';
import { run } from '../../../cli/library.js';
import { makePng, tempDir } from '../../main/helpers.js';

test('forTerminal shows controls and direction overrides as escapes and keeps ordinary text', () => {
  const shown = forTerminal(HOSTILE);
  assert.doesNotMatch(shown, ACTIVE);
  assert.match(shown, /a cat\\u001b\]0;pwned\\u0007 in \\u001b\[31mred/);
  assert.match(shown, /\\u202eevil/);
  assert.equal(forTerminal('naïve café 猫 🙂\n\tsecond line'), 'naïve café 猫 🙂\n\tsecond line');
  assert.equal(forTerminalLine('one\ntwo'), 'one\\u000atwo');
  // JSON stays valid and equal in value.
  const json = JSON.stringify({ prompt: HOSTILE });
  assert.deepEqual(JSON.parse(forTerminal(json)), { prompt: HOSTILE });
  // A progress line keeps its own leading \r and clear-line, and nothing else.
  assert.equal(sanitizeChunk('\r\u001b[K[###] step 1/4'), '\r\u001b[K[###] step 1/4');
  assert.equal(sanitizeChunk('\r[##] \u001b[2Jx\ry'), '\r[##] \\u001b[2Jx\\u000dy');
});

test('guardTerminalOutput sanitises every string written to the guarded stream, bytes pass untouched', () => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  const chunks: Buffer[] = [];
  (stream as unknown as PassThrough).on('data', (c: Buffer) => chunks.push(c));
  guardTerminalOutput([stream]);
  guardTerminalOutput([stream]); // idempotent
  stream.write(`${HOSTILE}\n`);
  stream.write(Buffer.from([0x1b, 0x5b]));
  const all = Buffer.concat(chunks);
  assert.doesNotMatch(all.subarray(0, all.length - 2).toString('utf8'), ACTIVE);
  assert.deepEqual([...all.subarray(all.length - 2)], [0x1b, 0x5b]);
});


test('the library commands print a hostile prompt escaped (in this process); the catalog keeps it as it was', async () => {
  const src = tempDir();
  const dir = path.join(tempDir(), 'lib');
  fs.writeFileSync(path.join(src, 'evil.png'), withPngText(await makePng(8, 8, 5), [{ keyword: 'schnell', text: JSON.stringify({ schnell: 1, prompt: HOSTILE, tags: ['\u202etag'] }) }]));
  const lib = await openLibrary(dir);
  let id: string;
  try {
    id = (await lib.importFrom([src])).imported[0]!.id;
    assert.equal(lib.get(id)!.prompt, HOSTILE);
  } finally {
    lib.close();
  }
  for (const argv of [['list'], ['show', id], ['search', 'cat'], ['show', id, '--json']]) {
    const out: string[] = [];
    const { log, error } = console;
    console.log = (...a: unknown[]) => void out.push(a.join(' '));
    console.error = (...a: unknown[]) => void out.push(a.join(' '));
    try {
      assert.equal(await run([...argv, '--library', dir]), 0, argv.join(' '));
    } finally {
      console.log = log;
      console.error = error;
    }
    assert.doesNotMatch(out.join('\n'), ACTIVE, argv.join(' '));
    if (argv.includes('--json')) assert.equal(JSON.parse(out.join('\n')).prompt, HOSTILE);
  }
});
