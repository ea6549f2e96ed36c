/**
 * What an update from a client may contain, judged against the document it is for, before Hocuspocus sees it.
 *
 * Complete: everything its structs and deletions refer to is in the document, in what this connection already
 * forwarded, or in the update itself. Yjs keeps the structs of an incomplete update pending inside the document and
 * retries them on every later update (the cost grows with the square of their number), while Hocuspocus acknowledges
 * and broadcasts the update as if it were applied. So an incomplete update is held at the socket instead
 * (UpdateGate), and never enters the document while incomplete. Yjs' own rule (`Item.getMissing`, the clock gap of
 * `integrateStructs`, `readAndApplyDeleteSet`) is mirrored: per client, structs must continue from what is known
 * without a gap (a Skip is a gap); an item's left and right origins and its parent, when another client wrote
 * them, must be known; deleted ranges must be known.
 *
 * Identity: structs (items, GC structs, skips) beyond the document's state for a client may only come from the user
 * who owns that client id (the first user who wrote under it; see UpdateGuard). Structs the document already has,
 * resent by anyone, and deletions of anyone's items are ordinary. `ownerOf` says, per client, whether the sending user
 * owns it, nobody does yet, or someone else does.
 */
import * as Y from 'yjs';
import { deleteRanges, encodeBeyondKnown, type DecodedUpdate } from '../seams/yjs.js';

