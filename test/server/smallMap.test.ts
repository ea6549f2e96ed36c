/**
 * SmallMap (server/src/sockets/SmallMap.ts) holds a socket's per-session tables: its first entry in fields, a Map from
 * the second on. Seeded random operations against a Map: every read, size and iteration must agree.
 */
import * as prng from 'lib0/prng';
import { expect, test } from 'vitest';
import { SmallMap } from '../../server/src/sockets/SmallMap.js';
import { seededRandom } from '../support/random.js';

test('SmallMap answers as a Map does, through the first entry, the switch to a Map, deletions and clears (seeded)', () => {
  const { gen } = seededRandom('smallMap');
  for (let run = 0; run < 200; run++) {
    const small = new SmallMap<string, number>();
    const map = new Map<string, number>();
    for (let step = 0; step < 20; step++) {
      const key = `k${prng.int32(gen, 0, 3)}`;
      switch (prng.int32(gen, 0, 9)) {
        case 0:
          expect(small.delete(key), `run ${run} step ${step}`).toBe(map.delete(key));
          break;
        case 1:
          if (prng.int32(gen, 0, 3) === 0) {
            small.clear();
            map.clear();
          }
          break;
        case 2: // deleting while iterating, as UpdateGate and SyncSocket may
          for (const [k] of small) if (k === key) small.delete(k);
          map.delete(key);
          break;
        default:
          small.set(key, step);
          map.set(key, step);
      }
      expect(small.size, `run ${run} step ${step}`).toBe(map.size);
      expect([...small], `run ${run} step ${step}`).toEqual([...map]);
      expect([...small.values()]).toEqual([...map.values()]);
      for (const k of ['k0', 'k1', 'k2', 'k3']) expect(small.get(k)).toBe(map.get(k));
    }
  }
});
