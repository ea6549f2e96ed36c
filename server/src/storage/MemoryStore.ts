/**
 * The in-memory reference implementation of DocumentStore: the contract in its plainest form, for tests and for
 * embedding Concord where nothing needs to outlive the process.
 */
import { StoreClosedError, type DocumentStore, type StoredDocument } from './DocumentStore.js';

interface Entry {
  readonly seq: number;
  readonly update: Uint8Array;
}

export class MemoryStore implements DocumentStore {
  readonly kind = 'memory';
  private readonly documents = new Map<string, { entries: Entry[]; head: number }>();
  private closed = false;

  async load(name: string): Promise<StoredDocument> {
    this.assertOpen();
    const document = this.documents.get(name);
    if (!document) return { updates: [], head: 0 };
    return { updates: document.entries.map((entry) => entry.update.slice()), head: document.head };
  }

  async append(name: string, updates: readonly Uint8Array[]): Promise<number> {
    this.assertOpen();
    let document = this.documents.get(name);
    if (!document) {
      document = { entries: [], head: 0 };
      this.documents.set(name, document);
    }
    for (const update of updates) {
      document.head += 1;
      document.entries.push({ seq: document.head, update: update.slice() });
    }
    return document.head;
  }

  async compact(name: string, snapshot: Uint8Array, through: number): Promise<void> {
    this.assertOpen();
    const document = this.documents.get(name);
    if (!document) throw new Error(`cannot compact ${JSON.stringify(name)}: nothing is stored`);
    const kept = document.entries.filter((entry) => entry.seq > through);
    document.entries = [{ seq: through, update: snapshot.slice() }, ...kept];
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.kind);
  }
}
