// Small, deterministic tokenizers for the untrained demo model, in the real FLUX layouts:
//   tokenizer/    vocab.json + merges.txt      (CLIP byte-level BPE: 256 bytes, 256 bytes + </w>,
//                                              merges learnt from a built-in text, then
//                                              <|startoftext|> and <|endoftext|> as the last two ids)
//   tokenizer_2/  tokenizer.json               (T5 SentencePiece unigram: <pad> 0, </s> 1, <unk> 2,
//                                              a precompiled charsmap normalizer, WhitespaceSplit +
//                                              Metaspace pre-tokenizer, `</s>` appended)
// The vocabulary sizes are exactly those asked for, so the demo model's embedding tables match.
import fs from 'node:fs';
import path from 'node:path';
import { BYTE_LEVEL_ORDER, BYTE_TO_UNICODE } from '../text/tokenizer-components.js';
import { CLIP_BOS, CLIP_EOS } from '../text/tokenizers.js';
import { writeFileAtomic } from '../../util/files.js';

export interface DemoTokenizerSizes {
  /** At least 514: 512 byte tokens + the two specials; the rest are merges. */
  clipVocabSize: number;
  /** At least 98: 3 specials, ▁ and the 94 printable ASCII characters; the rest are word pieces. */
  t5VocabSize: number;
}

export const MIN_CLIP_VOCAB = 514;
export const MIN_T5_VOCAB = 98;

const CORPUS = `a photo of a cat sitting on a wooden table next to a window with soft morning light
a beautiful landscape painting of mountains and a lake at sunset with dramatic clouds
a portrait of an old man with a long white beard wearing a red hat in the rain
a cute dog playing in the snow in a park surrounded by tall green trees
an astronaut riding a horse on the moon in the style of a detailed oil painting
the city at night with neon lights and people walking in the street after the storm
a bowl of fresh fruit on the kitchen counter with flowers in a glass vase
a small red boat on the blue sea near the rocky coast under a clear summer sky
a futuristic car parked in front of a modern house made of glass and concrete
a close up of a butterfly resting on a yellow flower in the garden`;

/** Writes `tokenizer/` (CLIP) and `tokenizer_2/` (T5) under `dir`; the same sizes always give the same bytes. */
export function writeDemoTokenizers(dir: string, sizes: DemoTokenizerSizes = { clipVocabSize: 1024, t5VocabSize: 512 }): { clipDir: string; t5Dir: string } {
  const { clipVocabSize, t5VocabSize } = sizes;
  if (!Number.isInteger(clipVocabSize) || clipVocabSize < MIN_CLIP_VOCAB) {
    throw new RangeError(`The demo CLIP vocabulary size ${clipVocabSize} must be a whole number of at least ${MIN_CLIP_VOCAB}.`);
  }
  if (!Number.isInteger(t5VocabSize) || t5VocabSize < MIN_T5_VOCAB) {
    throw new RangeError(`The demo T5 vocabulary size ${t5VocabSize} must be a whole number of at least ${MIN_T5_VOCAB}.`);
  }
  const clipDir = path.join(dir, 'tokenizer');
  const t5Dir = path.join(dir, 'tokenizer_2');
  fs.mkdirSync(clipDir, { recursive: true });
  fs.mkdirSync(t5Dir, { recursive: true });
  const { vocab, merges } = demoClipVocab(clipVocabSize);
  writeFileAtomic(path.join(clipDir, 'vocab.json'), JSON.stringify(vocab));
  writeFileAtomic(path.join(clipDir, 'merges.txt'), ['#version: 0.2', ...merges.map(([a, b]) => `${a} ${b}`)].join('\n') + '\n');
  writeFileAtomic(path.join(t5Dir, 'tokenizer.json'), JSON.stringify(demoT5TokenizerJson(t5VocabSize), null, 1));
  return { clipDir, t5Dir };
}

