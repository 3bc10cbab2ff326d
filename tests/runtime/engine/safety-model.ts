// A tiny safety classifier built with the project's own graph builder: score =
// sigmoid(k · (mean of the normalized pixels − bias)). Normalized pixels lie in [−1, 1], so with
// bias 0 a bright image is flagged and a dark one is not; bias −10 flags everything, +10 nothing.
import fs from 'node:fs';
import path from 'node:path';
import { GraphBuilder } from '../../../runtime/onnx/graph.js';

export function buildSafetyClassifier(bias: number, k = 10): Uint8Array {
  const g = new GraphBuilder('test-safety');
  const x = g.input('pixels', 'float32', [1, 3, 'height', 'width']);
  const conv = g.op('Conv', [x, g.floats([1 / 3, 1 / 3, 1 / 3], [1, 3, 1, 1])], { kernel_shape: [1, 1] });
  const mean = g.op('ReduceMean', [conv], { keepdims: 0 });
  const shifted = g.op('Sub', [mean, g.scalar(bias)]);
  const scaled = g.op('Mul', [shifted, g.scalar(k)]);
  const score = g.op('Sigmoid', [scaled]);
  const out = g.op('Reshape', [score, g.ints([1])]);
  g.output(out, 'unsafe', 'float32', [1]);
  return g.toBytes({ baseDir: process.cwd() });
}

/** Writes safety.onnx into `dir` (a model folder or $SCHNELL_HOME/models/safety). */
export function installSafetyClassifier(dir: string, mode: 'flag-all' | 'flag-none' | 'flag-bright'): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'safety.onnx');
  const bias = mode === 'flag-all' ? -10 : mode === 'flag-none' ? 10 : 0;
  fs.writeFileSync(file, buildSafetyClassifier(bias));
  return file;
}
