// The contract map, checked twice: at compile time (tsc type-checks this file in `npm test`; a
// change that breaks a caller's types, drops an event or lets a wrong call compile fails there),
// and at run time (every command's schema refuses malformed params with a sentence).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  COMMANDS,
  EVENTS,
  QUERIES,
  contract,
  isCommandName,
  type CommandName,
  type EventName,
  type GalleryItem,
  type Params,
  type Result,
  type StudioBridge,
  type StudioClient,
  type StudioEvents,
} from '../../main/contract.js';

// --- compile-time assertions -------------------------------------------------------------------
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

// Result types are what the UI relies on.
expectType<Equal<Result<'generate.submit'>, { jobId: string }>>(true);
expectType<Equal<Result<'library.search'>['items'][number], GalleryItem>>(true);
expectType<Equal<Result<'library.get'>, GalleryItem | null>>(true);
expectType<Equal<Result<'settings.setFireworksKey'>, { hasKey: boolean }>>(true);
// Params: the editor's request is typed field by field.
expectType<Equal<Params<'generate.submit'>['request']['steps'], number | undefined>>(true);
expectType<Equal<Params<'library.rate'>['rating'], number>>(true);
// Every event is listed once in EVENTS, and EVENTS names nothing else.
type Listed = (typeof EVENTS)[number];
expectType<Equal<Listed, EventName>>(true);
expectType<Equal<keyof StudioEvents, EventName>>(true);
// The Fireworks key is write-only: no result type anywhere carries a `fireworksKey` or `key` field.
type AnyResult = { [K in CommandName]: Result<K> }[CommandName];
type HasKeyField<T> = T extends object ? ('key' extends keyof T ? true : 'fireworksKey' extends keyof T ? true : 'apiKey' extends keyof T ? true : false) : false;
expectType<Equal<HasKeyField<AnyResult>, false>>(true);
expectType<Equal<HasKeyField<Result<'settings.get'>>, false>>(true);

// Both transports are typed from the map: a call that compiles works over either.
async function typedCalls(client: StudioClient, bridge: StudioBridge): Promise<void> {
  const { jobId } = await client.call('generate.submit', { request: { prompt: 'a fox' } });
  const page = await bridge.call('library.search', { text: 'fox', limit: 10 });
  const info = await client.call('studio.info'); // optional params may be left out
  expectType<Equal<typeof jobId, string>>(true);
  expectType<Equal<typeof page.nextCursor, string | null>>(true);
  expectType<Equal<typeof info.shell, 'desktop' | 'browser'>>(true);
  client.on('job.progress', (e) => {
    expectType<Equal<typeof e.progress.step, number>>(true);
  });
  // @ts-expect-error an unknown command does not compile
  await client.call('library.drop', {});
  // @ts-expect-error a parameter of the wrong type does not compile
  await client.call('library.rate', { ids: ['a'], rating: 'five' });
  // @ts-expect-error a required parameter cannot be left out
  await client.call('generate.cancel');
  // @ts-expect-error an unknown event does not compile
  client.on('job.exploded', () => undefined);
  // @ts-expect-error an event payload has the declared shape
  client.on('job.failed', (e: { reason: number }) => e);
}
void typedCalls;

// --- run-time checks ---------------------------------------------------------------------------
test('every command has a schema and is a known name; queries are commands', () => {
  assert.ok(COMMANDS.length >= 40);
  for (const name of COMMANDS) {
    assert.ok(isCommandName(name));
    assert.equal(typeof contract[name].params.safeParse, 'function', name);
  }
  for (const q of QUERIES) assert.ok(isCommandName(q), q);
  assert.equal(isCommandName('toString'), false, 'inherited names are not commands');
  assert.equal(isCommandName('__proto__'), false);
});

test('malformed params are refused with a message naming the field', () => {
  const bad: [CommandName, unknown, string][] = [
    ['generate.submit', { request: { prompt: 'x', steps: 'four' } }, 'request.steps'],
    ['generate.submit', { request: { prompt: 'x', seed: -1 } }, 'request.seed'],
    ['generate.submit', { request: { prompt: 'x' }, extra: 1 }, ''],
    ['generate.submit', null, ''],
    ['library.rate', { ids: ['abc'], rating: 9 }, 'rating'],
    ['library.trash', { ids: [] }, 'ids'],
    ['library.trash', { ids: ['../../etc'] }, 'ids.0'],
    ['library.export', { ids: ['abc'], folder: 'a\0b' }, 'folder'],
    ['settings.setFireworksKey', { key: 'has space in it' }, 'key'],
    ['library.search', { limit: 5000 }, 'limit'],
    ['library.search', { at: -1 }, 'at'],
    ['library.search', { at: 2.5 }, 'at'],
    ['library.facets', { at: 10 }, ''],
  ];
  for (const [name, params, field] of bad) {
    const r = contract[name].params.safeParse(params);
    assert.equal(r.success, false, `${name} ${JSON.stringify(params)}`);
    if (field) assert.equal(r.error!.issues[0]!.path.join('.'), field, name);
  }
});

test('well-formed params pass, and optional params may be absent', () => {
  assert.ok(contract['generate.submit'].params.safeParse({ request: { prompt: 'a fox', width: 1024, height: 1024, steps: 4 }, backend: 'auto', parentId: null }).success);
  assert.ok(contract['studio.info'].params.safeParse(undefined).success);
  assert.ok(contract['library.search'].params.safeParse({ text: 'fox', tags: ['a'], sort: 'rating' }).success);
  assert.ok(contract['library.search'].params.safeParse({ text: 'fox', at: 700_000, limit: 200 }).success);
  assert.ok(contract['settings.setFireworksKey'].params.safeParse({ key: null }).success);
});
