// The import rules of the code base, checked from the source text (TypeScript's own parser), so a
// violation fails `npm test` instead of waiting for a review:
//   - folders of runtime/ import only downwards in LAYERS (util, api ← settings ← onnx ← flux ←
//     models, safety, cloud ← engine ← server), and no two folders import each other, even
//     through others (a folder-level cycle anywhere in runtime/, main/, cli/, renderer/);
//   - runtime/ never imports main/, cli/ or renderer/; main/ never imports cli/ or renderer/;
//   - only main/electron/ imports `electron`; only runtime/onnx/ imports `onnxruntime-node`;
//   - renderer/ imports, outside itself, only types from main/contract.ts and runtime/api/, and
//     no Node built-in or native package (it runs in a browser page).
// A folder is the first two path segments (runtime/flux, main/library; main/studio.ts goes with
// main/studio/) or the top folder (cli, renderer).
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Lower numbers sit lower; a folder may import its own rank or lower ones. Unlisted folders of runtime/ are an error. */
export const LAYERS: Record<string, number> = {
  'runtime/util': 0,
  'runtime/api': 1,
  'runtime/settings': 2,
  'runtime/onnx': 3,
  'runtime/flux': 4,
  'runtime/models': 5,
  'runtime/safety': 5,
  'runtime/cloud': 5,
  'runtime/engine': 6,
  'runtime/server': 7,
};

const CHECKED = ['runtime', 'main', 'cli', 'renderer'];
const NATIVE = ['better-sqlite3', 'onnxruntime-node', 'sharp', 'electron'];

export interface ImportRef {
  from: string;
  /** The module specifier as written. */
  spec: string;
  /** Repo-relative target for relative imports, else undefined (a package). */
  target?: string;
  typeOnly: boolean;
  line: number;
}

function sourceFiles(root: string, dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sourceFiles(root, rel);
    return /\.(ts|tsx|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Every import, export-from, dynamic import() and import type of one file. */
export function importsOf(root: string, file: string): ImportRef[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const refs: ImportRef[] = [];
  const add = (node: ts.Node, spec: string, typeOnly: boolean) => {
    const target = spec.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) : undefined;
    refs.push({ from: file, spec, target, typeOnly, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = node.isTypeOnly || (!!node.exportClause && ts.isNamedExports(node.exportClause) && node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly));
      add(node, node.moduleSpecifier.text, typeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      add(node, node.arguments[0].text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node, node.argument.literal.text, true);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      add(node, node.moduleReference.expression.text, node.isTypeOnly);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

/**
 * The folder a repo-relative path belongs to, for the folder-level graph. A file at the top of
 * runtime/ or main/ counts with the folder of its name (main/studio.ts with main/studio/), so a
 * leaf such as main/contract.ts is not lumped together with the composition root beside it.
 */
export function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'runtime' || parts[0] === 'main') return `${parts[0]}/${parts[1]!.replace(/\.(js|ts|tsx|mts)$/, '')}`;
  return parts[0]!;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isBuiltin(spec: string): boolean {
  return spec.startsWith('node:') || ['fs', 'path', 'os', 'child_process', 'crypto', 'http', 'https', 'net', 'url', 'util', 'stream', 'worker_threads'].includes(packageName(spec));
}

/** One sentence per broken rule, each naming the file, line and import. */
export function checkLayering(root: string): string[] {
  const files = CHECKED.flatMap((d) => sourceFiles(root, d));
  const problems: string[] = [];
  const edges = new Map<string, Map<string, string>>(); // folder → folder → first import that links them
  for (const file of files) {
    const from = folderOf(file);
    for (const ref of importsOf(root, file)) {
      const where = `${ref.from}:${ref.line} imports '${ref.spec}'`;
      if (ref.target === undefined) {
        const pkg = packageName(ref.spec);
        if (pkg === 'electron' && !file.startsWith('main/electron/')) problems.push(`${where}: only main/electron/ may import electron.`);
        if (pkg === 'onnxruntime-node' && !file.startsWith('runtime/onnx/')) problems.push(`${where}: only runtime/onnx/ may import onnxruntime-node.`);
        if (from === 'renderer' && (isBuiltin(ref.spec) || NATIVE.includes(pkg))) problems.push(`${where}: the renderer runs in a browser page and may not import Node built-ins or native packages.`);
        continue;
      }
      const to = folderOf(ref.target);
      if (to === from) continue;
      const top = from.split('/')[0];
      const toTop = to.split('/')[0];
      if (top === 'runtime' && toTop !== 'runtime') problems.push(`${where}: runtime/ never imports ${toTop}/ (the studio uses the runtime, not the reverse).`);
      if (top === 'main' && (toTop === 'cli' || toTop === 'renderer')) problems.push(`${where}: main/ never imports ${toTop}/.`);
      if (top === 'renderer') {
        const contract = ref.target.replace(/\.(js|ts)$/, '') === 'main/contract';
        if (!(to === 'runtime/api' || (contract && ref.typeOnly))) problems.push(`${where}: the renderer imports only types from main/contract.ts, and runtime/api/.`);
      }
      if (top === 'runtime' && toTop === 'runtime') {
        const a = LAYERS[from];
        const b = LAYERS[to];
        if (a === undefined) problems.push(`${ref.from}: the folder ${from} has no place in the runtime's layers (tests/layering-rules.ts LAYERS); add it there.`);
        else if (b !== undefined && b > a) problems.push(`${where}: ${from} sits below ${to} in the runtime's layers, so it may not import it.`);
      }
      if (!edges.has(from)) edges.set(from, new Map());
      if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, `${ref.from}:${ref.line}`);
    }
  }
  for (const cycle of folderCycles(edges)) {
    const links = cycle.map((f, i) => `${f} → ${cycle[(i + 1) % cycle.length]} (${edges.get(f)!.get(cycle[(i + 1) % cycle.length]!)})`);
    problems.push(`folder-level import cycle: ${links.join(', ')}.`);
  }
  return [...new Set(problems)];
}

/** Each strongly connected group of folders larger than one, as one cycle through it. */
function folderCycles(edges: Map<string, Map<string, string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  const strong = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1) groups.push(group);
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) strong(v);
  // Walk one concrete cycle inside each group, so the message names the imports to change.
  return groups.map((group) => {
    const inGroup = new Set(group);
    const start = group.sort()[0]!;
    const pathTo = (from: string, seen: string[]): string[] | undefined => {
      for (const w of [...(edges.get(from)?.keys() ?? [])].sort()) {
        if (!inGroup.has(w)) continue;
        if (w === start) return seen;
        if (!seen.includes(w)) {
          const found = pathTo(w, [...seen, w]);
          if (found) return found;
        }
      }
      return undefined;
    };
    return pathTo(start, [start]) ?? group;
  });
}
