// The two FLUX.1 text tokenizers: CLIP-L (byte-level BPE, 77 ids) and T5 (SentencePiece unigram,
// 256 ids for schnell, 512 for dev). Built on @huggingface/tokenizers with the parts that differ
// from Hugging Face's Rust implementation replaced (tokenizer-components.ts), so ids match
// `CLIPTokenizerFast` / `T5TokenizerFast` exactly, including on text outside the vocabulary.
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { buildNormalizer, buildPreTokenizer, specialsAround, TokenMatcher } from './tokenizer-components.js';
import { NotRegularFileError, readRegularFileSync } from '../../util/regular-file.js';

// What we use of the library's tokenizer; its .d.ts leaves these members untyped under NodeNext.
interface LibModel {
  (pieces: string[]): string[];
  tokens_to_ids: Map<string, number>;
  unk_token_id?: number;
  scores?: number[];
}
interface LibTokenizer {
  model: LibModel | null;
  token_to_id(token: string): number | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}

export type TokenizerKind = 'clip' | 't5';

export interface TextTokenizer {
  readonly kind: TokenizerKind;
  /** Every encoding has exactly this many ids. */
  readonly maxLength: number;
  readonly padId: number;
  /** Largest id + 1 (the smallest embedding table that accepts every id). */
  readonly vocabSize: number;
  /** Fixed-length ids (specials added, truncated keeping the end token, padded) as int64 for the encoders. */
  encode(text: string): BigInt64Array;
  /** The same ids as plain numbers. */
  encodeIds(text: string): number[];
}

export interface TokenizerOptions {
  /** CLIP: 77 by default; T5: 256 by default (FLUX.1 dev uses 512). */
  maxLength?: number;
  /** Where a CLIP folder has both: 'auto' prefers tokenizer.json. */
  source?: 'auto' | 'tokenizer-json' | 'vocab-merges';
}

/** A tokenizer.json document (the parts we read). */
export interface TokenizerJson {
  added_tokens: { id: number; content: string; special?: boolean; normalized?: boolean; [k: string]: unknown }[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  model: Record<string, unknown>;
  post_processor: unknown;
  decoder: unknown;
  padding?: { pad_id?: number; pad_token?: string } | null;
  [k: string]: unknown;
}

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';

/**
 * The tokenizer.json that `transformers.CLIPTokenizerFast` saves for a CLIP vocab.json + merges.txt
 * pair (a FLUX `tokenizer/` folder ships only those two files).
 */
export function clipTokenizerJson(vocab: Record<string, number>, merges: [string, string][], source = 'vocab.json'): TokenizerJson {
  const bos = vocab[CLIP_BOS];
  const eos = vocab[CLIP_EOS];
  if (bos === undefined || eos === undefined) {
    throw new Error(`${source} lacks the CLIP special tokens ${CLIP_BOS} and ${CLIP_EOS}; use the vocab.json from the model's tokenizer folder.`);
  }
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(bos, CLIP_BOS), special(eos, CLIP_EOS)].sort((a, b) => a.id - b.id),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [CLIP_EOS, eos], cls: [CLIP_BOS, bos], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_EOS,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** Parses merges.txt: an optional `#version` line, then one `left right` pair per line, each part and their join in the vocabulary. */
export function parseMerges(text: string, vocab: Record<string, number>, source = 'merges.txt'): [string, string][] {
  const lines = text.split(/\r?\n/);
  const merges: [string, string][] = [];
  lines.forEach((line, i) => {
    if (line.length === 0 || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new Error(`${source} line ${i + 1} is not a "left right" merge pair; use the merges.txt from the model's tokenizer folder.`);
    }
    const [a, b] = parts as [string, string];
    for (const t of [a, b, a + b]) {
      if (!Object.hasOwn(vocab, t)) throw new Error(`${source} line ${i + 1} uses "${t}", which is not in vocab.json; the two files do not belong together.`);
    }
    merges.push([a, b]);
  });
  return merges;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readRegularFileSync(file, 'tokenizer file', 'utf8');
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new Error(`${e.message}.`);
    throw new Error(`Cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; replace the tokenizer files.`);
  }
}

