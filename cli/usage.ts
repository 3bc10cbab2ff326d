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
