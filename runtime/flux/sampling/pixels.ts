// From decoder output to image files: the reference's pixel conversion (clamp to [-1, 1], then
// `uint8(127.5·(x + 1))` with truncation, as torch's `.byte()`), and PNG/JPEG through sharp. Also
// the cheap step preview: a fixed linear map from latent channels to RGB, no decoder run.
import sharp from 'sharp';
import type { ImageFormat } from '../../api/headers.js';

export type { ImageFormat };

/** [1, 3, H, W] floats → H·W·3 bytes (HWC). Arithmetic in float32 like torch's, so bytes match. */
export function toPixels(decoded: Float32Array, height: number, width: number): Uint8Array {
  const plane = height * width;
  if (decoded.length < 3 * plane) throw new Error(`internal error: decoder output has ${decoded.length} values, ${3 * plane} needed`);
  const out = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const x = decoded[c * plane + i]!;
      // NaN (a broken model) becomes black rather than undefined behaviour.
      const clamped = x > 1 ? 1 : x >= -1 ? x : -1;
      const v = Math.fround(Math.fround(clamped + 1) * 127.5);
      out[i * 3 + c] = Math.trunc(v);
    }
  }
  return out;
}

/** Crops a [1, C, H', W'] tensor to its top-left H×W (the decoder works on whole 16-pixel blocks). */
export function cropPlanes(data: Float32Array, channels: number, fromH: number, fromW: number, height: number, width: number): Float32Array {
  if (fromH === height && fromW === width) return data;
  const out = new Float32Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const src = (c * fromH + y) * fromW;
      out.set(data.subarray(src, src + width), (c * height + y) * width);
    }
  }
  return out;
}

export async function encodeImage(pixels: Uint8Array, width: number, height: number, format: ImageFormat, jpegQuality = 90): Promise<Buffer> {
  const img = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels: 3 } });
  return format === 'png'
    ? img.png({ compressionLevel: 6 }).toBuffer()
    : img.jpeg({ quality: Math.max(1, Math.min(100, Math.round(jpegQuality))), chromaSubsampling: '4:4:4' }).toBuffer();
}

// FLUX latent channels → RGB: the linear fit that ComfyUI publishes for FLUX.1 previews
// (comfy/latent_formats.py, class Flux), applied to the model-space latent. It is approximate by
// design: a preview costs one multiply per channel instead of a decoder run.
const LATENT_RGB: readonly (readonly [number, number, number])[] = [
  [-0.0346, 0.0244, 0.0681], [0.0034, 0.021, 0.0687], [0.0275, -0.0668, -0.0433], [-0.0174, 0.016, 0.0617],
  [0.0859, 0.0721, 0.0329], [0.0004, 0.0383, 0.0115], [0.0405, 0.0861, 0.0915], [-0.0236, -0.0185, -0.0259],
  [-0.0245, 0.025, 0.118], [0.1008, 0.0755, -0.0421], [-0.0515, 0.0201, 0.0011], [0.0428, -0.0012, -0.0036],
  [0.0817, 0.0765, 0.0749], [-0.1264, -0.0522, -0.1103], [-0.028, -0.0881, -0.0499], [-0.1262, -0.0982, -0.0778],
];
const LATENT_RGB_BIAS = [-0.0329, -0.0718, -0.0851] as const;

/**
 * A small PNG of a latent [C, h, w] (one pixel per latent cell, 1/8 of the image size). Models with
 * other than 16 channels fall back to the first three channels as a colour field.
 */
export async function previewPng(latent: Float32Array, channels: number, h: number, w: number): Promise<Buffer> {
  const plane = h * w;
  const rgb = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) {
      let v: number;
      if (channels === LATENT_RGB.length) {
        v = LATENT_RGB_BIAS[k]!;
        for (let c = 0; c < channels; c++) v += latent[c * plane + i]! * LATENT_RGB[c]![k]!;
      } else {
        v = latent[Math.min(k, channels - 1) * plane + i]! * 0.5;
      }
      rgb[i * 3 + k] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5))) || 0;
    }
  }
  return sharp(Buffer.from(rgb.buffer), { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}
