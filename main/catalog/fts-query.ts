// Turns what a user typed into an FTS5 query that cannot be a syntax error. FTS5 has operators
// (AND OR NOT NEAR, * ^ : + - parentheses and column filters) that would let a stray quote or word
// fail the search or change its meaning, so every word becomes a quoted string (inner quotes
// doubled) and the words are ANDed. The last word matches as a prefix while it is being typed
// (no space after it), from three characters on: the index keeps 3-character prefixes, and a
// one-letter prefix would match nearly everything.
//
// Bounds keep a pasted essay from becoming a thousand-term query: the first MAX_TERMS words, each
// cut to MAX_TERM_CHARS.
const MAX_INPUT_CHARS = 10_000;
const MAX_TERMS = 32;
const MAX_TERM_CHARS = 128;
// unicode61 keeps letters, digits and private-use characters as token characters; a word without
// any of them would be an empty phrase.
const HAS_TOKEN_CHAR = /[\p{L}\p{N}\p{Co}]/u;

export function toFtsQuery(text: string): string | null {
  // NUL ends an FTS5 string early ("unterminated string"); control characters carry no meaning.
  // Lone surrogates cannot be encoded as UTF-8: drop them rather than guess.
  const cleaned = text
    .slice(0, MAX_INPUT_CHARS)
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, ' ');
  const words = cleaned
    .split(/\s+/)
    .filter((w) => HAS_TOKEN_CHAR.test(w))
    .slice(0, MAX_TERMS)
    .map((w) => Array.from(w).slice(0, MAX_TERM_CHARS).join(''));
  if (words.length === 0) return null;
  const last = words[words.length - 1]!;
  const prefixLast = !/\s$/.test(cleaned) && (last.match(/[\p{L}\p{N}\p{Co}]/gu)?.length ?? 0) >= 3;
  return words
    .map((w, i) => `"${w.replace(/"/g, '""')}"${prefixLast && i === words.length - 1 ? '*' : ''}`)
    .join(' ');
}