/** CLIP vocabulary and merges: byte tokens, merges learnt from CORPUS (then filler merges), specials last. */
export function demoClipVocab(size: number): { vocab: Record<string, number>; merges: [string, string][] } {
  const bytes = BYTE_LEVEL_ORDER.map((b) => BYTE_TO_UNICODE[b]!); // CLIP's order: printable bytes first
  const tokens: string[] = [...bytes, ...bytes.map((c) => c + '</w>')];
  const known = new Set(tokens);
  const merges: [string, string][] = [];
  const want = size - MIN_CLIP_VOCAB;
  const addMerge = (a: string, b: string): boolean => {
    if (merges.length >= want || known.has(a + b)) return false;
    merges.push([a, b]);
    tokens.push(a + b);
    known.add(a + b);
    return true;
  };
  // Learn merges BPE-style on the corpus's words (most frequent pair first, ties by text).
  const words = new Map<string, number>();
  for (const w of CORPUS.toLowerCase().match(/\p{L}+/gu) ?? []) words.set(w, (words.get(w) ?? 0) + 1);
  const split = [...words].map(([w, n]) => ({ parts: [...w].map((c, i, all) => (i === all.length - 1 ? c + '</w>' : c)), n }));
  while (merges.length < want) {
    const counts = new Map<string, number>();
    for (const { parts, n } of split) for (let i = 0; i + 1 < parts.length; i++) {
      const key = parts[i] + ' ' + parts[i + 1];
      counts.set(key, (counts.get(key) ?? 0) + n);
    }
    let best: string | undefined;
    for (const [key, n] of counts) if (n >= 2 && (best === undefined || n > counts.get(best)! || (n === counts.get(best)! && key < best))) best = key;
    if (best === undefined) break;
    const [a, b] = best.split(' ') as [string, string];
    if (!addMerge(a, b)) break;
    for (const w of split) {
      const out: string[] = [];
      for (let i = 0; i < w.parts.length; i++) {
        if (i + 1 < w.parts.length && w.parts[i] === a && w.parts[i + 1] === b) out.push(a + b), i++;
        else out.push(w.parts[i]!);
      }
      w.parts = out;
    }
  }
  // Filler: letter pairs, word-final pairs, then letter + earlier merge results, until the size is reached.
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  for (const x of letters) for (const y of letters) addMerge(x, y), addMerge(x, y + '</w>');
  for (let k = 0; merges.length < want && k <= 100 * want; k++) {
    const base = tokens[512 + (k % Math.max(1, tokens.length - 512))]!;
    for (const x of letters) if (!base.endsWith('</w>')) addMerge(base, x + '</w>');
  }
  // Full-size vocabularies (49408) outgrow word-final pieces: then word-inner pieces as well.
  for (let k = 512; merges.length < want && k < tokens.length; k++) {
    const base = tokens[k]!;
    if (!base.endsWith('</w>')) for (const x of letters) addMerge(base, x);
  }
  if (merges.length < want) throw new Error(`The demo CLIP vocabulary cannot grow to ${size} tokens.`);
  tokens.push(CLIP_BOS, CLIP_EOS);
  return { vocab: Object.fromEntries(tokens.map((t, i) => [t, i])), merges };
}

/** T5 tokenizer.json (unigram) of exactly `size` pieces. */
export function demoT5TokenizerJson(size: number): Record<string, unknown> {
  const pieces: [string, number][] = [['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['\u2581', -2]];
  const seen = new Set(pieces.map(([p]) => p));
  const add = (p: string, score: number) => {
    if (pieces.length < size && !seen.has(p)) pieces.push([p, score]), seen.add(p);
  };
  for (let c = 0x21; c <= 0x7e; c++) add(String.fromCharCode(c), -8 - (c - 0x21) * 0.001);
  const words = [...new Set(CORPUS.match(/\p{L}+/gu) ?? [])];
  words.forEach((w, i) => add('\u2581' + w, -3 - i * 0.001));
  words.forEach((w, i) => add(w, -4 - i * 0.001));
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  let i = 0;
  for (const x of letters) for (const y of letters) add('\u2581' + x + y, -5 - i++ * 0.0001), add(x + y, -6 - i++ * 0.0001);
  for (const x of letters) for (const y of letters) for (const z of letters) add(x + y + z, -6.5 - i++ * 0.00001);
  if (pieces.length < size) throw new RangeError(`The demo T5 vocabulary cannot grow to ${size} pieces; use at most ${pieces.length}.`);
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
    normalizer: { type: 'Precompiled', precompiled_charsmap: demoCharsmap().toString('base64') },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: pieces, byte_fallback: false },
  };
}

