// Option parsing shared by the runtime's commands.
import { invalid } from '../api/errors.js';
import { PROVIDERS, type Provider } from '../onnx/session.js';

/** `--device` value → provider; one clear sentence for anything else. */
export function parseDevice(value: string | undefined): Provider {
  if (value === undefined) return 'cpu';
  const v = value.toLowerCase() as Provider;
  if (!PROVIDERS.includes(v)) throw invalid(`--device must be one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(value)} (see \`schnell devices\`)`, 'device');
  return v;
}

/** A user mistake on the command line (or in config.json): printed as one sentence, exit code 2. */
export class UsageError extends Error {}
