/**
 * A map for what a socket keeps per document session, where almost every socket has one session: its first entry is
 * held in two fields, and a `Map` is made only for a second. An idle socket pays ~56 bytes instead of a Map and its
 * hash table (~200 bytes), for each such table (see the Idle row of `npm run bench`).
 *
 * It holds either nothing, one entry in its fields, or every entry in `more`; it never goes back from `more`.
 * Iteration order is insertion order, as a Map's; deleting while iterating is allowed, as it is for a Map.
 */
export class SmallMap<K, V> {
  private firstKey: K | undefined = undefined;
  private firstValue: V | undefined = undefined;
  private hasFirst = false;
  private more: Map<K, V> | null = null;

  get size(): number {
    return this.more !== null ? this.more.size : this.hasFirst ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.more !== null) return this.more.get(key);
    return this.hasFirst && this.firstKey === key ? this.firstValue : undefined;
  }

  set(key: K, value: V): this {
    if (this.more !== null) {
      this.more.set(key, value);
    } else if (!this.hasFirst || this.firstKey === key) {
      this.firstKey = key;
      this.firstValue = value;
      this.hasFirst = true;
    } else {
      this.more = new Map([[this.firstKey as K, this.firstValue as V], [key, value]]);
      this.firstKey = this.firstValue = undefined;
      this.hasFirst = false;
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.more !== null) return this.more.delete(key);
    if (!this.hasFirst || this.firstKey !== key) return false;
    this.firstKey = this.firstValue = undefined;
    this.hasFirst = false;
    return true;
  }

  clear(): void {
    this.more?.clear();
    this.firstKey = this.firstValue = undefined;
    this.hasFirst = false;
  }

  *entries(): IterableIterator<[K, V]> {
    if (this.more !== null) {
      yield* this.more.entries();
    } else if (this.hasFirst) {
      yield [this.firstKey as K, this.firstValue as V];
    }
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
