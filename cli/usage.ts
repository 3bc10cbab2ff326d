// What the commands share about command-line mistakes: the error class that means exit code 2, and
// parseArgs's errors as one sentence. Kept apart from options.ts so that the dispatcher (index.ts)
// can recognise them without loading the ONNX runtime.

/** A user mistake on the command line (or in config.json): printed as one sentence, exit code 2. */
export class UsageError extends Error {}

/** parseArgs's own errors, as one sentence naming the option (its messages run to three lines). */
export function argsErrorMessage(e: Error & { code?: string }, command: string): string {
  const option = /'(-[^' ]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `Unknown option '${option ?? '?'}' (\`schnell ${command} --help\` lists the options)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (option && /argument missing|ambiguous/.test(e.message)) return `${option} needs a value`;
      if (option && /does not take an argument/.test(e.message)) return `${option} takes no value`;
      break;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ''} (\`schnell ${command} --help\` lists the options)`.replace('  ', ' ');
  }
  return e.message.split('\n')[0]!;
}

/**
 * A request-schema message in the words of the command line: the API's field names (cfg_scale,
 * negative_prompt) become the flags that set them (--cfg-scale), so a message never names
 * something the user cannot type. `flags` maps field → flag; `param` is the field at fault.
 */
export function inFlagWords(message: string, param: string | null | undefined, flags: Record<string, string>): string {
  let out = message;
  for (const [field, flag] of Object.entries(flags)) {
    // Plain words (width, steps, prompt) are only replaced for the field at fault, at the start.
    const codeLike = /[_A-Z]/.test(field);
    if (codeLike) out = out.replace(new RegExp(`\\b${field}\\b`, 'g'), flag);
    else if (field === param && out.startsWith(`${field} `)) out = `${flag}${out.slice(field.length)}`;
  }
  return out;
}
