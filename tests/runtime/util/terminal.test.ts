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
import { openLibrary } from '../../../main/library/index.js';
import { withPngText } from '../../../main/library/png.js';
import { schnell } from '../../cli/cli-harness.js';
import { makePng, tempDir } from '../../main/helpers.js';

const HOSTILE = 'a cat\u001b]0;pwned\u0007 in \u001b[31mred\u001b[0m\rFAKE \u202eevil\u202c \u0000nul \u009b31m c1 \u2066iso\u2069';
// Nothing a terminal acts on: C0 but \n and \t, DEL, C1, bidi controls, line/paragraph separators.
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

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

test('library list, show, search and import print a hostile prompt escaped; the catalog keeps it as it was', async () => {
  const home = tempDir();
  const src = tempDir();
  const lib = path.join(tempDir(), 'lib');
  fs.writeFileSync(
    path.join(src, `evil\u001b[2Jname.png`),
    // Our JSON chunk: JSON can carry a NUL, which PNG text itself cannot.
    withPngText(await makePng(8, 8, 5), [
      { keyword: 'schnell', text: JSON.stringify({ schnell: 1, prompt: HOSTILE, negativePrompt: '\u001b[8mhidden', model: '\u001b]8;;http://x\u0007m', tags: ['\u202etag'] }) },
    ]),
  );
  const imported = await schnell(['library', 'import', src, '--library', lib], { home });
  assert.equal(imported.code, 0, imported.stderr);
  assert.doesNotMatch(imported.stdout, ACTIVE);
  const l = await openLibrary(lib);
  const g = l.page().items[0]!;
  l.close();
  assert.equal(g.prompt, HOSTILE, 'stored text unchanged');
  assert.equal(g.negativePrompt, '\u001b[8mhidden');
  for (const argv of [['list'], ['show', g.id], ['search', 'cat'], ['list', '--json'], ['show', g.id, '--json']]) {
    const r = await schnell(['library', ...argv, '--library', lib], { home });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, ACTIVE, argv.join(' '));
    assert.doesNotMatch(r.stderr, ACTIVE, argv.join(' '));
    if (argv.includes('--json')) {
      const parsed = JSON.parse(r.stdout);
      const item = parsed.items ? parsed.items[0] : parsed;
      assert.equal(item.prompt, HOSTILE, 'JSON carries the exact text');
    }
  }
  // An error message quoting file-derived text is escaped too.
  const bad = await schnell(['library', 'show', `\u001b]0;x\u0007`, '--library', lib], { home });
  assert.equal(bad.code, 1);
  assert.doesNotMatch(bad.stderr, ACTIVE);
});
