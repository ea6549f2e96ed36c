/**
 * Live views (docs/live-views-design.md, "Measurement"): `documents` project documents of `tasks` tasks each are
 * stored; a viewer opens the view `{ documents: '<prefix>-*', collection: 'tasks', groupBy: 'status' }` and waits until
 * it is complete (the first build time, from storage, is reported); then a writer changes one task's status in one
 * document, `changes` times 250 ms apart, and the figure is the time until the viewer's view shows it, against the same change seen
 * by a client that has that one document open (the floor). The viewer is a stock provider on the view document (what
 * `client.view` opens) reading its rows, so the figure is the server's and the wire's, without the client's recompute.
 * Stock Hocuspocus has no views: its run measures the floor only, so its view figures read n/a.
 */
import { HocuspocusProvider } from '@hocuspocus/provider';
import { viewDocumentName, VIEW_ROWS_ROOT, VIEW_STATE_ROOT } from '@concord/engine';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { providerOver } from './fanout.ts';
import { settle, waitUntil, type Scenario } from './scenario.ts';
import { percentile } from './workload.ts';

const SEED_TIMEOUT_MS = 300_000;
const BUILD_TIMEOUT_MS = 300_000;
const CHANGE_TIMEOUT_MS = 30_000;
const CHANGE_SPACING_MS = 250;
/** Documents seeded at once (each a provider on its own socket). */
const SEED_BATCH = 50;

function synced(provider: HocuspocusProvider, what: string, timeoutMs: number): Promise<void> {
  return waitUntil(() => provider.isSynced, timeoutMs, () => `${what} did not sync`);
}

/** Stores the documents: each written by a provider that leaves once the server has it. */
async function seed(url: string, token: string, names: readonly string[], tasks: number): Promise<void> {
  for (let i = 0; i < names.length; i += SEED_BATCH) {
    const providers = names.slice(i, i + SEED_BATCH).map((name) => {
      const doc = new Y.Doc();
      const records = doc.getMap<Y.Map<unknown>>('tasks');
      doc.transact(() => {
        for (let t = 0; t < tasks; t++) {
          const task = new Y.Map<unknown>();
          records.set(`t${t}`, task);
          task.set('status', ['open', 'doing', 'done'][t % 3]);
          task.set('title', `Task ${t}`);
        }
      });
      return providerOver(WebSocket, url, name, token, doc);
    });
    await waitUntil(() => providers.every((p) => p.isSynced && !p.hasUnsyncedChanges), SEED_TIMEOUT_MS, () => 'seeding did not finish');
    for (const provider of providers) provider.destroy();
  }
}

export function liveViews(options: { documents: number; tasks: number; changes: number; rounds: number }): Scenario {
  const { documents, tasks, changes, rounds } = options;
  return {
    key: 'live-views',
    label: `Live views: ${documents.toLocaleString('en-US')} documents, one change`,
    meaning: `${documents.toLocaleString('en-US')} documents of ${tasks} tasks are stored; a viewer opens a view by status over all of them (first build from storage), then one task's status changes in one document ${changes} times: the time until the view shows it, against the time until a client with that document open sees it (the floor; stock has no views, only the floor)`,
    rounds,
    metrics: [
      { key: 'buildSeconds', label: 'first build', unit: 's', better: 'lower', digits: 1 },
      { key: 'viewP50Ms', label: 'change → view, p50', unit: 'ms', better: 'lower' },
      { key: 'viewP99Ms', label: 'change → view, p99', unit: 'ms', better: 'lower' },
      { key: 'floorP50Ms', label: 'change → open document (floor), p50', unit: 'ms', better: 'lower' },
      { key: 'floorP99Ms', label: 'change → open document (floor), p99', unit: 'ms', better: 'lower' },
    ],
    async run({ server, token, prefix }) {
      // Concord serves its socket at /sync (systems.ts concordListening); the stock peer at its root.
      const stock = !server.syncUrl.endsWith('/sync');
      const names = Array.from({ length: stock ? 1 : documents }, (_, i) => `${prefix}-${i}`);
      const providers: HocuspocusProvider[] = [];
      try {
        await seed(server.syncUrl, token, names, tasks);
        await settle(server);
        const target = names[Math.floor(names.length / 2)]!;
        let viewRows: Y.Map<unknown> | null = null;
        let buildSeconds = Number.NaN;
        if (!stock) {
          const viewDoc = new Y.Doc();
          const startedAt = performance.now();
          const viewer = providerOver(WebSocket, server.syncUrl, viewDocumentName({ documents: `${prefix}-*`, collection: 'tasks', groupBy: 'status' }), token, viewDoc);
          providers.push(viewer);
          await synced(viewer, 'the view', BUILD_TIMEOUT_MS);
          viewRows = viewDoc.getMap(VIEW_ROWS_ROOT);
          const state = viewDoc.getMap(VIEW_STATE_ROOT);
          await waitUntil(() => state.get('building') === false && viewRows!.size === documents, BUILD_TIMEOUT_MS, () => `the view has ${viewRows!.size} of ${documents} documents`);
          buildSeconds = (performance.now() - startedAt) / 1000;
        }
        const floorDoc = new Y.Doc();
        const floor = providerOver(WebSocket, server.syncUrl, target, token, floorDoc);
        const writerDoc = new Y.Doc();
        const writer = providerOver(WebSocket, server.syncUrl, target, token, writerDoc);
        providers.push(floor, writer);
        await Promise.all([synced(floor, 'the floor client', CHANGE_TIMEOUT_MS), synced(writer, 'the writer', CHANGE_TIMEOUT_MS)]);
        await settle(server);
        const viewTimes: number[] = [];
        const floorTimes: number[] = [];
        for (let i = 0; i < changes; i++) {
          // Changes a person makes, apart: each one alone, not inside the view's write throttle (100 ms) of the last.
          await sleep(CHANGE_SPACING_MS);
          const status = `status-${i}`;
          const task = `t${i % tasks}`;
          let viewAt = Number.NaN;
          let floorAt = Number.NaN;
          const startedAt = performance.now();
          (writerDoc.getMap<Y.Map<unknown>>('tasks').get(task) as Y.Map<unknown>).set('status', status);
          await waitUntil(
            () => {
              if (Number.isNaN(floorAt) && (floorDoc.getMap<Y.Map<unknown>>('tasks').get(task) as Y.Map<unknown> | undefined)?.get('status') === status) floorAt = performance.now();
              const rows = viewRows?.get(target) as Record<string, { status?: string }> | undefined;
              if (Number.isNaN(viewAt) && rows?.[task]?.status === status) viewAt = performance.now();
              return !Number.isNaN(floorAt) && (viewRows === null || !Number.isNaN(viewAt));
            },
            CHANGE_TIMEOUT_MS,
            () => `change ${i} did not arrive`,
            1,
          );
          floorTimes.push(floorAt - startedAt);
          if (viewRows !== null) viewTimes.push(viewAt - startedAt);
        }
        const p = (values: number[], q: number) => percentile(Float64Array.from(values).sort(), q);
        return { buildSeconds, viewP50Ms: p(viewTimes, 0.5), viewP99Ms: p(viewTimes, 0.99), floorP50Ms: p(floorTimes, 0.5), floorP99Ms: p(floorTimes, 0.99) };
      } finally {
        for (const provider of providers) provider.destroy();
      }
    },
  };
}
