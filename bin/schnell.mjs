#!/usr/bin/env node
// The `schnell` command. What ships (the npm package, the desktop app) runs the compiled JavaScript
// in dist/ (`npm run build`); no TypeScript loader is involved. In a development checkout, where the
// TypeScript sources sit beside this folder, it runs them through tsx (a dev dependency) instead, so
// an edit takes effect without a build and a stale dist/ is never used by mistake.
import fs from 'node:fs';

const source = new URL('../cli/index.ts', import.meta.url);
const compiled = new URL('../dist/cli/index.js', import.meta.url);

async function load() {
  if (fs.existsSync(source)) {
    let register;
    try {
      ({ register } = await import('tsx/esm/api'));
    } catch {
      register = undefined;
    }
    if (register) {
      register();
      return import(source.href);
    }
    // A checkout installed without dev dependencies: fall back to a build if there is one.
  }
  if (fs.existsSync(compiled)) return import(compiled.href);
  console.error('schnell: the compiled program is missing (dist/cli/index.js): run `npm run build` first, or `npm install` for the development dependencies.');
  process.exit(1);
}

const { main } = await load();
process.exitCode = await main(process.argv.slice(2));
