/**
 * Lifecycle hooks, the counterpart of Frappe's `after_save`: what happens on the server after a document changed.
 *
 * - Field hooks (rules.ts): when a watched field of a loaded document changes — the document's own field, or a
 *   field of a record in a collection, including a record added with it set — the rule publishes an event to a
 *   channel with `{ document, root, record, field, value, previous, by, at }` and/or notifies a user.
 * - Webhooks: every change of a document matching a target is gathered per document for `WEBHOOK_DEBOUNCE_MS`
 *   (at most `WEBHOOK_MAX_WAIT_MS` while edits go on) and sent as one signed `document.changed` delivery listing the
 *   map fields changed (`changes`), the other roots changed (`roots`, e.g. texts) and who changed them (`by`).
 *
 * The rule: only changes people or the backend make count. Updates loaded from storage do not; channels, inboxes and
 * the workspace room are not watched. Hooks read the document, they never write to it.
 */
import { randomUUID } from 'node:crypto';
import type { afterLoadDocumentPayload, Document, Extension } from '@hocuspocus/server';
import {
  activitySubject,
  fieldEntries,
  fieldEntriesBefore,
  fieldOfKey,
  FIELDS_ROOT,
  hasField,
  INBOX_PREFIX,
  isKeyOf,
  isChannelDocument,
  isMadeElsewhere,
  isWorkspaceDocument,
  readField,
  TENANT_SEPARATOR,
  winningEntry,
} from '@concord/engine';
import picomatch from 'picomatch';
import * as Y from 'yjs';
import { authorOf } from '../auth/author.js';
import type { Logger } from '../logger.js';
import { fill, type FieldHookRule, type LifecycleConfig } from './rules.js';
import type { WebhookSender } from './webhooks.js';

/** Quiet time after the last change of a document before its webhook goes out. */
export const WEBHOOK_DEBOUNCE_MS = 1_000;
/** Longest a document's changes wait while edits go on. */
export const WEBHOOK_MAX_WAIT_MS = 5_000;

export interface FieldChange {
  readonly root: string;
  readonly record: string | null;
  readonly field: string;
  readonly value: unknown;
}

export interface LifecycleActions {
  publish(tenant: string, channel: string, event: string, payload: unknown): Promise<unknown>;
  notify(tenant: string, user: string, notification: { kind: string; title: string; target: { document: string; record?: string } }): Promise<unknown>;
}

interface PendingWebhook {
  readonly changes: Map<string, FieldChange>;
  readonly roots: Set<string>;
  readonly by: Set<string>;
  readonly firstAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

type AnyType = Y.AbstractType<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event

/** A map value as JSON (a nested record map becomes its fields). */
function plain(value: unknown): unknown {
  return value instanceof Y.AbstractType ? value.toJSON() : value;
}

/** The current value of `field` in a root type the server may never have typed (read from its items, by the engine's rule). */
function rootValue(type: AnyType, field: string): unknown {
  return plain(readField(type, field));
}

export class LifecycleExtension implements Extension {
  readonly extensionName = 'concord-lifecycle';
  private readonly config: LifecycleConfig;
  private readonly actions: LifecycleActions;
  private readonly webhooks: WebhookSender | null;
  private readonly log: Logger;
  private readonly pending = new Map<string, PendingWebhook>();
  private readonly documentsMatch: Array<(name: string) => boolean>;

  constructor(options: { config: LifecycleConfig; actions: LifecycleActions; webhooks: WebhookSender | null; log: Logger }) {
    this.config = options.config;
    this.actions = options.actions;
    this.webhooks = options.webhooks;
    this.log = options.log.child({ component: 'lifecycle' });
    this.documentsMatch = this.config.webhooks.map(({ documents }) => picomatch(documents, { dot: true }));
  }

  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    if (isChannelDocument(documentName) || isWorkspaceDocument(documentName)) return;
    const at = documentName.indexOf(TENANT_SEPARATOR);
    const tenant = documentName.slice(0, at);
    const name = documentName.slice(at + 1);
    if (name.startsWith(INBOX_PREFIX) || activitySubject(name) !== null) return;
    for (const rule of this.config.events) {
      if (picomatch.isMatch(name, rule.documents, { dot: true })) this.watch(document, tenant, name, rule);
    }
    const targets = this.config.webhooks.filter((_, i) => this.documentsMatch[i]?.(name));
    if (targets.length > 0 && this.webhooks) {
      document.on('afterTransaction', (transaction: Y.Transaction) => this.gather(tenant, name, document, transaction));
      document.once('destroy', () => this.flush(tenant, name));
    }
  }

  /** Sends what is gathered and stops. */
  async close(): Promise<void> {
    for (const key of [...this.pending.keys()]) {
      const at = key.indexOf(TENANT_SEPARATOR);
      this.flush(key.slice(0, at), key.slice(at + 1));
    }
    await this.webhooks?.stop();
  }

