/**
 * DocumentStore on LevelDB (the `level` package): Concord's embedded default.
 *
 * Layout: one key per log entry, `d:<encodeURIComponent(name)>:<seq as 13 hex digits>`, so a document's entries
 * are one contiguous, ordered key range (`:` never occurs in the encoded name). Writes use `sync: true`: the
 * promise resolves after LevelDB has fsynced its log. Sequence numbers are kept in memory per document (LevelDB
 * admits one process at a time, so nobody else appends); the first use of a document reads its last key.
 */
import { Level } from 'level';
import type { DocumentStore, StoredDocument } from './DocumentStore.js';

const SEQ_DIGITS = 13;

function rangeOf(name: string): { gt: string; lt: string } {
  const prefix = `d:${encodeURIComponent(name)}`;
  return { gt: `${prefix}:`, lt: `${prefix};` };
}

function keyOf(name: string, seq: number): string {
  return `d:${encodeURIComponent(name)}:${seq.toString(16).padStart(SEQ_DIGITS, '0')}`;
}

function seqOf(key: string): number {
  return Number.parseInt(key.slice(key.lastIndexOf(':') + 1), 16);
}

export class LevelStore implements DocumentStore {
  readonly kind = 'leveldb';
  readonly directory: string;
  private readonly db: Level<string, Uint8Array>;
  private readonly heads = new Map<string, Promise<number>>();

  private constructor(db: Level<string, Uint8Array>, directory: string) {
    this.db = db;
    this.directory = directory;
  }

  /** Opens (creating when needed) the database in `directory`; fails clearly when another process holds it. */
  static async open(directory: string): Promise<LevelStore> {
    const db = new Level<string, Uint8Array>(directory, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new Error(`cannot open LevelDB in ${directory}: ${cause}`, { cause: error });
    }
    return new LevelStore(db, directory);
  }

  async load(name: string): Promise<StoredDocument> {
    const updates: Uint8Array[] = [];
    let head = 0;
    for await (const [key, value] of this.db.iterator(rangeOf(name))) {
      updates.push(value);
      head = seqOf(key);
    }
    if (!this.heads.has(name)) this.heads.set(name, Promise.resolve(head));
    return { updates, head };
  }

  async append(name: string, updates: readonly Uint8Array[]): Promise<number> {
    if (updates.length === 0) return this.head(name);
    // Allocate sequence numbers synchronously after the head is known, so concurrent appends never share a key.
    const previous = this.head(name);
    const next = previous.then((head) => head + updates.length);
    this.heads.set(name, next);
    // A head that could not be read is read again next time rather than failing every later append.
    next.catch(() => {
      if (this.heads.get(name) === next) this.heads.delete(name);
    });
    const first = (await previous) + 1;
    await this.db.batch(
      updates.map((value, i) => ({ type: 'put' as const, key: keyOf(name, first + i), value })),
      { sync: true },
    );
    return next;
  }

  async compact(name: string, snapshot: Uint8Array, through: number): Promise<void> {
    const replaced: string[] = [];
    for await (const key of this.db.keys({ ...rangeOf(name), lte: keyOf(name, through) })) replaced.push(key);
    await this.db.batch(
      [
        ...replaced.map((key) => ({ type: 'del' as const, key })),
        { type: 'put' as const, key: keyOf(name, through), value: snapshot },
      ],
      { sync: true },
    );
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private head(name: string): Promise<number> {
    let head = this.heads.get(name);
    if (!head) {
      head = this.db
        .keys({ ...rangeOf(name), reverse: true, limit: 1 })
        .all()
        .then((keys) => (keys[0] === undefined ? 0 : seqOf(keys[0])));
      this.heads.set(name, head);
    }
    return head;
  }
}