/** The demo's normalization rules: a small part of SentencePiece's nmt_nfkc. */
export function demoNormalizationRules(): [string, string][] {
  const rules: [string, string][] = [];
  for (let c = 0x01; c <= 0x1f; c++) rules.push([String.fromCharCode(c), c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? ' ' : '']);
  rules.push(['\x7f', ''], ['\u200b', ''], ['\ufeff', ''], ['\u00ad', '']);
  for (const c of [0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]) rules.push([String.fromCharCode(c), ' ']);
  for (let c = 0x2000; c <= 0x200a; c++) rules.push([String.fromCharCode(c), ' ']);
  for (let c = 0xff01; c <= 0xff5e; c++) rules.push([String.fromCharCode(c), String.fromCharCode(c - 0xfee0)]);
  rules.push(['\ufb01', 'fi'], ['\ufb02', 'fl'], ['\u2026', '...'], ['e\u0301', '\u00e9'], ['\u2460', '1'], ['\u2461', '2'], ['\u2462', '3']);
  return rules;
}

/**
 * SentencePiece precompiled charsmap: u32 LE trie size, a darts-clone double-array trie over the
 * rules' UTF-8 keys (values = byte offsets of NUL-terminated replacements), then the replacements.
 */
export function demoCharsmap(rules: [string, string][] = demoNormalizationRules()): Buffer {
  const enc = new TextEncoder();
  const poolParts: Uint8Array[] = [];
  let poolSize = 0;
  type Node = { children: Map<number, Node>; value?: number };
  const root: Node = { children: new Map() };
  for (const [from, to] of [...rules].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const bytes = enc.encode(to);
    const value = poolSize;
    poolParts.push(bytes, new Uint8Array([0]));
    poolSize += bytes.length + 1;
    let node = root;
    for (const b of enc.encode(from)) {
      let next = node.children.get(b);
      if (!next) node.children.set(b, (next = { children: new Map() }));
      node = next;
    }
    node.value = value;
  }
  const units: number[] = [0];
  const usedSlot = new Set<number>([0]);
  const usedBase = new Set<number>();
  // Place each node's children (and its value unit at label 0) at base ^ label, breadth first.
  const queue: { node: Node; pos: number }[] = [{ node: root, pos: 0 }];
  let searchFrom = 1;
  while (queue.length > 0) {
    const { node, pos } = queue.shift()!;
    const labels = [...node.children.keys()].sort((a, b) => a - b);
    if (node.value !== undefined) labels.unshift(0);
    if (labels.length === 0) continue;
    let base = searchFrom;
    while (usedBase.has(base) || base === pos || labels.some((l) => usedSlot.has(base ^ l))) base++;
    while (usedSlot.has(searchFrom)) searchFrom++;
    usedBase.add(base);
    const offset = pos ^ base;
    if (offset >= 1 << 21) throw new Error('The demo charsmap grew too large for a simple double-array.');
    units[pos] = ((units[pos] ?? 0) | (offset << 10) | (node.value !== undefined ? 1 << 8 : 0)) >>> 0;
    for (const l of labels) {
      usedSlot.add(base ^ l);
      if (l === 0) units[base] = (node.value! | 0x80000000) >>> 0;
      else {
        units[base ^ l] = l;
        queue.push({ node: node.children.get(l)!, pos: base ^ l });
      }
    }
  }
  const trie = Buffer.alloc(4 * units.length);
  for (let i = 0; i < units.length; i++) trie.writeUInt32LE(units[i] ?? 0, 4 * i);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(trie.length, 0);
  return Buffer.concat([head, trie, ...poolParts]);
}
