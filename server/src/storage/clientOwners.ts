/**
 * Who owns each client id of a document (sockets/UpdateGuard.ts), stored beside the document in the same
 * DocumentStore: a log of its own, named `<document>!clients` (`!` never occurs in a document name, so no document has
 * that name, and no document's entries are its entries), one entry per claim: `[client id: varUint][user: varString]`.
 * Claims go through the group committer like updates, so a claim is durable no later than the update that made it.
 * A claim is never replaced: the first entry for a client id wins. The log grows by one small entry per client id
 * that ever wrote to the document (one per editing session); it is not compacted.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { StoredEntry } from './DocumentStore.js';

const OWNERS_LOG_SUFFIX = '!clients';

export function ownersLogName(documentName: string): string {
  return `${documentName}${OWNERS_LOG_SUFFIX}`;
}

export function encodeClaim(client: number, user: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, client);
  encoding.writeVarString(encoder, user);
  return encoding.toUint8Array(encoder);
}

/** The owners the entries record (entries that do not decode are skipped and counted). */
export function decodeOwners(entries: readonly StoredEntry[]): { owners: Map<number, string>; undecodable: number } {
  const owners = new Map<number, string>();
  let undecodable = 0;
  for (const { update } of entries) {
    try {
      const decoder = decoding.createDecoder(update);
      const client = decoding.readVarUint(decoder);
      const user = decoding.readVarString(decoder);
      if (!owners.has(client)) owners.set(client, user);
    } catch {
      undecodable += 1;
    }
  }
  return { owners, undecodable };
}
