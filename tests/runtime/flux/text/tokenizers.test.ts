import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  clipTokenizerJson,
  loadClipTokenizer,
  loadT5Tokenizer,
  parseMerges,
  runTokenizerCases,
  type TextTokenizer,
} from '../../../../runtime/flux/text/tokenizers.js';
import { writeDemoTokenizers } from '../../../../runtime/flux/demo/demo-tokenizers.js';
import { RUST_TOKENIZER_CASES } from './tokenizers.rust-cases.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
const tokDir = path.join(fixtures, 'tokenizers');
const expected = JSON.parse(fs.readFileSync(path.join(tokDir, 'expected_ids.json'), 'utf8')) as {
  prompts: string[];
  clip_hf_fast: number[][];
  t5_T5TokenizerFast_legacyTrue: number[][];
};

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
}

let clipCache: Promise<TextTokenizer> | undefined;
let t5Cache: Promise<TextTokenizer> | undefined;
const clip = () => (clipCache ??= loadClipTokenizer(path.join(tokDir, 'clip'), { source: 'vocab-merges' }));
const t5 = () => (t5Cache ??= loadT5Tokenizer(path.join(tokDir, 't5')));

/** Expected head (ids up to the end token) padded to the full length. */
function padded(head: number[], length: number, pad: number): number[] {
  return [...head, ...new Array<number>(length - head.length).fill(pad)];
}

test('conformance: every fixture prompt matches CLIPTokenizerFast and T5TokenizerFast', async () => {
  const cases = await runTokenizerCases(tokDir);
  assert.deepEqual(Object.keys(cases).sort(), ['tokenizer_clip', 'tokenizer_clip_json', 'tokenizer_t5']);
  for (const [name, result] of Object.entries(cases)) {
    assert.equal(result.error, undefined, `${name}: ${result.error}`);
    assert.equal(result.prompts, expected.prompts.length, name);
    assert.equal(result.mismatches, 0, `${name}: ${JSON.stringify(result.failures)}`);
    assert.equal(result.ok, true, name);
  }
});

test('CLIP built from vocab.json + merges.txt has the structure CLIPTokenizerFast saves', () => {
  const saved = JSON.parse(fs.readFileSync(path.join(tokDir, 'clip', 'tokenizer.json'), 'utf8'));
  const vocab = JSON.parse(fs.readFileSync(path.join(tokDir, 'clip', 'vocab.json'), 'utf8'));
  const merges = parseMerges(fs.readFileSync(path.join(tokDir, 'clip', 'merges.txt'), 'utf8'), vocab);
  const built = clipTokenizerJson(vocab, merges);
  for (const key of ['added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model']) {
    assert.deepEqual(built[key], saved[key], key);
  }
});

test('fixture ids: fixed lengths, start/end tokens, padding', async () => {
  const c = await clip();
  const t = await t5();
  assert.equal(c.maxLength, 77);
  assert.equal(c.padId, 49407);
  assert.equal(c.vocabSize, 49408);
  assert.equal(t.maxLength, 256);
  assert.equal(t.padId, 0);
  const ids = c.encode('A photo of a cat');
  assert.ok(ids instanceof BigInt64Array);
  assert.equal(ids.length, 77);
  assert.deepEqual(Array.from(ids, Number), expected.clip_hf_fast[0]);
  const t5ids = t.encode('A photo of a cat');
  assert.ok(t5ids instanceof BigInt64Array);
  assert.deepEqual(Array.from(t5ids, Number), expected.t5_T5TokenizerFast_legacyTrue[0]);
});

test('text outside the vocabulary tokenizes as Rust tokenizers does (emoji, rare scripts, controls, odd spaces)', async () => {
  const c = await clip();
  const t = await t5();
  for (const { prompt, clip: clipHead, t5: t5Head } of RUST_TOKENIZER_CASES) {
    assert.deepEqual(c.encodeIds(prompt), padded(clipHead, 77, 49407), `CLIP ${JSON.stringify(prompt.slice(0, 60))}`);
    assert.deepEqual(t.encodeIds(prompt), padded(t5Head, 256, 0), `T5 ${JSON.stringify(prompt.slice(0, 60))}`);
  }
});

test('the tokenizer.json route and the vocab + merges route agree on hostile text', async () => {
  const fromJson = await loadClipTokenizer(path.join(tokDir, 'clip'));
  const c = await clip();
  for (const { prompt } of RUST_TOKENIZER_CASES) assert.deepEqual(fromJson.encodeIds(prompt), c.encodeIds(prompt));
});

test('max length is configurable; truncation keeps the end token', async () => {
  const long = 'an intricately detailed oil painting of a lighthouse '.repeat(80);
  const dev = await loadT5Tokenizer(path.join(tokDir, 't5'), { maxLength: 512 });
  const ids = dev.encodeIds(long);
  assert.equal(ids.length, 512);
  assert.equal(ids[511], 1, '</s> kept at the end');
  assert.ok(!ids.slice(0, 511).includes(0), 'no padding in a truncated prompt');
  const shortT5 = dev.encodeIds('a cat');
  assert.equal(shortT5.length, 512);
  assert.deepEqual((await t5()).encodeIds('a cat'), shortT5.slice(0, 256));
  assert.ok(shortT5.slice(256).every((id) => id === 0));

  const c = await clip();
  const cl = c.encodeIds(long);
  assert.equal(cl.length, 77);
  assert.equal(cl[0], 49406);
  assert.equal(cl[76], 49407);
  const small = await loadClipTokenizer(path.join(tokDir, 'clip'), { maxLength: 5, source: 'vocab-merges' });
  assert.deepEqual(small.encodeIds('a photo of a cat'), [49406, 320, 1125, 539, 49407]);
  assert.deepEqual(small.encodeIds(''), [49406, 49407, 49407, 49407, 49407]);
  await assert.rejects(loadClipTokenizer(path.join(tokDir, 'clip'), { maxLength: 1, source: 'vocab-merges' }), /max length of 1 leaves no room/);
});