/** The pad token a tokenizer folder names (tokenizer_config.json / special_tokens_map.json), if any. */
function configuredPadToken(dir: string): string | undefined {
  for (const name of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    const pad = (readJson(file) as { pad_token?: unknown } | null)?.pad_token;
    if (typeof pad === 'string') return pad;
    if (pad && typeof pad === 'object' && typeof (pad as { content?: unknown }).content === 'string') return (pad as { content: string }).content;
  }
  return undefined;
}

function checkTokenizerJson(json: unknown, file: string): TokenizerJson {
  const j = json as Partial<TokenizerJson> | null;
  if (!j || typeof j !== 'object' || !j.model || typeof j.model !== 'object') {
    throw new Error(`${file} has no "model" section; it is not a Hugging Face tokenizer.json.`);
  }
  return {
    ...j,
    added_tokens: Array.isArray(j.added_tokens) ? j.added_tokens : [],
    normalizer: j.normalizer ?? null,
    pre_tokenizer: j.pre_tokenizer ?? null,
    post_processor: j.post_processor ?? null,
    decoder: j.decoder ?? null,
  } as TokenizerJson;
}

interface BuildOptions {
  kind: TokenizerKind;
  maxLength: number;
  /** Pad token named by the folder's tokenizer_config.json / special_tokens_map.json (wins, as in transformers). */
  padToken?: string;
  /** Pad token when neither the folder nor tokenizer.json names one. */
  defaultPadToken: string;
  source: string;
}

/** A fixed-length tokenizer from a tokenizer.json document. */
export function tokenizerFromJson(json: TokenizerJson, opts: BuildOptions): TextTokenizer {
  let tokenizer: LibTokenizer;
  try {
    tokenizer = new Tokenizer(json, {}) as unknown as LibTokenizer;
  } catch (e) {
    throw new Error(`${opts.source} could not be loaded as a tokenizer (${(e as Error).message}); replace the tokenizer files.`);
  }
  const normalizer = buildNormalizer(json.normalizer, opts.source);
  const preTokenizer = buildPreTokenizer(json.pre_tokenizer);
  const model = tokenizer.model;
  if (!model) throw new Error(`${opts.source} has no tokenizer model; replace the tokenizer files.`);
  if (json.model.type === 'Unigram') {
    // Rust scores the literal unknown piece with its own vocabulary score; only unknown characters get the penalty.
    const unk = json.model.unk_id;
    const entry = typeof unk === 'number' ? (json.model.vocab as [string, number][])[unk] : undefined;
    if (entry && model.scores) model.scores[unk as number] = entry[1];
  }
  // Added tokens are matched as Rust does: unnormalized ones in the raw text, normalized ones in
  // each normalized section, never a whole section that merely normalizes to a token's text.
  const rawTokens = new TokenMatcher(json.added_tokens.filter((t) => t.normalized === false));
  const normalizedTokens = new TokenMatcher(
    json.added_tokens.filter((t) => t.normalized !== false).map((t) => ({ ...t, content: normalizer ? normalizer(t.content) : t.content })),
  );
  const unkId = model.unk_token_id;
  // Each pre-token is encoded on its own (as in Rust, so unknown pieces never fuse across two), and
  // only until the ids fill the room left by truncation: later text cannot change earlier ids.
  const bodyIds = (text: string, limit: number): number[] => {
    const ids: number[] = [];
    const sections = rawTokens.split(text);
    for (let sectionIndex = 0; sectionIndex < sections.length && ids.length < limit; sectionIndex++) {
      const section = sections[sectionIndex]!;
      if (typeof section === 'number') {
        ids.push(section);
        continue;
      }
      for (const part of normalizedTokens.split(normalizer ? normalizer(section) : section)) {
        if (ids.length >= limit) break;
        if (typeof part === 'number') ids.push(part);
        else if (part.length > 0) {
          for (const piece of preTokenizer ? preTokenizer(part, { section_index: sectionIndex }) : [part]) {
            for (const t of model([piece])) ids.push(model.tokens_to_ids.get(t) ?? unkId ?? 0);
            if (ids.length >= limit) break;
          }
        }
      }
    }
    return ids;
  };

  const tokenId = (t: string) => tokenizer.token_to_id(t);
  const { prefix, suffix } = specialsAround(json.post_processor, tokenId);
  const padToken = opts.padToken ?? json.padding?.pad_token ?? opts.defaultPadToken;
  const padId = opts.padToken === undefined && typeof json.padding?.pad_id === 'number' ? json.padding.pad_id : tokenId(padToken);
  if (padId === undefined) throw new Error(`${opts.source} has no pad token "${padToken}"; replace the tokenizer files.`);
  const maxLength = opts.maxLength;
  const room = maxLength - prefix.length - suffix.length;
  if (!Number.isInteger(maxLength) || room < 0) {
    throw new Error(`A ${opts.kind} max length of ${maxLength} leaves no room for its ${prefix.length + suffix.length} special tokens; use a larger max length.`);
  }
  let vocabSize = 0;
  for (const id of tokenizer.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);

  const encodeIds = (text: string): number[] => {
    if (typeof text !== 'string') throw new TypeError('The prompt must be a string.');
    // Python cannot hold lone surrogates; U+FFFD is what they become in UTF-8.
    const body = bodyIds(text.replace(/\p{Cs}/gu, '\uFFFD'), room);
    const ids = [...prefix, ...body.slice(0, room), ...suffix];
    while (ids.length < maxLength) ids.push(padId);
    return ids;
  };
  return {
    kind: opts.kind,
    maxLength,
    padId,
    vocabSize,
    encodeIds,
    encode: (text) => BigInt64Array.from(encodeIds(text), (x) => BigInt(x)),
  };
}

