// Text for a terminal. Prompts, tags, file names and error messages come from files anyone can
// write; printed raw, an ESC ]0; sequence retitles the window, colour codes repaint it, a carriage
// return overwrites what came before on the line, U+202E reverses it, NUL truncates it in some
// terminals. Such characters are shown as escapes (\u001b), never sent; what is stored stays as it
// was. The \uXXXX form is also what JSON would write, so JSON text stays valid and equal in value.
//
//   forTerminal(text)         keeps line breaks and tabs; everything else unsafe becomes \uXXXX
//   forTerminalLine(text)     the same, on one line (line breaks too become escapes)
//   guardTerminalOutput()     the CLI's safety net: every string written to stdout/stderr passes
//                             through forTerminal, except a progress line's own leading \r and \x1b[K

/**
 * C0 controls but tab and line feed, DEL, C1 controls, the bidirectional embeddings, overrides and
 * isolates (the Trojan Source set), the line and paragraph separators, and the BOM/ZWNBSP.
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const UNSAFE_OR_NEWLINE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

const escape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Text safe to print: line breaks and tabs kept, every other control or direction mark escaped. */
export function forTerminal(text: unknown): string {
  const s = typeof text === 'string' ? text : String(text);
  return s.replace(UNSAFE, escape);
}

/** forTerminal on a single line: line breaks are escaped too (a list entry cannot start a fake line). */
export function forTerminalLine(text: unknown): string {
  const s = typeof text === 'string' ? text : String(text);
  return s.replace(UNSAFE_OR_NEWLINE, escape);
}

// A progress line starts by returning to column 0 and may clear the line; those two are ours.
const PROGRESS_PREFIX = /^\r(\x1b\[K)?/;

/** forTerminal for a chunk the CLI writes, keeping only a leading "\r" or "\r\x1b[K" (progress lines). */
export function sanitizeChunk(chunk: string): string {
  const m = PROGRESS_PREFIX.exec(chunk);
  const head = m ? m[0] : '';
  // "\r\n" line ends (Windows-style text from a file) stay line ends.
  return head + forTerminal(chunk.slice(head.length).replace(/\r\n/g, '\n'));
}

type Write = NodeJS.WriteStream['write'];
const guarded = new WeakSet<NodeJS.WriteStream>();

/**
 * Makes every string the process writes to stdout and stderr pass through sanitizeChunk. Bytes
 * (Buffers) pass untouched: an image written to stdout is not text. Idempotent.
 */
export function guardTerminalOutput(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if (guarded.has(stream)) continue;
    guarded.add(stream);
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => original(typeof chunk === 'string' ? sanitizeChunk(chunk) : chunk, ...rest)) as Write;
  }
}