test('encode rejects a non-string prompt', async () => {
  const c = await clip();
  assert.throws(() => c.encodeIds(42 as unknown as string), /must be a string/);
});

test('a folder pad_token (tokenizer_config.json) decides the padding id', async () => {
  const dir = tempDir();
  try {
    const { clipDir } = writeDemoTokenizers(dir, { clipVocabSize: 600, t5VocabSize: 200 });
    const before = await loadClipTokenizer(clipDir);
    assert.equal(before.padId, 599, 'defaults to <|endoftext|>');
    fs.writeFileSync(path.join(clipDir, 'tokenizer_config.json'), JSON.stringify({ pad_token: { content: '!' } }));
    const after = await loadClipTokenizer(clipDir);
    assert.equal(after.padId, 0);
    assert.deepEqual(after.encodeIds('').slice(0, 4), [598, 599, 0, 0]);
    fs.writeFileSync(path.join(clipDir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<nope>' }));
    await assert.rejects(loadClipTokenizer(clipDir), /no pad token "<nope>"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('broken tokenizer folders give one clear sentence naming the file', async () => {
  const dir = tempDir();
  try {
    await assert.rejects(loadClipTokenizer(dir), (e: Error) => e.message.includes(dir) && /neither tokenizer\.json nor vocab\.json \+ merges\.txt/.test(e.message));
    await assert.rejects(loadT5Tokenizer(dir), /has no tokenizer\.json/);

    fs.writeFileSync(path.join(dir, 'vocab.json'), '{"a": 0,');
    fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n');
    await assert.rejects(loadClipTokenizer(dir), /vocab\.json is not valid JSON/);

    fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(['a', 'b']));
    await assert.rejects(loadClipTokenizer(dir), /not a token → id map/);

    fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify({ a: 0, b: 1, ab: 2 }));
    await assert.rejects(loadClipTokenizer(dir), /lacks the CLIP special tokens/);

    const vocab = { a: 0, b: 1, ab: 2, '<|startoftext|>': 3, '<|endoftext|>': 4 };
    fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
    fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\na b\nb\n');
    await assert.rejects(loadClipTokenizer(dir), /merges\.txt line 3 is not a "left right" merge pair/);
    fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\na c\n');
    await assert.rejects(loadClipTokenizer(dir), /line 2 uses "c", which is not in vocab\.json/);
    fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\na b\n');
    const tiny = await loadClipTokenizer(dir, { maxLength: 6 });
    assert.deepEqual(tiny.encodeIds('ab ab'), [3, 0, 4, 0, 4, 4], 'a character without its </w> form becomes the unknown token (<|endoftext|>)');

    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0' }));
    await assert.rejects(loadT5Tokenizer(dir), /tokenizer\.json has no "model" section/);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), fs.readFileSync(path.join(tokDir, 'clip', 'tokenizer.json')));
    await assert.rejects(loadT5Tokenizer(dir), /is a BPE tokenizer, not T5's SentencePiece unigram/);

    const t5json = JSON.parse(fs.readFileSync(path.join(tokDir, 't5', 'tokenizer.json'), 'utf8'));
    t5json.normalizer.precompiled_charsmap = Buffer.from([255, 255, 0, 0, 1, 2]).toString('base64');
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(t5json));
    await assert.rejects(loadT5Tokenizer(dir), /charsmap is malformed/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('runTokenizerCases reports mismatches and missing data instead of throwing', async () => {
  const dir = tempDir();
  try {
    assert.deepEqual(await runTokenizerCases(dir), {}, 'no expected_ids.json: nothing to check');
    fs.writeFileSync(path.join(dir, 'expected_ids.json'), 'not json');
    const broken = await runTokenizerCases(dir);
    assert.equal(broken.tokenizers?.ok, false);
    assert.match(broken.tokenizers?.error ?? '', /not valid JSON/);

    const { clipDir } = writeDemoTokenizers(dir, { clipVocabSize: 600, t5VocabSize: 200 });
    fs.renameSync(clipDir, path.join(dir, 'clip'));
    const wrong = { prompts: ['a cat', 'a dog'], clip_hf_fast: [[598, 1, 599], [598, 2, 599]] };
    fs.writeFileSync(path.join(dir, 'expected_ids.json'), JSON.stringify(wrong));
    const result = await runTokenizerCases(dir);
    assert.deepEqual(Object.keys(result), ['tokenizer_clip']);
    assert.equal(result.tokenizer_clip?.ok, false);
    assert.equal(result.tokenizer_clip?.mismatches, 2);
    assert.equal(result.tokenizer_clip?.failures?.[0]?.prompt, 'a cat');
    assert.deepEqual(result.tokenizer_clip?.failures?.[0]?.expected, [598, 1, 599]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
