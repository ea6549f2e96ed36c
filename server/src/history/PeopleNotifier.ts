/**
 * Notifications people expect from what other people do, derived on the server from the changes a client makes
 * (ActivityRecorder tells it each one), by conventions any app can follow:
 *
 * - **Mentions**: a record added to a collection named `comments` whose `mentions` field lists user ids notifies
 *   each of them (`mention`), except its author; a comment edited to mention someone more notifies the newcomers.
 * - **Replies**: such a comment whose `parent` field is the id of another comment of the same collection notifies
 *   that comment's author (`reply`), unless it is the same person (or already notified as mentioned). The parent's
 *   author is the user who created it over a connection (the owner of the Yjs client id that wrote the record), not
 *   its `author` field, which any writer can set; only a comment the server wrote (the backend API's) is taken at its
 *   `author` field.
 * - **Assignments**: a field named `assignee` (of the document or of a record) set to a user id notifies that user
 *   (`assignment`), unless they assigned themselves, or a lifecycle hook of the server's configuration already notifies
 *   on that field (the app chose its own wording: one notification, not two). A record that arrives with an assignee
 *   already set does not: that is also how a device re-sends what it holds to a server that lost it.
 *
 * Only changes made over a client connection count: a write through the backend API is the app backend's own action,
 * which notifies as it chooses (`POST /api/users/<id>/notifications`). The author is the connection's authenticated
 * user, never a field of the comment, so nobody can notify in someone else's name. Each change is derived by the
 * instance it reached, so it notifies once across a cluster. Notifications respect each user's preferences
 * (DocumentWriter.notify) and point at the document and record.
 */
import { COMMENTS_COLLECTION, FIELDS_ROOT, NotificationKind, readField } from '@concord/engine';
import type { Document } from '@hocuspocus/server';
import * as Y from 'yjs';
import type { Author } from '../auth/author.js';
import type { DocumentWriter } from '../backend/DocumentWriter.js';
import type { Logger } from '../logger.js';
import type { NoticedChanges } from './ActivityRecorder.js';

/** The collection whose records are comments, by convention (engine/src/comments.ts). */
export { COMMENTS_COLLECTION };
/** The field whose value (a user id) is the one a task is assigned to, by convention. */
export const ASSIGNEE_FIELD = 'assignee';

/** A derived change the notifier looks at (ActivityRecorder's). */
export type NoticedChange =
  | { readonly kind: 'record-added'; readonly collection: string; readonly record: string }
  /** `fields`: the removed record's last field values, as they were known. */
  | { readonly kind: 'record-removed'; readonly collection: string; readonly record: string; readonly fields?: ReadonlyMap<string, unknown> | undefined }
  | {
      readonly kind: 'field';
      readonly collection: string | null;
      readonly record: string | null;
      readonly field: string;
      readonly from: unknown;
      readonly to: unknown;
    };

/** The user who owns Yjs client id `client` in the loaded document `document` (qualified name), if known. */
export type ClientOwner = (document: string, client: number) => string | undefined;

/** The field of a comment listing the user ids it mentions. */
const MENTIONS_FIELD = 'mentions';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
type AnyType = Y.AbstractType<any>;

/** The record `id` of the root map `collection`, if it is one. */
function recordOf(document: Document, collection: string, id: string): AnyType | null {
  const item = (document.share.get(collection)?._map as Map<string, Y.Item> | undefined)?.get(id);
  if (!item || item.deleted || !(item.content instanceof Y.ContentType)) return null;
  return item.content.type as AnyType;
}

/** The user ids a `mentions` value lists. */
function mentioned(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((user): user is string => typeof user === 'string' && user.length > 0) : [];
}

const text = (value: unknown, length: number): string | undefined => (typeof value === 'string' && value.length > 0 ? value.slice(0, length) : undefined);

export class PeopleNotifier {
  private readonly writer: Pick<DocumentWriter, 'notify'>;
  private readonly log: Logger;

  /** Whether a configured lifecycle hook notifies on `assignee` of this document and root: it does, not the convention. */
  private readonly hookNotifies: (document: string, root: string) => boolean;
  private readonly ownerOf: ClientOwner;

  constructor(
    writer: Pick<DocumentWriter, 'notify'>,
    log: Logger,
    options: { hookNotifies?: (document: string, root: string) => boolean; ownerOf?: ClientOwner } = {},
  ) {
    this.writer = writer;
    this.log = log.child({ component: 'notifications' });
    this.hookNotifies = options.hookNotifies ?? (() => false);
    this.ownerOf = options.ownerOf ?? (() => undefined);
  }

