/**
 * The in-memory reference implementation of DocumentStore, RevocationStore, ChannelStore, LastSeenStore and VersionStore: the
 * contracts in their plainest form, for tests and for embedding Concord where nothing needs to outlive the process.
 */
import type { ChannelPosition, LastSeen } from '@concord/engine';
import type { Revocation } from '../auth/revocations.js';
import {
  MemoryChannelStore,
  type ChannelAppend,
  type ChannelKey,
  type ChannelRead,
  type ChannelStore,
  type NewChannelEvent,
  type Retention,
} from './ChannelStore.js';
import { MemoryLastSeenStore, type LastSeenStore } from './LastSeenStore.js';
import { snapshotSeq, StoreClosedError, type AppendEntry, type DocumentStore, type StoredEntry } from './DocumentStore.js';
import { byTime, type RevocationsSince, type RevocationStore } from './RevocationStore.js';
import { MemoryVersionStore, type VersionInfo, type VersionStore } from './VersionStore.js';

export class MemoryStore implements DocumentStore, RevocationStore, ChannelStore, LastSeenStore, VersionStore {
  readonly kind = 'memory';
  private readonly documents = new Map<string, { entries: StoredEntry[]; head: number }>();
  private readonly revocations: Revocation[] = [];
  private readonly channels = new MemoryChannelStore();
  private readonly lastSeen = new MemoryLastSeenStore();
  private readonly versions = new MemoryVersionStore();
  private closed = false;

  async load(name: string): Promise<readonly StoredEntry[]> {
    this.assertOpen();
    return (this.documents.get(name)?.entries ?? []).map(({ seq, update }) => ({ seq, update: update.slice() }));
  }

  async append(batch: readonly AppendEntry[]): Promise<void> {
    this.assertOpen();
    for (const { name, updates } of batch) {
      let document = this.documents.get(name);
      if (!document) {
        document = { entries: [], head: 0 };
        this.documents.set(name, document);
      }
      for (const update of updates) {
        document.head += 1;
        document.entries.push({ seq: document.head, update: update.slice() });
      }
    }
  }

  async compact(name: string, snapshot: Uint8Array, replaced: readonly number[]): Promise<void> {
    this.assertOpen();
    const seq = snapshotSeq(name, replaced);
    const document = this.documents.get(name);
    if (!document) throw new Error(`cannot compact ${JSON.stringify(name)}: nothing is stored`);
    const gone = new Set(replaced);
    const kept = document.entries.filter((entry) => !gone.has(entry.seq));
    document.entries = [...kept, { seq, update: snapshot.slice() }].sort((a, b) => a.seq - b.seq);
  }

  async names(prefix: string): Promise<readonly string[]> {
    this.assertOpen();
    return [...this.documents].filter(([name, document]) => name.startsWith(prefix) && document.entries.length > 0).map(([name]) => name).sort();
  }

  async saveRevocation(revocation: Revocation): Promise<void> {
    this.assertOpen();
    this.revocations.push({ ...revocation });
  }

  async loadRevocations(): Promise<readonly Revocation[]> {
    this.assertOpen();
    return this.revocations.map((revocation) => ({ ...revocation })).sort(byTime);
  }

  async appendEvents(key: ChannelKey, events: readonly NewChannelEvent[], retention: Retention, now: number): Promise<ChannelAppend> {
    this.assertOpen();
    return this.channels.appendEvents(key, events, retention, now);
  }

  async readEvents(key: ChannelKey, position: ChannelPosition | null, retention: Retention, now: number): Promise<ChannelRead> {
    this.assertOpen();
    return this.channels.readEvents(key, position, retention, now);
  }

  async sweepChannels(retention: Retention, now: number, keep: readonly ChannelKey[]): Promise<void> {
    this.assertOpen();
    return this.channels.sweepChannels(retention, now, keep);
  }

  /** The cursor is how many revocations had been saved (they are kept in the order saved). */
  async loadRevocationsSince(cursor: string | null): Promise<RevocationsSince> {
    this.assertOpen();
    const from = cursor === null ? 0 : Number(cursor);
    return { revocations: this.revocations.slice(from).map((revocation) => ({ ...revocation })), cursor: String(this.revocations.length) };
  }

  async saveLastSeen(tenant: string, user: string, seen: LastSeen): Promise<void> {
    this.assertOpen();
    return this.lastSeen.saveLastSeen(tenant, user, seen);
  }

  async loadLastSeen(tenant: string, limit: number): Promise<Record<string, LastSeen>> {
    this.assertOpen();
    return this.lastSeen.loadLastSeen(tenant, limit);
  }

  async saveVersion(document: string, version: VersionInfo, state: Uint8Array, options?: { unlessNewerThan?: number }): Promise<boolean> {
    this.assertOpen();
    return this.versions.saveVersion(document, version, state, options);
  }

  async listVersions(document: string): Promise<readonly VersionInfo[]> {
    this.assertOpen();
    return this.versions.listVersions(document);
  }

  async loadVersion(document: string, id: string): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return this.versions.loadVersion(document, id);
  }

  async pruneVersions(document: string, autoBefore: number): Promise<number> {
    this.assertOpen();
    return this.versions.pruneVersions(document, autoBefore);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.kind);
  }
}
