#!/usr/bin/env node
// The `concord` command as npm links it (`npx concord serve`): it runs the built server. It lives outside dist/ so
// that npm finds it at install time, before the first build, and links it into node_modules/.bin.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('concord: the server is not built yet (no server/dist/cli.js): run "npm run build" first');
  process.exit(1);
}
await import(cli.href);
