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
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'artifacts/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
