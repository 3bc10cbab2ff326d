// Tokenizer parts that must behave exactly like Hugging Face's Rust `tokenizers`, where
// @huggingface/tokenizers (JS) only approximates them. Each part notes the difference it removes;
// everything else in a tokenizer.json is left to the library.
import * as hf from '@huggingface/tokenizers';

type Json = Record<string, unknown>;

/** Text → normalized text. */
export type NormalizeFn = (text: string) => string;
/** Pieces → finer pieces (the section index lets Metaspace 'first' prepend only once). */
export type PreTokenizeFn = (text: string, options?: { section_index?: number }) => string[];

// The package's .d.ts files use extensionless relative exports that NodeNext cannot follow, so the
// few runtime classes we need are typed here.
const lib = hf as unknown as {
  SequenceNormalizer: new (config: object) => NormalizeFn;
  SequencePreTokenizer: new (config: object) => PreTokenizeFn;
};

/** Rust's `char::is_whitespace` and Oniguruma's `\s` are both the White_Space property (JS `\s` adds U+FEFF and lacks U+0085). */
const WHITESPACE_RUN = /\p{White_Space}+/gu;

/** Rust lowercases char by char (`char::to_lowercase`): no final-sigma rule, unlike `String.prototype.toLowerCase`. */
export function charLowercase(text: string): string {
  if (/^[\x00-\x7f]*$/.test(text)) return text.toLowerCase();
  let out = '';
  for (const ch of text) out += ch.toLowerCase();
  return out;
}

/** Rust `Strip` trims `char::is_whitespace` characters. */
function whitespaceStrip(left: boolean, right: boolean): NormalizeFn {
  return (text) => {
    let t = text;
    if (left) t = t.replace(/^\p{White_Space}+/u, '');
    if (right) t = t.replace(/\p{White_Space}+$/u, '');
    return t;
  };
}

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * SentencePiece's precompiled character map (T5's `nmt_nfkc`), applied the way Rust `tokenizers`
 * does: per extended grapheme cluster under 6 UTF-8 bytes, else per character, each replaced by the
 * rule of the SHORTEST matching prefix in the darts-clone double-array trie. The JS library
 * replaces this with plain NFKC plus a few substitutions, which differs on control characters,
 * spaces and many compatibility characters.
 */
export class PrecompiledCharsmap {
  private readonly trie: Uint32Array;
  private readonly pool: Uint8Array;
  private readonly cache = new Map<string, string | null>();

  constructor(charsmapBase64: string, source = 'tokenizer.json') {
    const blob = Buffer.from(charsmapBase64, 'base64');
    if (blob.length < 4) throw new Error(`${source}: the Precompiled normalizer's charsmap is too short; replace the tokenizer files.`);
    const trieBytes = blob.readUInt32LE(0);
    if (trieBytes % 4 !== 0 || trieBytes === 0 || 4 + trieBytes > blob.length) {
      throw new Error(`${source}: the Precompiled normalizer's charsmap is malformed (trie of ${trieBytes} bytes in ${blob.length}); replace the tokenizer files.`);
    }
    this.trie = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.trie.length; i++) this.trie[i] = blob.readUInt32LE(4 + 4 * i);
    this.pool = new Uint8Array(blob.subarray(4 + trieBytes));
  }

  /** Replacement for `chunk` from its shortest trie prefix, or null (keep it). */
  transform(chunk: string): string | null {
    const hit = this.cache.get(chunk);
    if (hit !== undefined) return hit;
    const key = utf8.encode(chunk);
    const trie = this.trie;
    let result: string | null = null;
    let pos = offsetOf(trie[0]!);
    for (const byte of key) {
      if (byte === 0) break;
      pos ^= byte;
      const unit = trie[pos];
      if (unit === undefined || (unit & 0x800000ff) >>> 0 !== byte) break;
      pos ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        const leaf = trie[pos];
        if (leaf === undefined) break;
        result = this.poolString(leaf & 0x7fffffff);
        break; // the first (shortest) match wins, as in spm_precompiled
      }
    }
    if (this.cache.size < 100_000) this.cache.set(chunk, result);
    return result;
  }

  private poolString(start: number): string | null {
    if (start > this.pool.length) return null;
    let end = start;
    while (end < this.pool.length && this.pool[end] !== 0) end++;
    try {
      return utf8Decoder.decode(this.pool.subarray(start, end));
    } catch {
      return null;
    }
  }

  normalize(text: string): string {
    let out = '';
    for (const { segment } of graphemes.segment(text)) {
      if (utf8Length(segment) < 6) {
        const whole = this.transform(segment);
        if (whole !== null) {
          out += whole;
          continue;
        }
      }
      for (const ch of segment) out += this.transform(ch) ?? ch;
    }
    return out;
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * GPT-2's byte-level alphabet: printable bytes keep their character, the other 68 bytes map to
 * U+0100 onwards. `BYTE_LEVEL_ORDER` lists the bytes in the table's own order (printable first),
 * which is the order of the first 256 ids of a CLIP vocabulary.
 */
export const BYTE_LEVEL_ORDER: readonly number[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const rest: number[] = [];
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) rest.push(b);
  return [...printable, ...rest];
})();