  private watch(document: Document, tenant: string, name: string, rule: FieldHookRule): void {
    const map = document.getMap(rule.root);
    const fire = (record: string | null, value: unknown, previous: unknown, transaction: Y.Transaction) => {
      if (isMadeElsewhere(transaction.origin)) return;
      const values = { document: name, record, field: rule.field, value, previous, by: authorOf(transaction.origin)?.id ?? null };
      if (rule.event) {
        const channel = fill(rule.channel, values);
        this.actions.publish(tenant, channel, rule.event, { root: rule.root, ...values, at: Date.now() }).catch((error: unknown) => {
          this.log.error({ err: error, document: name, channel, event: rule.event }, 'a field hook could not publish');
        });
      }
      if (rule.notify) {
        const user = fill(rule.notify.user, values);
        if (!user) return;
        const notification = {
          kind: rule.notify.kind,
          title: fill(rule.notify.title, values),
          target: record === null ? { document: name } : { document: name, record },
        };
        this.actions.notify(tenant, user, notification).catch((error: unknown) => {
          this.log.error({ err: error, document: name, user }, 'a field hook could not notify');
        });
      }
    };
    /** Fires when the transaction changed which write of the field wins (a concurrent loser arriving does not). */
    const fieldChanged = (id: string | null, target: AnyType, keys: Map<string, { action: 'add' | 'update' | 'delete'; oldValue: unknown }>, transaction: Y.Transaction) => {
      let touched = false;
      for (const key of keys.keys()) if (isKeyOf(key, rule.field)) touched = true;
      if (!touched) return;
      const before = winningEntry(fieldEntriesBefore(target, rule.field, keys));
      const after = winningEntry(fieldEntries(target, rule.field));
      // The same entry still wins, untouched by this transaction: nothing people see changed.
      if (before && after && before.key === after.key && !keys.has(after.key)) return;
      fire(id, plain(after?.value), plain(before?.value), transaction);
    };
    if (rule.root === FIELDS_ROOT) {
      map.observe((event, transaction) => fieldChanged(null, map, event.changes.keys, transaction));
      return;
    }
    map.observeDeep((events, transaction) => {
      for (const event of events) {
        if (event.target === map) {
          // Records added (or replaced) with the field set.
          for (const [id, change] of event.changes.keys) {
            const record = map.get(id);
            if (change.action === 'delete' || !(record instanceof Y.Map) || !hasField(record, rule.field)) continue;
            fire(id, plain(readField(record, rule.field)), undefined, transaction);
          }
        } else if (event.target instanceof Y.Map && event.target.parent === map) {
          const id = event.path[0];
          if (typeof id === 'string') fieldChanged(id, event.target, (event as Y.YMapEvent<unknown>).changes.keys, transaction);
        }
      }
    });
  }

  private gather(tenant: string, name: string, document: Document, transaction: Y.Transaction): void {
    if (transaction.changed.size === 0 || isMadeElsewhere(transaction.origin)) return;
    const key = `${tenant}${TENANT_SEPARATOR}${name}`;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = { changes: new Map(), roots: new Set(), by: new Set(), firstAt: Date.now(), timer: undefined };
      this.pending.set(key, pending);
    }
    const rootNames = new Map<AnyType, string>([...document.share].map(([root, type]) => [type, root]));
    for (const [type, keys] of transaction.changed) {
      const rootName = rootNames.get(type);
      const parent = type._item?.parent;
      const parentName = parent instanceof Y.AbstractType ? rootNames.get(parent) : undefined;
      const isSequence = type._start !== null && !(type instanceof Y.Map);
      if (rootName !== undefined && !isSequence) {
        for (const key of keys) {
          if (key === null) continue;
          // A collection's keys are record ids (which may contain the separator); a map of fields has stamped keys.
          const field = type._map.get(key)?.content instanceof Y.ContentType ? key : fieldOfKey(key);
          pending.changes.set(`${rootName}\u0000\u0000${field}`, { root: rootName, record: null, field, value: rootValue(type, field) });
        }
      } else if (parentName !== undefined && type instanceof Y.Map) {
        const record = type._item?.parentSub ?? null;
        for (const key of keys) {
          if (key === null) continue;
          const field = fieldOfKey(key);
          pending.changes.set(`${parentName}\u0000${record}\u0000${field}`, { root: parentName, record, field, value: rootValue(type, field) });
        }
      } else {
        let top: AnyType = type;
        while (top._item?.parent instanceof Y.AbstractType) top = top._item.parent;
        const topName = rootNames.get(top);
        if (topName !== undefined) pending.roots.add(topName);
      }
    }
    const author = authorOf(transaction.origin)?.id ?? null;
    if (author) pending.by.add(author);
    clearTimeout(pending.timer);
    const wait = Math.max(0, Math.min(WEBHOOK_DEBOUNCE_MS, pending.firstAt + WEBHOOK_MAX_WAIT_MS - Date.now()));
    pending.timer = setTimeout(() => this.flush(tenant, name), wait);
  }

  private flush(tenant: string, name: string): void {
    const key = `${tenant}${TENANT_SEPARATOR}${name}`;
    const pending = this.pending.get(key);
    if (!pending || !this.webhooks) return;
    this.pending.delete(key);
    clearTimeout(pending.timer);
    const id = randomUUID();
    const payload = {
      id,
      type: 'document.changed',
      tenant,
      document: name,
      changes: [...pending.changes.values()],
      roots: [...pending.roots],
      by: [...pending.by],
      at: Date.now(),
    };
    this.config.webhooks.forEach((target, i) => {
      if (this.documentsMatch[i]?.(name)) this.webhooks?.send(target.url, id, payload);
    });
  }
}
