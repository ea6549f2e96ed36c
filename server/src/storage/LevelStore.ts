/**
 * DocumentStore on LevelDB (the `level` package): Concord's embedded default.
 *
 * Layout: one key per log entry, `d:<encodeURIComponent(name)>:<seq as 13 hex digits>`, so a document's entries
 * are one contiguous, ordered key range (`:` never occurs in the encoded name). Every write is one LevelDB batch
 * with `sync: true`: it resolves after LevelDB has fsynced its log, and a crash keeps all of it or none. Sequence
 * numbers are kept in memory per document (LevelDB admits one process at a time, so nobody else appends); the
 * first use of a document reads its last key.
 */
import { Level } from 'level';
import { snapshotSeq, StoreClosedError, type AppendEntry, type DocumentStore, type StoredEntry } from './DocumentStore.js';

const SEQ_DIGITS = 13;

/** Key prefixes of recently used documents (`d:<encoded name>`), so writing a key does not re-encode the name. */
const MAX_CACHED_PREFIXES = 1024;
const prefixes = new Map<string, string>();

function prefixOf(name: string): string {
  let prefix = prefixes.get(name);
  if (prefix === undefined) {
    if (prefixes.size >= MAX_CACHED_PREFIXES) prefixes.clear();
    prefix = `d:${encodeURIComponent(name)}`;
    prefixes.set(name, prefix);
  }
  return prefix;
}

function rangeOf(name: string): { gt: string; lt: string } {
  const prefix = prefixOf(name);
  return { gt: `${prefix}:`, lt: `${prefix};` };
}

function keyOf(name: string, seq: number): string {
  return `${prefixOf(name)}:${seq.toString(16).padStart(SEQ_DIGITS, '0')}`;
}

function seqOf(key: string): number {
  return Number.parseInt(key.slice(key.lastIndexOf(':') + 1), 16);
}

export class LevelStore implements DocumentStore {
  readonly kind = 'leveldb';
  readonly directory: string;
  private readonly db: Level<string, Uint8Array>;
  private readonly heads = new Map<string, number>();
  private readonly headReads = new Map<string, Promise<void>>();
  private closed = false;

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

  async load(name: string): Promise<readonly StoredEntry[]> {
    const entries: StoredEntry[] = [];
    for await (const [key, update] of this.db.iterator(rangeOf(name))) entries.push({ seq: seqOf(key), update });
    if (!this.heads.has(name)) this.heads.set(name, entries.at(-1)?.seq ?? 0);
    return entries;
  }

  async append(batch: readonly AppendEntry[]): Promise<void> {
    if (this.closed) throw new StoreClosedError(this.kind);
    await Promise.all(batch.map(({ name }) => this.knowHead(name)));
    // Numbers are handed out in one synchronous pass, so concurrent appends never share a key.
    const operations: Array<{ type: 'put'; key: string; value: Uint8Array }> = [];
    for (const { name, updates } of batch) {
      let head = this.heads.get(name) ?? 0;
      for (const value of updates) operations.push({ type: 'put', key: keyOf(name, ++head), value });
      this.heads.set(name, head);
    }
    // A failed write leaves a gap in the numbering, never a reused number.
    if (operations.length > 0) await this.db.batch(operations, { sync: true });
  }

  async compact(name: string, snapshot: Uint8Array, replaced: readonly number[]): Promise<void> {
    const seq = snapshotSeq(name, replaced);
    await this.db.batch(
      [
        ...replaced.map((old) => ({ type: 'del' as const, key: keyOf(name, old) })),
        { type: 'put' as const, key: keyOf(name, seq), value: snapshot },
      ],
      { sync: true },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.db.close();
  }

  /** Reads the last sequence number of `name` once (concurrent callers share the read). */
  private knowHead(name: string): Promise<void> {
    if (this.heads.has(name)) return Promise.resolve();
    let reading = this.headReads.get(name);
    if (!reading) {
      reading = this.db
        .keys({ ...rangeOf(name), reverse: true, limit: 1 })
        .all()
        .then(([last]) => {
          if (!this.heads.has(name)) this.heads.set(name, last === undefined ? 0 : seqOf(last));
        })
        .finally(() => this.headReads.delete(name));
      this.headReads.set(name, reading);
    }
    return reading;
  }
}