/** Byte → its character in the byte-level alphabet. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const table: string[] = new Array(256);
  BYTE_LEVEL_ORDER.forEach((b, i) => (table[b] = i < 188 ? String.fromCodePoint(b) : String.fromCodePoint(256 + i - 188)));
  return table;
})();

/** Rust's ByteLevel regex runs on Oniguruma, whose `\s`/`\S` is White_Space (JS `\s` differs on U+FEFF and U+0085). */
const BYTE_LEVEL_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

function byteLevel(addPrefixSpace: boolean, useRegex: boolean): PreTokenizeFn {
  return (text) => {
    const t = addPrefixSpace && !text.startsWith(' ') ? ' ' + text : text;
    const pieces = useRegex ? (t.match(BYTE_LEVEL_PATTERN) ?? []) : [t];
    return pieces.map((p) => Array.from(utf8.encode(p), (b) => BYTE_TO_UNICODE[b]!).join(''));
  };
}

const whitespaceSplit: PreTokenizeFn = (text) => text.split(WHITESPACE_RUN).filter((x) => x.length > 0);

/** Rust's Metaspace also splits before every replacement character when `split` is true. */
function metaspace(replacement: string, prepend: 'always' | 'never' | 'first', split: boolean): PreTokenizeFn {
  return (text, options) => {
    let t = text.replaceAll(' ', replacement);
    const wantsPrefix = prepend === 'always' || (prepend === 'first' && (options?.section_index ?? 0) === 0);
    if (wantsPrefix && !t.startsWith(replacement)) t = replacement + t;
    if (!split) return [t];
    const out: string[] = [];
    let start = 0;
    for (let i = t.indexOf(replacement, 1); i !== -1; i = t.indexOf(replacement, i + replacement.length)) {
      if (i > start) out.push(t.slice(start, i));
      start = i;
    }
    if (start < t.length) out.push(t.slice(start));
    return out;
  };
}

/** A normalizer for a tokenizer.json `normalizer` entry, with the Rust-exact parts swapped in. */
export function buildNormalizer(config: unknown, source: string): NormalizeFn | null {
  if (config === null || config === undefined) return null;
  const c = config as Json;
  switch (c.type) {
    case 'Sequence': {
      const steps = ((c.normalizers as unknown[]) ?? []).map((x) => buildNormalizer(x, source)).filter((x): x is NormalizeFn => x !== null);
      return (text) => steps.reduce((t, step) => step(t), text);
    }
    case 'Lowercase':
      return charLowercase;
    case 'Strip':
      return whitespaceStrip(c.strip_left === true, c.strip_right === true);
    case 'Precompiled': {
      if (typeof c.precompiled_charsmap !== 'string' || c.precompiled_charsmap.length === 0) return null;
      const charsmap = new PrecompiledCharsmap(c.precompiled_charsmap, source);
      return (text) => charsmap.normalize(text);
    }
    default: {
      const fn = new lib.SequenceNormalizer({ type: 'Sequence', normalizers: [c] });
      return (text) => fn(text);
    }
  }
}

