/**
 * The user's notifications inbox (engine/src/inbox.ts) as the app sees it: a list, an unread count, marking read,
 * per-kind preferences, and an event for each notification that arrives while the app runs.
 *
 * The rule (C16): the inbox is the document `inbox:<sub>`, opened like any other (IndexedDB copy, outbox, offline
 * edits), so reading a notification offline is kept and sent later, and every device of the user converges on the
 * same read state. `unreadCount` counts unread notifications of kinds that are switched on. A notification counts as
 * arriving (`notification` event) when a record is added by the server after the first sync, not when the stored
 * copy loads. What the user is viewing (`setViewing`) is marked read at once, and so is every notification about it
 * that arrives while it is viewed (it is still announced).
 */
import {
  DEFAULT_NOTIFICATION_PREFERENCE,
  FIELDS_ROOT,
  InboxDocument,
  notificationPreference,
  preferenceField,
  readField,
  writeFields,
  type NotificationPreference,
} from '@concord/engine';
import { ObservableV2 } from 'lib0/observable';
import type * as Y from 'yjs';
import type { DocumentHandle, Inbox, InboxEvents, InboxNotification, ViewedTarget } from './types.js';

export class InboxView extends ObservableV2<InboxEvents> implements Inbox {
  readonly handle: DocumentHandle;
  private readonly typed;
  private readonly preferences: Y.Map<unknown>;
  private viewed: ViewedTarget | null = null;
  private synced = false;
  private readonly stopObserving: () => void;
  private readonly release: () => void;

  constructor(handle: DocumentHandle, release: () => void) {
    super();
    this.handle = handle;
    this.release = release;
    this.typed = InboxDocument.open(handle.doc);
    this.preferences = handle.doc.getMap(FIELDS_ROOT);
    const notifications = this.typed.collection('notifications');
    this.stopObserving = notifications.observe(this.onNotifications);
    this.preferences.observe(this.onPreferences);
    void handle.whenSynced().then(
      () => {
        this.synced = true;
        this.markViewedRead();
      },
      () => {},
    );
  }

  get name(): string {
    return this.handle.name;
  }

  notifications(): InboxNotification[] {
    const list: InboxNotification[] = [];
    for (const [id, record] of this.typed.collection('notifications').entries()) {
      const values = record.toJSON();
      // A record that does not pass the schema (another writer's) lacks these and is not shown.
      if (values.kind === undefined || values.title === undefined || values.createdAt === undefined) continue;
      list.push({ ...values, id, kind: values.kind, title: values.title, createdAt: values.createdAt, read: values.readAt !== undefined });
    }
    return list.sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id));
  }

  get unreadCount(): number {
    return this.notifications().filter((entry) => !entry.read && this.preference(entry.kind).enabled).length;
  }

  markRead(id: string): void {
    const record = this.typed.collection('notifications').get(id);
    if (record && record.get('readAt') === undefined) record.set('readAt', Date.now());
  }

  markAllRead(): void {
    this.handle.doc.transact(() => {
      for (const entry of this.notifications()) if (!entry.read) this.markRead(entry.id);
    });
  }

  setViewing(target: ViewedTarget | null): void {
    this.viewed = target;
    this.markViewedRead();
  }

  preference(kind: string): NotificationPreference {
    const stored = notificationPreference.safeParse(readField(this.preferences, preferenceField(kind)));
    return stored.success ? stored.data : DEFAULT_NOTIFICATION_PREFERENCE;
  }

  setPreference(kind: string, preference: Partial<NotificationPreference>): void {
    writeFields(this.preferences, [[preferenceField(kind), { ...this.preference(kind), ...preference }]], { origin: null, force: true });
  }

  async close(): Promise<void> {
    this.stopObserving();
    this.preferences.unobserve(this.onPreferences);
    this.release();
    super.destroy();
    await this.handle.close();
  }

  private matchesViewed(entry: InboxNotification): boolean {
    const viewed = this.viewed;
    if (!viewed || entry.target?.document !== viewed.document) return false;
    return viewed.record === undefined || entry.target.record === undefined || entry.target.record === viewed.record;
  }

  private markViewedRead(): void {
    if (!this.viewed) return;
    const matching = this.notifications().filter((entry) => !entry.read && this.matchesViewed(entry));
    if (matching.length === 0) return;
    this.handle.doc.transact(() => {
      for (const entry of matching) this.markRead(entry.id);
    });
  }

  private readonly onNotifications = (ids: ReadonlySet<string>, transaction: Y.Transaction) => {
    if (this.synced && !transaction.local) {
      // Keys of the collection map itself that changed are records added or removed (field edits change the record).
      const added = transaction.changed.get(this.typed.collection('notifications').map as unknown as Parameters<typeof transaction.changed.get>[0]) ?? new Set();
      const arrived = this.notifications().filter(
        (entry) => ids.has(entry.id) && !entry.read && added.has(entry.id),
      );
      for (const entry of arrived) {
        // Seen as it arrives: read at once, still announced (the toast tells what happened to what is on screen).
        if (this.matchesViewed(entry)) queueMicrotask(() => this.markRead(entry.id));
        const preference = this.preference(entry.kind);
        if (preference.enabled) this.emit('notification', [entry, preference]);
      }
    }
    this.emit('change', [this.notifications()]);
  };

  private readonly onPreferences = () => {
    this.emit('change', [this.notifications()]);
  };
}
