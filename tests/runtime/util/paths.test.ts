// The one containment check: names from outside never leave their folder, lexically or through
// a symbolic link; links that stay inside are followed (links 'inside') or refused (links 'none').
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { isInside, joinInside, realPathSoFar, resolveInside, UnsafePathError, type UnsafePathReason } from '../../../runtime/util/paths.js';

const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-')));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// root/ holds a file, a folder, links in and out; outside/ holds a secret.
const root = path.join(tmp, 'root');
const outside = path.join(tmp, 'outside');
fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
fs.mkdirSync(outside);
fs.writeFileSync(path.join(root, 'sub', 'file.txt'), 'inside');
fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret');
fs.symlinkSync(path.join(root, 'sub', 'file.txt'), path.join(root, 'link-in.txt'));
fs.symlinkSync(path.join(root, 'sub'), path.join(root, 'linkdir-in'));
fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'link-out.txt'));
fs.symlinkSync(outside, path.join(root, 'linkdir-out'));
fs.symlinkSync(path.join(root, 'nowhere'), path.join(root, 'dangling'));
// A root reached through a link: checks compare real paths, so it still works.
const rootLink = path.join(tmp, 'root-link');
fs.symlinkSync(root, rootLink);

function refused(fn: () => unknown, reason: UnsafePathReason, label: string): UnsafePathError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof UnsafePathError, `${label}: expected UnsafePathError, got ${String(caught)}`);
  assert.equal(caught.reason, reason, `${label}: ${caught.message}`);
  return caught;
}

test('isInside: the root and what lies below it, nothing beside or above it', () => {
  const r = path.join(tmp, 'a', 'b');
  assert.ok(isInside(r, r));
  assert.ok(isInside(r, path.join(r, 'c', 'd')));
  assert.ok(isInside(r, path.join(r, '..c'))); // a name that merely starts with two dots
  assert.ok(!isInside(r, path.join(tmp, 'a')));
  assert.ok(!isInside(r, path.join(tmp, 'a', 'bc'))); // a sibling sharing the prefix
  assert.ok(!isInside(r, path.join(tmp, 'a', 'b', '..', 'x')));
  assert.ok(!isInside(r, path.parse(tmp).root));
});

test('joinInside refuses hostile names before touching the disk: empty, NUL, absolute, ..', () => {
  const cases: [string, UnsafePathReason][] = [
    ['', 'empty'], ['   ', 'empty'],
    ['a\0b', 'nul'], ['sub/file.txt\0.png', 'nul'],
    ['/etc/passwd', 'absolute'], ['C:\\Windows\\win.ini', 'absolute'], ['C:relative', 'absolute'], ['\\\\server\\share\\x', 'absolute'], ['\\x', 'absolute'],
    ['..', 'parent'], ['../x', 'parent'], ['a/../../x', 'parent'], ['a/../b', 'parent'], ['a\\..\\..\\x', 'parent'], ['sub//..//..', 'parent'],
  ];
  for (const [name, reason] of cases) refused(() => joinInside(root, name, 'file name'), reason, JSON.stringify(name));
  const e = refused(() => joinInside(root, '../x', 'file name'), 'parent', '../x');
  assert.match(e.message, /^the file name "\.\.\/x" climbs out with '\.\.'; refused$/);
  refused(() => joinInside(root, 42 as unknown as string), 'empty', 'a number');
  assert.equal(joinInside(root, 'sub/file.txt'), path.join(root, 'sub', 'file.txt'));
  assert.equal(joinInside(root, './sub/./x'), path.join(root, 'sub', 'x'));
  assert.equal(joinInside(root, '..hidden'), path.join(root, '..hidden'));
  assert.equal(joinInside(root, '.'), root);
});

test('resolveInside (links inside): follows links that stay inside, refuses links that lead out', () => {
  assert.equal(resolveInside(root, 'sub/file.txt'), path.join(root, 'sub', 'file.txt'));
  // Symlinks in: accepted; the joined path by default, the real one on request.
  assert.equal(resolveInside(root, 'link-in.txt'), path.join(root, 'link-in.txt'));
  assert.equal(resolveInside(root, 'link-in.txt', { real: true }), path.join(root, 'sub', 'file.txt'));
  assert.equal(resolveInside(root, 'linkdir-in/file.txt', { real: true, mustExist: true }), path.join(root, 'sub', 'file.txt'));
  // Symlinks out: refused, for the file itself, through a folder, and for a file yet to be made there.
  const e = refused(() => resolveInside(root, 'link-out.txt', { what: 'file name' }), 'link-outside', 'link-out');
  assert.match(e.message, /is a link to .*secret\.txt, outside /);
  refused(() => resolveInside(root, 'linkdir-out/secret.txt'), 'link-outside', 'linkdir-out/secret.txt');
  refused(() => resolveInside(root, 'linkdir-out/new/file.txt'), 'link-outside', 'linkdir-out/new');
  // Missing paths are fine unless they must exist; a link to nothing counts as missing.
  assert.equal(resolveInside(root, 'sub/new.txt'), path.join(root, 'sub', 'new.txt'));
  refused(() => resolveInside(root, 'sub/new.txt', { mustExist: true }), 'missing', 'missing');
  refused(() => resolveInside(root, 'dangling', { mustExist: true }), 'missing', 'dangling');
  refused(() => resolveInside(root, 'sub/file.txt/below', { mustExist: true }), 'missing', 'below a file');
  // The lexical checks come first.
  refused(() => resolveInside(root, '../outside/secret.txt'), 'parent', '..');
  refused(() => resolveInside(root, path.join(outside, 'secret.txt')), 'absolute', 'absolute');
  refused(() => resolveInside(root, 'sub\0'), 'nul', 'NUL');
});

