#!/usr/bin/env node
// The `schnell` command. Sources are TypeScript; tsx compiles them on the fly (cached).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/index.ts');
process.exitCode = await main(process.argv.slice(2));
