/**
 * Clamps field stamps from the future, so a device whose clock runs ahead cannot win every conflict forever.
 *
 * Field writes carry the writer's wall time (engine/src/fields.ts). The server cannot rewrite a client's CRDT
 * update, so after a client's update is applied it looks at the stamped entries that update added, and each one whose
 * wall time is beyond the server's clock plus `FUTURE_STAMP_ALLOWANCE_MS` is re-written as a server write: the same
 * value and author, stamped with the server's clock, under the key `<field>@<server clientID>.<original writer>`,
 * and the future entry is deleted — an ordinary CRDT write that every replica receives (origin SERVER_CLAMP_ORIGIN,
 * stored like any change). So such a write counts as made when the server received it.
 *
 * The rule: only updates from connections are checked (not storage loads, not the server's own writes, so a clamp
 * never triggers another); a transaction that changed no map key with a stamp costs one pass over its changed types,
 * so typing into a text pays nothing measurable.
 */
import type { afterLoadDocumentPayload, Document, Extension } from '@hocuspocus/server';
import {
  entryValue,
  FIELD_KEY_SEPARATOR,
  fieldKey,
  isChannelDocument,
  isMadeElsewhere,
  isWorkspaceDocument,
  parseEntry,
  SERVER_CLAMP_ORIGIN,
  type FieldEntry,
} from '@concord/engine';
import * as Y from 'yjs';

/**
 * How far ahead of the server's clock a stamp may be before it is clamped: a few seconds covers ordinary clock drift
 * and the time an update takes to arrive, so honest devices are never rewritten.
 */
export const FUTURE_STAMP_ALLOWANCE_MS = 5_000;

export interface StampClampOptions {
  /** @default FUTURE_STAMP_ALLOWANCE_MS */
  readonly allowanceMs?: number;
  /** The server's clock. @default Date.now */
  readonly now?: () => number;
}

interface FutureEntry {
  readonly map: Y.AbstractType<unknown>;
  readonly entry: FieldEntry;
}

export class StampClampExtension implements Extension {
  readonly extensionName = 'concord-stamp-clamp';
  private readonly allowanceMs: number;
  private readonly now: () => number;
  /** Entries clamped since start, for tests and metrics. */
  clamped = 0;

  constructor(options: StampClampOptions = {}) {
    this.allowanceMs = options.allowanceMs ?? FUTURE_STAMP_ALLOWANCE_MS;
    this.now = options.now ?? Date.now;
  }

  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    if (isChannelDocument(documentName) || isWorkspaceDocument(documentName)) return;
    document.on('afterTransaction', (transaction: Y.Transaction) => this.check(document, transaction));
  }

  private check(document: Document, transaction: Y.Transaction): void {
    // The server's own writes (API, clamps) are stamped with its clock; storage loads were checked when they arrived,
    // and relayed changes by the instance they arrived at.
    if (transaction.local || isMadeElsewhere(transaction.origin)) return;
    let future: FutureEntry[] | null = null;
    const limit = this.now() + this.allowanceMs;
    for (const [type, keys] of transaction.changed) {
      for (const key of keys) {
        if (key === null || !key.includes(FIELD_KEY_SEPARATOR)) continue;
        const item = type._map.get(key);
        if (!item || item.deleted || item.id.clock < (transaction.beforeState.get(item.id.client) ?? 0)) continue;
        const content = item.content.getContent();
        const entry = parseEntry(key, content[content.length - 1]);
        if (entry && entry.stamp[0] > limit) (future ??= []).push({ map: type as Y.AbstractType<unknown>, entry });
      }
    }
    if (future) this.clamp(document, future);
  }

  /** Re-writes each future entry with the server's clock, in one transaction every replica receives. */
  private clamp(document: Document, future: readonly FutureEntry[]): void {
    const now = this.now();
    document.transact(() => {
      for (const { map, entry } of future) {
        const target = writable(document, map);
        if (!target) continue;
        target.delete(entry.key);
        const by = entry.by === null ? null : entry.name === null ? { id: entry.by } : { id: entry.by, name: entry.name };
        target.set(fieldKey(entry.field, `${document.clientID}.${entry.writer}`), entryValue(entry.unset ? undefined : entry.value, [now, 0], by));
        this.clamped += 1;
      }
    }, SERVER_CLAMP_ORIGIN);
  }
}

/** The map to write to: a record map, or a root map the server may not have typed yet (typed now, as a map). */
function writable(document: Document, type: Y.AbstractType<unknown>): Y.Map<unknown> | null {
  if (type instanceof Y.Map) return type;
  if (type._item !== null || type._start !== null) return null;
  try {
    return document.getMap(Y.findRootTypeKey(type));
  } catch {
    return null;
  }
}