test('resolveInside (links none): every link is refused, even one that stays inside', () => {
  assert.equal(resolveInside(root, 'sub/file.txt', { links: 'none', mustExist: true }), path.join(root, 'sub', 'file.txt'));
  for (const rel of ['link-in.txt', 'linkdir-in/file.txt', 'link-out.txt', 'linkdir-out/secret.txt', 'linkdir-out/new.txt', 'dangling']) {
    const e = refused(() => resolveInside(root, rel, { links: 'none' }), 'link', rel);
    assert.match(e.message, /symbolic link/);
  }
  refused(() => resolveInside(root, 'sub/file.txt/x', { links: 'none' }), 'not-folder', 'file as folder');
  refused(() => resolveInside(root, 'sub/a/b.txt', { links: 'none', mustExist: true }), 'missing', 'missing');
  // createFolders makes the folders on the way, not the last part.
  const made = resolveInside(root, 'made/deeper/file.bin', { links: 'none', createFolders: true });
  assert.equal(made, path.join(root, 'made', 'deeper', 'file.bin'));
  assert.ok(fs.statSync(path.join(root, 'made', 'deeper')).isDirectory());
  assert.ok(!fs.existsSync(made));
  // Nothing is made when a link stands on the way.
  refused(() => resolveInside(root, 'linkdir-out/made/x', { links: 'none', createFolders: true }), 'link', 'no mkdir through links');
  assert.ok(!fs.existsSync(path.join(outside, 'made')));
});

test('a root reached through a link is compared by its real path', () => {
  assert.equal(resolveInside(rootLink, 'sub/file.txt', { mustExist: true }), path.join(rootLink, 'sub', 'file.txt'));
  assert.equal(resolveInside(rootLink, 'link-in.txt', { real: true }), path.join(root, 'sub', 'file.txt'));
  assert.equal(resolveInside(rootLink, 'sub/file.txt', { links: 'none', real: true }), path.join(root, 'sub', 'file.txt'));
  refused(() => resolveInside(rootLink, 'link-out.txt'), 'link-outside', 'out via a linked root');
});

test('realPathSoFar: the real path of what exists, with the missing rest appended', () => {
  assert.equal(realPathSoFar(path.join(rootLink, 'sub', 'file.txt')), path.join(root, 'sub', 'file.txt'));
  assert.equal(realPathSoFar(path.join(root, 'linkdir-out', 'new', 'x')), path.join(outside, 'new', 'x'));
  assert.equal(realPathSoFar(path.join(root, 'sub', 'file.txt', 'below')), path.join(root, 'sub', 'file.txt', 'below'));
});

test('property: whatever the name, resolveInside either refuses it or returns a path inside the real root', () => {
  const piece = fc.constantFrom('a', 'sub', 'file.txt', '..', '.', '', '/', '\\', '\0', 'C:', 'link-in.txt', 'link-out.txt', 'linkdir-in', 'linkdir-out', 'dangling', '..x', ' ');
  fc.assert(fc.property(fc.array(piece, { maxLength: 6 }), fc.constantFrom<'inside' | 'none'>('inside', 'none'), (parts, links) => {
    const name = parts.join('');
    let result: string;
    try {
      result = resolveInside(root, name, { links });
    } catch (e) {
      assert.ok(e instanceof UnsafePathError, `${JSON.stringify(name)} threw ${String(e)}`);
      return;
    }
    assert.ok(isInside(root, result), `${JSON.stringify(name)} → ${result}`);
    assert.ok(isInside(root, realPathSoFar(result)), `${JSON.stringify(name)} → ${result} leads out`);
    if (links === 'none') assert.ok(!fs.lstatSync(result, { throwIfNoEntry: false })?.isSymbolicLink(), `${JSON.stringify(name)} is a link`);
  }), { numRuns: 500 });
});