export const Verdict = {
  /** Complete, and every new struct is under a client id the user owns or may claim. */
  Complete: 0,
  /** Refers to something the document lacks: hold it. */
  Incomplete: 1,
  /** Writes new structs under a client id another user owns: refuse it. */
  Foreign: 2,
  /**
   * An item refers to its own writer's struct at or after itself: no client writes that (a left or right origin, or a
   * parent, existed before the item), and Yjs, which takes such references as known, fails halfway through applying
   * it, leaving the document with part of the update. Refuse it.
   */
  Malformed: 3,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export const Ownership = { Own: 0, Free: 1, Foreign: 2 } as const;
export type Ownership = (typeof Ownership)[keyof typeof Ownership];

export interface CheckResult {
  verdict: Verdict;
  /** The foreign client id (Foreign), or the writer of the malformed item (Malformed). */
  client: number;
  /** Client ids nobody owns yet that the update writes new structs under (claimed once it is forwarded). */
  readonly free: number[];
  /** Per client of the update: the clock after its last struct (what this connection has forwarded once it goes). */
  readonly ends: Map<number, number>;
  /**
   * An item starts before what is known of its client and ends after it (a resent edit that continues one the
   * document has part of, or a hostile one): the update must go on as `trimUpdate` writes it.
   */
  overlaps: boolean;
}

/** Reused for every check: the hot path allocates nothing here when the result is discarded at once. */
const result: CheckResult = { verdict: Verdict.Complete, client: 0, free: [], ends: new Map(), overlaps: false };

/** Known state of `client`: the document's, or further where this connection forwarded more that is not applied yet. */
function knownState(store: Y.Doc['store'], forwarded: ReadonlyMap<number, number> | undefined, client: number): number {
  const state = Y.getState(store, client);
  const sent = forwarded?.get(client);
  return sent !== undefined && sent > state ? sent : state;
}

/** How far `client` is known counting the update's own structs (`result.ends` holds the update's clients). */
function covered(store: Y.Doc['store'], forwarded: ReadonlyMap<number, number> | undefined, client: number): number {
  return result.ends.get(client) ?? knownState(store, forwarded, client);
}

function knows(store: Y.Doc['store'], forwarded: ReadonlyMap<number, number> | undefined, id: Y.ID | null, writer: number): boolean {
  return id === null || id.client === writer || id.clock < covered(store, forwarded, id.client);
}

/** Whether `id` refers to the writer's own struct at or after `clock`, the item's own (see Verdict.Malformed). */
function refersForward(id: Y.ID | null, writer: number, clock: number): boolean {
  return id !== null && id.client === writer && id.clock >= clock;
}

/**
 * Judges `update` for `doc`. The result is shared and valid until the next call. `forwarded`: per client, the clock
 * after what this connection forwarded for this document (applied or about to be).
 */
export function checkUpdate(
  update: DecodedUpdate,
  doc: Y.Doc,
  forwarded: ReadonlyMap<number, number> | undefined,
  ownerOf: (client: number) => Ownership,
): CheckResult {
  const store = doc.store;
  result.verdict = Verdict.Complete;
  result.free.length = 0;
  result.ends.clear();
  result.overlaps = false;
  const structs = update.structs;
  let incomplete = false;
  // Structs come grouped by client, each group in clock order.
  let client = -1;
  let state = 0;
  let end = 0;
  for (let i = 0; i < structs.length; i++) {
    const struct = structs[i]!;
    const clock = struct.id.clock;
    if (struct.id.client !== client) {
      if (client !== -1) result.ends.set(client, end);
      client = struct.id.client;
      state = Y.getState(store, client);
      end = knownState(store, forwarded, client);
      const last = structs[lastOfClient(structs, i)]!;
      if (last.id.clock + last.length > state) {
        const owner = ownerOf(client);
        if (owner === Ownership.Foreign) {
          result.verdict = Verdict.Foreign;
          result.client = client;
          return result;
        }
        if (owner === Ownership.Free) result.free.push(client);
      }
    }
    if (clock > end) incomplete = true; // a gap: Yjs would keep the rest pending
    else if (clock < end && clock + struct.length > end && struct instanceof Y.Item) result.overlaps = true;
    if (!(struct instanceof Y.Skip) && clock + struct.length > end) end = clock + struct.length;
  }
  if (client !== -1) result.ends.set(client, end);
  if (incomplete) {
    result.verdict = Verdict.Incomplete;
    return result;
  }
  for (let i = 0; i < structs.length; i++) {
    const struct = structs[i]!;
    if (!(struct instanceof Y.Item)) continue;
    const writer = struct.id.client;
    const parent = struct.parent;
    const clock = struct.id.clock;
    if (
      refersForward(struct.origin, writer, clock) ||
      refersForward(struct.rightOrigin, writer, clock) ||
      (parent instanceof Y.ID && refersForward(parent, writer, clock))
    ) {
      result.verdict = Verdict.Malformed;
      result.client = writer;
      return result;
    }
    if (
      !knows(store, forwarded, struct.origin, writer) ||
      !knows(store, forwarded, struct.rightOrigin, writer) ||
      (parent instanceof Y.ID && !knows(store, forwarded, parent, writer))
    ) {
      result.verdict = Verdict.Incomplete;
      return result;
    }
  }
  for (const [deleted, ranges] of deleteRanges(update.ds)) {
    const known = covered(store, forwarded, deleted);
    for (const range of ranges) {
      if (range.clock + range.len > known) {
        result.verdict = Verdict.Incomplete;
        return result;
      }
    }
  }
  return result;
}

/**
 * A complete `update` that overlaps what is known (`CheckResult.overlaps`), written without what is known: the item
 * that overlaps goes on from the first clock not known, as the continuation of the struct before it, so it takes that
 * struct's parent in the document as it will in storage (see `encodeBeyondKnown`). Yjs applies an honest resent edit
 * the same way either way. Call it before what the update forwards is counted.
 */
export function trimUpdate(update: DecodedUpdate, doc: Y.Doc, forwarded: ReadonlyMap<number, number> | undefined): Uint8Array {
  return encodeBeyondKnown(update, (client) => knownState(doc.store, forwarded, client))!;
}

/** Index of the last struct of the client whose group starts at `first`. */
function lastOfClient(structs: DecodedUpdate['structs'], first: number): number {
  const client = structs[first]!.id.client;
  let i = first;
  while (i + 1 < structs.length && structs[i + 1]!.id.client === client) i++;
  return i;
}