/** CLIP tokenizer from a folder with tokenizer.json, or with vocab.json + merges.txt (as FLUX ships it). */
export async function loadClipTokenizer(dir: string, opts: TokenizerOptions = {}): Promise<TextTokenizer> {
  const jsonFile = path.join(dir, 'tokenizer.json');
  const vocabFile = path.join(dir, 'vocab.json');
  const mergesFile = path.join(dir, 'merges.txt');
  const source = opts.source ?? 'auto';
  const padToken = configuredPadToken(dir);
  const maxLength = opts.maxLength ?? 77;
  if (source !== 'vocab-merges' && fs.existsSync(jsonFile)) {
    return tokenizerFromJson(checkTokenizerJson(readJson(jsonFile), jsonFile), { kind: 'clip', maxLength, padToken, defaultPadToken: CLIP_EOS, source: jsonFile });
  }
  if (source === 'tokenizer-json') throw new Error(`${jsonFile} does not exist; point at a CLIP tokenizer folder.`);
  if (!fs.existsSync(vocabFile) || !fs.existsSync(mergesFile)) {
    throw new Error(`The CLIP tokenizer folder ${dir} has neither tokenizer.json nor vocab.json + merges.txt; point at the model's tokenizer folder.`);
  }
  const vocab = readJson(vocabFile);
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab) || !Object.values(vocab).every((v) => Number.isInteger(v) && v >= 0)) {
    throw new Error(`${vocabFile} is not a token → id map; use the vocab.json from the model's tokenizer folder.`);
  }
  const v = vocab as Record<string, number>;
  const merges = parseMerges(readRegularFileSync(mergesFile, 'tokenizer file', 'utf8'), v, mergesFile);
  return tokenizerFromJson(clipTokenizerJson(v, merges, vocabFile), { kind: 'clip', maxLength, padToken, defaultPadToken: CLIP_EOS, source: vocabFile });
}

