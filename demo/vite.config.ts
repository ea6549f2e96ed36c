/**
 * Builds the demo into `dist/`, which the Concord server serves at `/`.
 *
 * The `@concord/*` packages are bundled from their TypeScript sources (the `@concord/source` export condition), so
 * `npm run dev` picks up a change in engine or client without rebuilding them. Yjs and ProseMirror must exist once
 * in the bundle: Yjs warns "already imported" and breaks `instanceof` checks when two copies meet, and two
 * ProseMirror copies break Tiptap's plugin keys.
 */
import { defaultClientConditions, defineConfig } from 'vite';

/** Where `npm run dev` finds the Concord server (start it with `CONCORD_ALLOWED_ORIGINS=http://localhost:5173`). */
const server = process.env.CONCORD_SERVER_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  resolve: {
    conditions: ['@concord/source', ...defaultClientConditions],
    dedupe: ['yjs', 'y-protocols', 'lib0', '@tiptap/pm', '@tiptap/y-tiptap', 'preact'],
  },
  build: {
    target: 'es2022',
    sourcemap: true,
    rolldownOptions: {
      output: {
        // The editor (Tiptap, ProseMirror) and the sync stack (Yjs, Hocuspocus) change rarely: their own chunks
        // stay cached across deploys of the app code.
        codeSplitting: {
          groups: [
            { name: 'sync', test: /node_modules[\\/](yjs|y-protocols|y-indexeddb|lib0|@hocuspocus)[\\/]/ },
            { name: 'editor', test: /node_modules[\\/](@tiptap|prosemirror-|orderedmap|rope-sequence|w3c-keyname|linkifyjs)/ },
          ],
        },
      },
    },
  },
  server: {
    // `npm run dev -w @concord/demo` next to a running server: the app talks to it as if same-origin.
    proxy: {
      '/api': server,
      '/sync': { target: server.replace(/^http/, 'ws'), ws: true },
    },
  },
});
