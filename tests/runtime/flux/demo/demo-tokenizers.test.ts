import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  demoCharsmap,
  demoNormalizationRules,
  MIN_CLIP_VOCAB,
  MIN_T5_VOCAB,
  writeDemoTokenizers,
} from '../../../../runtime/flux/demo/demo-tokenizers.js';
import { PrecompiledCharsmap } from '../../../../runtime/flux/text/tokenizer-components.js';
import { loadClipTokenizer, loadT5Tokenizer } from '../../../../runtime/flux/text/tokenizers.js';

function withTemp<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  return Promise.resolve()
    .then(() => fn(dir))
    .finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

const HOSTILE = [
  '',
  'a photo of a cat',
  'A Photo Of A CAT!!! 1024x1024',
  'Ｆｕｌｌｗｉｄｔｈ\u3000ｔｅｘｔ ﬁne ①②',
  'family 👨‍👩‍👧‍👦 flag 🏳️‍🌈 keycap 1️⃣',
  'ΟΔΟΣ 東京の夜景 한국어 العربية ᱚᱞ ⵜⵉⴼⵉⵏⴰⵖ 𒀀',
  'ctrl\u0000\u0007\u001b\u007f\u0085\u200b\ufeff end',
  '<|endoftext|> </s> <pad> <unk> ＜unk＞',
  '\ud800 lone surrogate',
  'word '.repeat(400),
];

test('the demo tokenizers load with the real loaders, have exactly the asked sizes, and encode any text', () =>
  withTemp(async (dir) => {
    for (const sizes of [
      { clipVocabSize: 1024, t5VocabSize: 512 },
      { clipVocabSize: MIN_CLIP_VOCAB, t5VocabSize: MIN_T5_VOCAB },
      { clipVocabSize: 3000, t5VocabSize: 4000 },
    ]) {
      const out = path.join(dir, `${sizes.clipVocabSize}-${sizes.t5VocabSize}`);
      const { clipDir, t5Dir } = writeDemoTokenizers(out, sizes);
      assert.equal(clipDir, path.join(out, 'tokenizer'));
      assert.equal(t5Dir, path.join(out, 'tokenizer_2'));
      assert.deepEqual(fs.readdirSync(clipDir).sort(), ['merges.txt', 'vocab.json']);
      assert.deepEqual(fs.readdirSync(t5Dir), ['tokenizer.json']);

      const vocab = JSON.parse(fs.readFileSync(path.join(clipDir, 'vocab.json'), 'utf8')) as Record<string, number>;
      const ids = Object.values(vocab).sort((a, b) => a - b);
      assert.deepEqual(ids, Array.from({ length: sizes.clipVocabSize }, (_, i) => i), 'ids 0…n−1, each once');
      assert.equal(vocab['<|startoftext|>'], sizes.clipVocabSize - 2);
      assert.equal(vocab['<|endoftext|>'], sizes.clipVocabSize - 1);
      assert.equal(vocab['!'], 0, 'byte tokens in CLIP order');
      const merges = fs.readFileSync(path.join(clipDir, 'merges.txt'), 'utf8').trimEnd().split('\n');
      assert.equal(merges[0], '#version: 0.2');
      assert.equal(merges.length - 1, sizes.clipVocabSize - MIN_CLIP_VOCAB);

      const t5json = JSON.parse(fs.readFileSync(path.join(t5Dir, 'tokenizer.json'), 'utf8'));
      assert.equal(t5json.model.type, 'Unigram');
      assert.equal(t5json.model.vocab.length, sizes.t5VocabSize);
      assert.deepEqual(t5json.model.vocab.slice(0, 3).map((p: [string, number]) => p[0]), ['<pad>', '</s>', '<unk>']);
      assert.equal(t5json.normalizer.type, 'Precompiled');
      assert.deepEqual(t5json.pre_tokenizer.pretokenizers.map((p: { type: string }) => p.type), ['WhitespaceSplit', 'Metaspace']);

      const clip = await loadClipTokenizer(clipDir);
      const t5 = await loadT5Tokenizer(t5Dir);
      assert.equal(clip.vocabSize, sizes.clipVocabSize);
      assert.equal(t5.vocabSize, sizes.t5VocabSize);
      assert.equal(clip.padId, sizes.clipVocabSize - 1);
      assert.equal(t5.padId, 0);
      for (const text of HOSTILE) {
        for (const tok of [clip, t5]) {
          const enc = tok.encodeIds(text);
          assert.equal(enc.length, tok.maxLength);
          assert.ok(enc.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize), `${tok.kind} ids in range for ${JSON.stringify(text.slice(0, 30))}`);
        }
        const c = clip.encodeIds(text);
        assert.equal(c[0], sizes.clipVocabSize - 2);
        assert.ok(c.includes(sizes.clipVocabSize - 1));
        assert.ok(t5.encodeIds(text).includes(1), '</s> present');
      }
    }
  }));