/** T5 tokenizer from a folder's tokenizer.json (SentencePiece unigram, `</s>` appended, padded with `<pad>`). */
export async function loadT5Tokenizer(dir: string, opts: TokenizerOptions = {}): Promise<TextTokenizer> {
  const jsonFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(jsonFile)) {
    throw new Error(`The T5 tokenizer folder ${dir} has no tokenizer.json; point at the model's tokenizer_2 folder.`);
  }
  const json = checkTokenizerJson(readJson(jsonFile), jsonFile);
  if (json.model.type !== 'Unigram') throw new Error(`${jsonFile} is a ${String(json.model.type)} tokenizer, not T5's SentencePiece unigram.`);
  return tokenizerFromJson(json, { kind: 't5', maxLength: opts.maxLength ?? 256, padToken: configuredPadToken(dir), defaultPadToken: '<pad>', source: jsonFile });
}

export interface TokenizerCaseResult {
  ok: boolean;
  prompts?: number;
  mismatches?: number;
  /** Up to three failing prompts with both id lists (pads trimmed). */
  failures?: { index: number; prompt: string; expected: number[]; actual: number[] }[];
  error?: string;
}

/**
 * Checks our tokenizers against `expected_ids.json` (normative: `clip_hf_fast`,
 * `t5_T5TokenizerFast_legacyTrue`) using the `clip/` and `t5/` folders beside it. CLIP is checked
 * as FLUX ships it (vocab.json + merges.txt) and, where present, from tokenizer.json.
 */
export async function runTokenizerCases(dir: string): Promise<Record<string, TokenizerCaseResult>> {
  const expectedFile = path.join(dir, 'expected_ids.json');
  if (!fs.existsSync(expectedFile)) return {};
  const cases: Record<string, TokenizerCaseResult> = {};
  let expected: { prompts?: unknown; [k: string]: unknown };
  try {
    expected = readJson(expectedFile) as typeof expected;
    if (!Array.isArray(expected.prompts)) throw new Error(`${expectedFile} has no "prompts" list.`);
  } catch (e) {
    return { tokenizers: { ok: false, error: (e as Error).message } };
  }
  const prompts = expected.prompts as string[];
  const plan: { name: string; folder: string; key: string; load: (maxLength: number) => Promise<TextTokenizer> }[] = [
    { name: 'tokenizer_clip', folder: 'clip', key: 'clip_hf_fast', load: (m) => loadClipTokenizer(path.join(dir, 'clip'), { maxLength: m, source: 'vocab-merges' }) },
    { name: 'tokenizer_clip_json', folder: 'clip/tokenizer.json', key: 'clip_hf_fast', load: (m) => loadClipTokenizer(path.join(dir, 'clip'), { maxLength: m, source: 'tokenizer-json' }) },
    { name: 'tokenizer_t5', folder: 't5', key: 't5_T5TokenizerFast_legacyTrue', load: (m) => loadT5Tokenizer(path.join(dir, 't5'), { maxLength: m }) },
  ];
  for (const { name, folder, key, load } of plan) {
    if (!fs.existsSync(path.join(dir, folder)) || !Array.isArray(expected[key])) continue;
    const want = expected[key] as number[][];
    try {
      if (want.length !== prompts.length) throw new Error(`${expectedFile}: "${key}" has ${want.length} entries for ${prompts.length} prompts.`);
      const tok = await load(want[0]?.length ?? 77);
      const failures: NonNullable<TokenizerCaseResult['failures']> = [];
      let mismatches = 0;
      prompts.forEach((prompt, index) => {
        const actual = tok.encodeIds(prompt);
        const exp = want[index]!;
        if (actual.length === exp.length && actual.every((id, k) => id === exp[k])) return;
        mismatches++;
        if (failures.length < 3) failures.push({ index, prompt, expected: trimPads(exp, tok.padId), actual: trimPads(actual, tok.padId) });
      });
      cases[name] = { ok: mismatches === 0, prompts: prompts.length, mismatches, ...(failures.length ? { failures } : {}) };
    } catch (e) {
      cases[name] = { ok: false, error: (e as Error).message };
    }
  }
  return cases;
}

function trimPads(ids: number[], pad: number): number[] {
  let end = ids.length;
  while (end > 0 && ids[end - 1] === pad) end--;
  return ids.slice(0, Math.min(ids.length, end + 1));
}
