// Option parsing shared by the runtime's commands.
import { invalid } from '../runtime/api/errors.js';
import { PROVIDERS, type Provider } from '../runtime/onnx/session.js';

export { argsErrorMessage, UsageError } from './usage.js';

/** `--device` value → provider; one clear sentence for anything else. */
export function parseDevice(value: string | undefined): Provider {
  if (value === undefined) return 'cpu';
  const v = value.toLowerCase() as Provider;
  if (!PROVIDERS.includes(v)) throw invalid(`--device must be one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(value)} (see \`schnell devices\`)`, 'device');
  return v;
}

type ArgOptions = NonNullable<import('node:util').ParseArgsConfig['options']>;

/**
 * argv with `--flag -3` written as `--flag=-3` for the string options: parseArgs refuses a value
 * that starts with a dash ("ambiguous"), so `--seed -1` or `--negative-prompt "-blurry"` would get
 * three lines about parser syntax instead of the value's own check. A following known option
 * (`--out --json`) stays an option, so a forgotten value is still reported as missing.
 */
export function joinDashValues(argv: readonly string[], options: ArgOptions): string[] {
  const known = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    known.add(`--${name}`);
    if (o.short) known.add(`-${o.short}`);
  }
  const isKnown = (a: string) => known.has(a.split('=')[0]!) || (/^-[^-]/.test(a) && known.has(a.slice(0, 2)));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    if (name !== undefined && !name.includes('=') && options[name]?.type === 'string' && next !== undefined && next.startsWith('-') && next !== '--' && !isKnown(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}
