#!/usr/bin/env node
// Draws the app icon (resources/icon.png, 1024×1024) with sharp from the SVG below; electron-builder
// turns it into .icns, .ico and the Linux sizes. Run it again after changing the drawing:
//   node resources/make-icon.mjs
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const SIZE = 1024;
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 1024 1024">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#23252b"/>
      <stop offset="1" stop-color="#101114"/>
    </linearGradient>
    <linearGradient id="bolt" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#ffd166"/>
      <stop offset="1" stop-color="#ff7a29"/>
    </linearGradient>
    <radialGradient id="glow" cx="0.5" cy="0.45" r="0.5">
      <stop offset="0" stop-color="#ff9f43" stop-opacity="0.35"/>
      <stop offset="1" stop-color="#ff9f43" stop-opacity="0"/>
    </radialGradient>
  </defs>
  <rect x="64" y="64" width="896" height="896" rx="200" fill="url(#bg)"/>
  <rect x="64" y="64" width="896" height="896" rx="200" fill="url(#glow)"/>
  <rect x="64" y="64" width="896" height="896" rx="200" fill="none" stroke="#3a3d46" stroke-width="8"/>
  <path d="M586 170 L300 560 L478 560 L420 854 L724 430 L540 430 Z" fill="url(#bolt)" stroke="#fff3d6" stroke-width="10" stroke-linejoin="round"/>
</svg>`;

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'icon.png');
await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toFile(out);
console.log(`wrote ${out}`);
