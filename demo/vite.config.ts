/**
 * Builds the demo into `dist/`, which the Concord server serves at `/`.
 *
 * The `@concord/*` packages are bundled from their TypeScript sources (the `@concord/source` export condition), so
 * `npm run dev` picks up a change in engine or client without rebuilding them. Yjs and ProseMirror must exist once
 * in the bundle: Yjs warns "already imported" and breaks `instanceof` checks when two copies meet, and two
 * ProseMirror copies break Tiptap's plugin keys.
 *
 * The app is a PWA (vite-plugin-pwa, Workbox): a service worker precaches every built file, so a reload with no
 * network serves the app from the cache and the client shows the documents from IndexedDB. A new build replaces
 * the worker at the next load (`autoUpdate`); the server sends `sw.js` and `index.html` with `no-cache`.
 */
import { defaultClientConditions, defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

/** Where `npm run dev` finds the Concord server (start it with `CONCORD_ALLOWED_ORIGINS=http://localhost:5173`). */
const server = process.env.CONCORD_SERVER_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  plugins: [
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: null, // src/main.tsx registers it
      manifest: {
        name: 'Concord demo',
        short_name: 'Concord',
        description: 'A shared project board that works offline.',
        theme_color: '#3b5bdb',
        background_color: '#f6f7f9',
        display: 'standalone',
        icons: [{ src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
      },
      workbox: {
        // The manifest and its icon are added by the plugin itself; listing them here would precache them twice.
        globPatterns: ['**/*.{js,css,html}'],
        // The editor chunk is larger than Workbox's 2 MiB default; a skipped chunk would break the offline app.
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [/^\/api\//, /^\/sync/, /^\/y\//, /^\/healthz/, /^\/metrics/],
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
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