/** A pre-tokenizer for a tokenizer.json `pre_tokenizer` entry, with the Rust-exact parts swapped in. */
export function buildPreTokenizer(config: unknown): PreTokenizeFn | null {
  if (config === null || config === undefined) return null;
  const c = config as Json;
  switch (c.type) {
    case 'Sequence': {
      const steps = ((c.pretokenizers as unknown[]) ?? []).map(buildPreTokenizer).filter((x): x is PreTokenizeFn => x !== null);
      return (text, options) => steps.reduce<string[]>((pieces, step) => pieces.flatMap((p) => step(p, options)), [text]);
    }
    case 'ByteLevel':
      return byteLevel(c.add_prefix_space === true, c.use_regex !== false);
    case 'WhitespaceSplit':
      return whitespaceSplit;
    case 'Metaspace': {
      const scheme = c.prepend_scheme ?? (c.add_prefix_space === false ? 'never' : 'always');
      return metaspace(
        typeof c.replacement === 'string' ? c.replacement : '\u2581',
        scheme === 'never' || scheme === 'first' ? scheme : 'always',
        c.split !== false,
      );
    }
    default: {
      const fn = new lib.SequencePreTokenizer({ type: 'Sequence', pretokenizers: [c] });
      return (text, options) => fn(text, options);
    }
  }
}

/** Splits text into plain sections and added-token ids, leftmost-longest (Rust uses Aho-Corasick LeftmostLongest). */
export class TokenMatcher {
  private readonly byFirst = new Map<string, { content: string; id: number }[]>();
  constructor(tokens: { content: string; id: number }[]) {
    for (const t of tokens) {
      if (t.content.length === 0) continue;
      const list = this.byFirst.get(t.content[0]!) ?? [];
      list.push({ content: t.content, id: t.id });
      this.byFirst.set(t.content[0]!, list);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.content.length - a.content.length);
  }
  split(text: string): (string | number)[] {
    if (this.byFirst.size === 0) return [text];
    const out: (string | number)[] = [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      const hit = this.byFirst.get(text[i]!)?.find((t) => text.startsWith(t.content, i));
      if (!hit) {
        i++;
        continue;
      }
      if (i > start) out.push(text.slice(start, i));
      out.push(hit.id);
      i += hit.content.length;
      start = i;
    }
    if (start < text.length) out.push(text.slice(start));
    return out;
  }
}

/** Ids a post-processor puts before and after a single sequence. */
export function specialsAround(processor: unknown, tokenId: (t: string) => number | undefined): { prefix: number[]; suffix: number[] } {
  const p = processor as Record<string, unknown> | null;
  if (!p) return { prefix: [], suffix: [] };
  const pairId = (x: unknown): number[] => {
    const arr = x as [string, number] | undefined;
    return Array.isArray(arr) && typeof arr[1] === 'number' ? [arr[1]] : [];
  };
  switch (p.type) {
    case 'RobertaProcessing':
    case 'BertProcessing':
      return { prefix: pairId(p.cls), suffix: pairId(p.sep) };
    case 'TemplateProcessing': {
      const specials = (p.special_tokens ?? {}) as Record<string, { ids?: number[] }>;
      const prefix: number[] = [];
      const suffix: number[] = [];
      let seenSequence = false;
      for (const piece of (p.single ?? []) as Record<string, { id: string }>[]) {
        if (piece.Sequence) {
          seenSequence = true;
          continue;
        }
        const name = piece.SpecialToken?.id;
        if (name === undefined) continue;
        const ids = specials[name]?.ids ?? [tokenId(name)].filter((x): x is number => x !== undefined);
        (seenSequence ? suffix : prefix).push(...ids);
      }
      return { prefix, suffix };
    }
    case 'Sequence': {
      const out = { prefix: [] as number[], suffix: [] as number[] };
      for (const sub of (p.processors ?? []) as unknown[]) {
        // Later processors wrap the output of earlier ones.
        const s = specialsAround(sub, tokenId);
        out.prefix.unshift(...s.prefix);
        out.suffix.push(...s.suffix);
      }
      return out;
    }
    default:
      return { prefix: [], suffix: [] };
  }
}
