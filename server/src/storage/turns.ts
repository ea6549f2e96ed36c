/**
 * Work that must not overlap, by key: `run(key, work)` starts `work` once every earlier piece of work under `key` has
 * finished (whether it succeeded or failed); work under different keys runs at once. A key's queue is forgotten once
 * it is empty.
 */
export class Turns {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
