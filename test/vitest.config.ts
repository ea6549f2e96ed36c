import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run against the packages' TypeScript sources (the `@concord/source` export condition), so a change is
// tested without a build; the browser suite serves the built demo, which `npm test` builds first.
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
if (NODE_MAJOR < 22) {
  throw new Error(`tests need Node 22+ (the project pins Node 24); this is ${process.version}. Run them with npm test.`);
}

export default defineConfig({
  resolve: { conditions: ['@concord/source', ...defaultServerConditions] },
  ssr: { resolve: { conditions: ['@concord/source', ...defaultServerConditions] } },
  test: {
    exclude: ['node_modules/**', 'artifacts/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
    // Two groups, one after the other. Tests of single processes (engine, storage, server, client, security, history)
    // run two files at a time: most of their time is spent waiting on sockets and timers, and each has its own ports,
    // temporary directories and PostgreSQL schema. Tests that drive Chromium, clusters of real processes or kill -9
    // run one file at a time: each loads the machine's two cores on its own, and their outage timings are what they test.
    projects: [
      {
        extends: true,
        test: { name: 'processes', include: ['{engine,history,storage,server,client,security}/**/*.test.ts'], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'systems', include: ['{browser,cluster,crash}/**/*.test.ts'], maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
