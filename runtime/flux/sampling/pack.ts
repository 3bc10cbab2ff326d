// FLUX's token layout of a latent image, exactly as the reference `prepare` and `unpack` do it:
// 2×2 patches of the [1, C, h, w] latent become tokens of C·4 channels, ordered row by row, and
// each token's position id is (0, row, column) for the rotary embedding.

/** The latent grid for a pixel size: [C, 2·ceil(H/16), 2·ceil(W/16)] (what the reference samples). */
export function latentShape(height: number, width: number, channels = 16): [number, number, number, number] {
  return [1, channels, 2 * Math.ceil(height / 16), 2 * Math.ceil(width / 16)];
}

/** `b c (h ph) (w pw) -> b (h w) (c ph pw)` for batch 1. */
export function pack(latent: Float32Array, channels: number, h: number, w: number): Float32Array {
  if (h % 2 || w % 2) throw new Error(`internal error: latent ${h}×${w} is not a whole number of 2×2 patches`);
  return repatch(latent, channels, h, w, true);
}

/** `b (h w) (c ph pw) -> b c (h ph) (w pw)` for batch 1; the inverse of `pack`. */
export function unpack(tokens: Float32Array, channels: number, h: number, w: number): Float32Array {
  if (tokens.length !== (h / 2) * (w / 2) * channels * 4) {
    throw new Error(`internal error: ${tokens.length} values cannot be unpacked to ${channels}×${h}×${w}`);
  }
  return repatch(tokens, channels, h, w, false);
}

// One index mapping for both directions, so pack and unpack stay exact inverses.
function repatch(src: Float32Array, channels: number, h: number, w: number, toTokens: boolean): Float32Array {
  const rows = h / 2, cols = w / 2, width = channels * 4;
  const out = new Float32Array(rows * cols * width);
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < cols; q++) {
      const token = (r * cols + q) * width;
      for (let c = 0; c < channels; c++) {
        for (let ph = 0; ph < 2; ph++) {
          for (let pw = 0; pw < 2; pw++) {
            const t = token + c * 4 + ph * 2 + pw;
            const l = (c * h + 2 * r + ph) * w + 2 * q + pw;
            if (toTokens) out[t] = src[l]!;
            else out[l] = src[t]!;
          }
        }
      }
    }
  }
  return out;
}

/** Position ids of the image tokens, [rows·cols, axes]: (0, row, column) for FLUX's three axes. */
export function imageIds(rows: number, cols: number, axes = 3): Float32Array {
  if (axes < 3) throw new Error(`internal error: image ids need 3 position axes, the model has ${axes}`);
  const ids = new Float32Array(rows * cols * axes);
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < cols; q++) {
      const i = (r * cols + q) * axes;
      ids[i + 1] = r;
      ids[i + 2] = q;
    }
  }
  return ids;
}

/** Position ids of the text tokens: all zeros (FLUX gives text no position of its own). */
export function textIds(tokens: number, axes = 3): Float32Array {
  return new Float32Array(tokens * axes);
}