  /** ActivityRecorder's listener: looks at the changes a person made over a client connection. */
  readonly listener = ({ tenant, name, document, author, changes, fromConnection }: NoticedChanges): void => {
    if (!fromConnection) return;
    for (const change of changes) this.noticed(tenant, name, document, author, change);
  };

  /** Looks at one change `author` made to `name` of `tenant` (read from `document` as it is now). */
  private noticed(tenant: string, name: string, document: Document, author: Author, change: NoticedChange): void {
    if (change.kind === 'record-added' && change.collection === COMMENTS_COLLECTION) this.comment(tenant, name, document, author, change.record);
    else if (change.kind === 'field' && change.field === ASSIGNEE_FIELD) this.assignment(tenant, name, document, author, change);
    else if (change.kind === 'field' && change.collection === COMMENTS_COLLECTION && change.record !== null && change.field === MENTIONS_FIELD) {
      this.mentionsEdited(tenant, name, document, author, change.record, change.from, change.to);
    }
  }

  private comment(tenant: string, name: string, document: Document, author: Author, id: string): void {
    const comment = recordOf(document, COMMENTS_COLLECTION, id);
    if (!comment) return;
    const body = text(readField(comment, 'text'), 300);
    const target = { document: name, record: id };
    const notified = new Set([author.id]);
    this.mention(tenant, author, mentioned(readField(comment, MENTIONS_FIELD)), notified, body, target);
    const parentId = readField(comment, 'parent');
    const parent = typeof parentId === 'string' ? recordOf(document, COMMENTS_COLLECTION, parentId) : null;
    const parentAuthor = parent ? this.authorOf(document, parent) : undefined;
    if (typeof parentAuthor === 'string' && !notified.has(parentAuthor)) {
      this.send(tenant, parentAuthor, author, { kind: NotificationKind.Reply, title: `${author.name} replied to your comment`, body, target });
    }
  }

  /** A comment's mentions changed: whoever is mentioned now and was not before is told. */
  private mentionsEdited(tenant: string, name: string, document: Document, author: Author, id: string, from: unknown, to: unknown): void {
    const comment = recordOf(document, COMMENTS_COLLECTION, id);
    if (!comment) return;
    const notified = new Set([author.id, ...mentioned(from)]);
    this.mention(tenant, author, mentioned(to), notified, text(readField(comment, 'text'), 300), { document: name, record: id });
  }

  /** Sends a `mention` to each of `users` not in `notified` (which gains them). */
  private mention(tenant: string, author: Author, users: readonly string[], notified: Set<string>, body: string | undefined, target: object): void {
    for (const user of users) {
      if (notified.has(user)) continue;
      notified.add(user);
      this.send(tenant, user, author, { kind: NotificationKind.Mention, title: `${author.name} mentioned you`, body, target });
    }
  }

  /**
   * Who wrote `comment`: the owner of the client id that created it; for a comment the server wrote (no owner: the
   * backend API's, or one stored before client ids had owners), its `author` field.
   */
  private authorOf(document: Document, comment: AnyType): string | undefined {
    const item = comment._item;
    const owner = item ? this.ownerOf(document.name, item.id.client) : undefined;
    if (owner !== undefined) return owner;
    const field = readField(comment, 'author');
    return typeof field === 'string' ? field : undefined;
  }

  private assignment(tenant: string, name: string, document: Document, author: Author, change: Extract<NoticedChange, { kind: 'field' }>): void {
    const user = change.to;
    if (typeof user !== 'string' || user.length === 0 || user === author.id) return;
    if (this.hookNotifies(name, change.collection ?? FIELDS_ROOT)) return;
    const record = change.collection !== null && change.record !== null ? recordOf(document, change.collection, change.record) : null;
    const title = text(readField(record ?? document.getMap(FIELDS_ROOT), 'title'), 120);
    this.send(tenant, user, author, {
      kind: NotificationKind.Assignment,
      title: title === undefined ? `${author.name} assigned you` : `${author.name} assigned you '${title}'`,
      target: { document: name, ...(change.record === null ? {} : { record: change.record }) },
    });
  }

  private send(tenant: string, user: string, author: Author, notification: { kind: string; title: string; body?: string | undefined; target: object }): void {
    const { body, ...rest } = notification;
    const input = { ...rest, actor: author.id, ...(body === undefined ? {} : { body }) };
    this.writer.notify(tenant, user, input, author).catch((error: unknown) => {
      this.log.warn({ err: error, user, kind: notification.kind }, 'a notification could not be delivered');
    });
  }
}
