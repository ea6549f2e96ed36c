/**
 * Seeded randomness for convergence tests: every run logs its seed, and `CONCORD_TEST_SEED` replays one.
 */
import * as prng from 'lib0/prng';
import * as Y from 'yjs';

export function seededRandom(label: string): { seed: number; gen: prng.PRNG } {
  const seed = process.env.CONCORD_TEST_SEED ? Number(process.env.CONCORD_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`[${label}] seed ${seed} (replay with CONCORD_TEST_SEED=${seed})`);
  return { seed, gen: prng.create(seed) };
}

/** One random edit of a document's text `t`, map `m` (LWW fields) or array `a`. */
export function randomEdit(gen: prng.PRNG, doc: Y.Doc): void {
  const text = doc.getText('t');
  switch (prng.int32(gen, 0, 3)) {
    case 0:
      text.insert(prng.int32(gen, 0, text.length), `${prng.word(gen, 1, 6)} `);
      break;
    case 1:
      if (text.length > 0) {
        const at = prng.int32(gen, 0, text.length - 1);
        text.delete(at, Math.min(prng.int32(gen, 1, 5), text.length - at));
      }
      break;
    case 2:
      doc.getMap('m').set(`k${prng.int32(gen, 0, 4)}`, prng.int32(gen, 0, 1000));
      break;
    default:
      doc.getArray('a').push([prng.word(gen, 1, 4)]);
  }
}

/** A comparable summary of everything `randomEdit` touches. */
export function contentOf(doc: Y.Doc): unknown {
  return { t: doc.getText('t').toString(), m: doc.getMap('m').toJSON(), a: doc.getArray('a').toJSON() };
}