test('demo merges and pieces make real tokens of common words', () =>
  withTemp(async (dir) => {
    const { clipDir, t5Dir } = writeDemoTokenizers(dir, { clipVocabSize: 1024, t5VocabSize: 512 });
    const clip = await loadClipTokenizer(clipDir);
    const t5 = await loadT5Tokenizer(t5Dir);
    const vocab = JSON.parse(fs.readFileSync(path.join(clipDir, 'vocab.json'), 'utf8')) as Record<string, number>;
    assert.deepEqual(clip.encodeIds('the a of with').slice(0, 6), [1022, vocab['the</w>'], vocab['a</w>'], vocab['of</w>'], vocab['with</w>'], 1023]);
    const c = clip.encodeIds('a photo of a cat');
    const body = c.slice(1, c.indexOf(1023));
    assert.ok(body.length < 'aphotoofacat'.length && body.some((id) => id >= 512), 'merges shorten words');
    const pieces = JSON.parse(fs.readFileSync(path.join(t5Dir, 'tokenizer.json'), 'utf8')).model.vocab.map((p: [string, number]) => p[0]);
    assert.deepEqual(t5.encodeIds('a photo of a cat').slice(0, 6), ['▁a', '▁photo', '▁of', '▁a', '▁cat'].map((p) => pieces.indexOf(p)).concat(1));
    // The charsmap normalizes full-width letters and ideographic spaces; unknown characters become <unk>.
    assert.deepEqual(t5.encodeIds('ｐｈｏｔｏ\u3000ｃａｔ'), t5.encodeIds('photo cat'));
    assert.deepEqual(t5.encodeIds('東京').slice(0, 3), [pieces.indexOf('▁'), 2, 1]);
  }));

test('the same sizes always write the same bytes, atomically', () =>
  withTemp(async (dir) => {
    const sizes = { clipVocabSize: 900, t5VocabSize: 300 };
    writeDemoTokenizers(path.join(dir, 'a'), sizes);
    writeDemoTokenizers(path.join(dir, 'b'), sizes);
    writeDemoTokenizers(path.join(dir, 'b'), sizes); // overwrite in place
    for (const file of ['tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer_2/tokenizer.json']) {
      assert.ok(fs.readFileSync(path.join(dir, 'a', file)).equals(fs.readFileSync(path.join(dir, 'b', file))), file);
    }
    writeDemoTokenizers(path.join(dir, 'c'), { clipVocabSize: 901, t5VocabSize: 300 });
    assert.ok(!fs.readFileSync(path.join(dir, 'a/tokenizer/vocab.json')).equals(fs.readFileSync(path.join(dir, 'c/tokenizer/vocab.json'))));
    const leftovers = fs.readdirSync(path.join(dir, 'b'), { recursive: true }).filter((f) => String(f).endsWith('.tmp'));
    assert.deepEqual(leftovers, []);
  }));

test('the demo charsmap is a valid darts-clone trie: every rule maps, nothing else does', () => {
  const rules = demoNormalizationRules();
  const charsmap = new PrecompiledCharsmap(demoCharsmap(rules).toString('base64'), 'demo');
  for (const [from, to] of rules) assert.equal(charsmap.transform(from), to, JSON.stringify(from));
  for (const text of ['a', 'Z', 'é', 'e', '東', '\u0301', '🙂', ' ']) assert.equal(charsmap.transform(text), null, JSON.stringify(text));
  assert.equal(charsmap.normalize('Ｈｅｌｌｏ\u3000ｗｏｒｌｄ\u0007\t!'), 'Hello world !');
  assert.equal(charsmap.normalize('cafe\u0301 ﬁ'), 'café fi', 'whole graphemes first, then characters');

  const custom = new PrecompiledCharsmap(demoCharsmap([['ab', 'X'], ['a', 'Y'], ['b', '']]).toString('base64'), 'custom');
  assert.equal(custom.transform('ab'), 'Y', 'the shortest matching prefix wins, as in spm_precompiled');
  assert.equal(custom.transform('b'), '');
  assert.equal(custom.transform('c'), null);
});

test('sizes below the minimum or beyond what the demo can build are refused', () =>
  withTemp((dir) => {
    assert.throws(() => writeDemoTokenizers(dir, { clipVocabSize: MIN_CLIP_VOCAB - 1, t5VocabSize: 200 }), /at least 514/);
    assert.throws(() => writeDemoTokenizers(dir, { clipVocabSize: 600.5, t5VocabSize: 200 }), /whole number/);
    assert.throws(() => writeDemoTokenizers(dir, { clipVocabSize: 600, t5VocabSize: MIN_T5_VOCAB - 1 }), /at least 98/);
    assert.throws(() => writeDemoTokenizers(dir, { clipVocabSize: 600, t5VocabSize: 10_000_000 }), /cannot grow to 10000000 pieces/);
  }));
