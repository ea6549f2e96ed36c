/**
 * The device's outbox across documents: which documents of a namespace have changes the server has not
 * acknowledged, including documents no screen has open, so they can be listed and sent in the background.
 *
 * The rule: every open document records its outbox here when it changes (its entries, or its removal once empty);
 * the record lives in its own small IndexedDB database, `concord-outbox/<namespace>`, beside the documents' own
 * databases and deleted with them. A record only says where to look: the changes themselves are in the document's
 * database, and opening the document rebuilds its outbox from there (C2). A record that failed to be written is
 * written again with the next change of that document.
 *
 * Tabs of one browser share the database, so every write is announced on a BroadcastChannel of the same name: the
 * other tabs' clients then tell their listeners the device's outbox changed (a tab showing what is pending elsewhere
 * would otherwise go on showing a record another tab has since removed, or miss one it added), and forget what they
 * last wrote of that document, so their next record of it is written whatever it says.
 */
import * as idb from 'lib0/indexeddb';
import type { OutboxEntry } from './types.js';

const DATABASE_PREFIX = 'concord-outbox';
const STORE = 'documents';

export interface PendingDocument {
  /** The document's name. */
  readonly name: string;
  /** Its outbox entries when last recorded. */
  readonly entries: readonly OutboxEntry[];
  /** When they were recorded (ms since the epoch). */
  readonly updatedAt: number;
}

export function registryDatabaseName(namespace: string): string {
  return `${DATABASE_PREFIX}/${encodeURIComponent(namespace)}`;
}

function isPendingDocument(value: unknown): value is PendingDocument {
  const record = value as Partial<PendingDocument> | null;
  return (
    typeof record?.name === 'string' &&
    Array.isArray(record.entries) &&
    record.entries.every((entry) => typeof (entry as Partial<OutboxEntry> | null)?.summary === 'string') &&
    typeof record.updatedAt === 'number'
  );
}

/** What another tab's client announces after it wrote a record. */
interface RecordWritten {
  readonly document: string;
}

function isRecordWritten(data: unknown): data is RecordWritten {
  return typeof (data as Partial<RecordWritten> | null)?.document === 'string';
}

/** A record another tab has written since: what it says is not known here. */
const WRITTEN_ELSEWHERE = Symbol('written elsewhere');

export class OutboxRegistry {
  private readonly name: string;
  private db: Promise<IDBDatabase> | null = null;
  /** What is recorded, as written last by this client (so unchanged outboxes are not written again). */
  private readonly written = new Map<string, string | typeof WRITTEN_ELSEWHERE>();
  /** Per document, the last write queued and not yet done. */
  private readonly writing = new Map<string, Promise<void>>();
  /** The other tabs' registries of the namespace; null where the browser has no BroadcastChannel. */
  private readonly tabs: BroadcastChannel | null;

  /** `changedElsewhere` is called when another tab of this browser has written a record of the namespace. */
  constructor(namespace: string, changedElsewhere: (document: string) => void = () => {}) {
    this.name = registryDatabaseName(namespace);
    this.tabs = typeof globalThis.BroadcastChannel === 'function' ? new BroadcastChannel(this.name) : null;
    if (this.tabs) {
      (this.tabs as { unref?: () => void }).unref?.(); // in Node, a notice channel does not keep the process running
      this.tabs.onmessage = (event: MessageEvent) => {
        if (!isRecordWritten(event.data)) return; // another version's message: its writes are seen on the next read
        this.written.set(event.data.document, WRITTEN_ELSEWHERE);
        changedElsewhere(event.data.document);
      };
    }
  }

  /**
   * Records `document`'s outbox; an empty outbox removes its record. Rejects when IndexedDB fails. Records of one
   * document are written one after another, each compared with what was written before it, so the record is what
   * the outbox said last: an outbox that fills and empties again within a few milliseconds (a change the server
   * acknowledges at once) leaves no record behind.
   */
  record(document: string, entries: readonly OutboxEntry[]): Promise<void> {
    return this.queue(document, () => this.write(document, entries));
  }

  /** Runs `task` after the writes of `document` queued before it, whether they succeeded or not. */
  private queue(document: string, task: () => Promise<void>): Promise<void> {
    const previous = this.writing.get(document) ?? Promise.resolve();
    const write = previous.then(task, task);
    this.writing.set(document, write);
    const settled = () => {
      if (this.writing.get(document) === write) this.writing.delete(document);
    };
    write.then(settled, settled);
    return write;
  }

  private async write(document: string, entries: readonly OutboxEntry[]): Promise<void> {
    const signature = entries.map((entry) => entry.summary).join('\n');
    if (this.written.get(document) === (entries.length === 0 ? undefined : signature)) return;
    const [store] = idb.transact(await this.open(), [STORE]);
    if (entries.length === 0) {
      await idb.del(store!, document);
      this.written.delete(document);
    } else {
      const record: PendingDocument = { name: document, entries: entries.map((entry) => ({ ...entry })), updatedAt: Date.now() };
      await idb.put(store!, record as never, document);
      this.written.set(document, signature);
    }
    this.announce(document);
  }

  private announce(document: string): void {
    try {
      this.tabs?.postMessage({ document } satisfies RecordWritten);
    } catch {
      // The channel was closed (the client is being destroyed): no tab is told, and none needs to be by this one.
    }
  }

  /** Removes `document`'s record, whoever wrote it (its changes were deleted from the device), after any write on its way. */
  forget(document: string): Promise<void> {
    return this.queue(document, async () => {
      const [store] = idb.transact(await this.open(), [STORE]);
      await idb.del(store!, document);
      this.written.delete(document);
      this.announce(document);
    });
  }

  /** Whether `document` has a recorded outbox, once the writes of it queued before this call are done. */
  async has(document: string): Promise<boolean> {
    await this.writing.get(document)?.catch(() => {});
    const [store] = idb.transact(await this.open(), [STORE], 'readonly');
    return isPendingDocument(await idb.get(store!, document));
  }

  /** Every document with a recorded outbox, oldest change first. */
  async pending(): Promise<PendingDocument[]> {
    const [store] = idb.transact(await this.open(), [STORE], 'readonly');
    const records = (await idb.getAll(store!)).filter(isPendingDocument);
    // Records of earlier sessions or other tabs become known, so an empty outbox removes them; a document with a
    // write on its way keeps what that write records.
    for (const record of records) {
      if (!this.writing.has(record.name)) this.written.set(record.name, record.entries.map((entry) => entry.summary).join('\n'));
    }
    return records.sort((a, b) => a.updatedAt - b.updatedAt);
  }

  async close(): Promise<void> {
    if (this.tabs) {
      this.tabs.onmessage = null;
      this.tabs.close();
    }
    const db = this.db;
    this.db = null;
    if (db) (await db.catch(() => null))?.close();
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= idb.openDB(this.name, (db) => idb.createStores(db, [[STORE]]));
    const db = this.db;
    db.catch(() => {
      if (this.db === db) this.db = null; // try opening again next time
    });
    return db;
  }
}
