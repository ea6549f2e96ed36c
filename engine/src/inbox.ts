/**
 * Notifications inbox: one Concord document per user, `inbox:<user id>`, so it syncs, survives offline and merges
 * across the user's devices like any document.
 *
 * It holds a collection `notifications` (one LWW record per notification: what happened, about which document, when,
 * and `readAt` once read) and the user's per-kind preferences in its own fields (`preference.<kind>` →
 * `{ enabled, sound }`; a kind switched off is not delivered).
 * The server adds notifications (backend API, lifecycle hooks); the user's clients mark them read. The rule for
 * access: an inbox is its owner's alone — the server grants `inbox:<sub>` to the token whose `sub` it names, with
 * write, and to no other token whatever its `docs` globs say.
 */
import { z } from 'zod';
import { ConcordError, ErrorKind } from './codes.js';
import { documentNameProblem } from './names.js';
import { defineRecord } from './record.js';
import { defineDocument } from './schema.js';

export const INBOX_PREFIX = 'inbox:';

/** Kinds every app has; apps may add their own (`custom` or any name of letters, digits, `.`, `_`, `-`). */
export const NotificationKind = {
  Mention: 'mention',
  Assignment: 'assignment',
  Reply: 'reply',
  Deadline: 'deadline',
  Custom: 'custom',
} as const;

const kind = z.string().regex(/^[a-z][a-z0-9._-]{0,39}$/, 'a notification kind is 1-40 lowercase letters, digits, . _ -');

export const notificationTarget = z.object({
  document: z.string().min(1).max(128),
  record: z.string().min(1).max(200).optional(),
  field: z.string().min(1).max(200).optional(),
});

export const Notification = defineRecord('notification', {
  kind,
  title: z.string().min(1, 'a notification needs a title').max(200),
  body: z.string().max(2000).optional(),
  /** What the notification is about: viewing it marks the notification read. */
  target: notificationTarget.optional(),
  /** Who caused it (a user id), when known. */
  actor: z.string().max(200).optional(),
  createdAt: z.number(),
  /** When the user read it; unset while unread. */
  readAt: z.number().optional(),
  /** Anything else the app attaches (JSON). */
  data: z.json().optional(),
});

export const notificationPreference = z.object({ enabled: z.boolean(), sound: z.boolean() });
export type NotificationPreference = z.output<typeof notificationPreference>;

/** Preferences of kinds the user never set: shown, without sound. */
export const DEFAULT_NOTIFICATION_PREFERENCE: NotificationPreference = Object.freeze({ enabled: true, sound: false });

export const InboxDocument = defineDocument('inbox', {
  collections: { notifications: Notification },
});

/** What the backend sends to notify a user (`createdAt` and `readAt` are the server's and the user's). */
export const notificationInput = z
  .object({
    kind,
    title: z.string().min(1, 'title is required').max(200),
    body: z.string().max(2000).optional(),
    target: notificationTarget.optional(),
    actor: z.string().max(200).optional(),
    data: z.json().optional(),
  })
  .strict();
export type NotificationInput = z.input<typeof notificationInput>;

/** The inbox document of `userId`; throws a ConcordError when the id cannot be part of a document name. */
export function inboxDocumentName(userId: string): string {
  const name = `${INBOX_PREFIX}${userId}`;
  const problem = documentNameProblem(name);
  if (problem) throw new ConcordError(ErrorKind.InvalidDocumentName, `user id ${JSON.stringify(userId)} cannot name an inbox: ${problem}`);
  return name;
}

/** The user whose inbox `name` is, or null when `name` is not an inbox. */
export function inboxOwner(name: string): string | null {
  return name.startsWith(INBOX_PREFIX) ? name.slice(INBOX_PREFIX.length) : null;
}

/** The field of the inbox's own fields that holds the preference of `kind`. */
export function preferenceField(notificationKind: string): string {
  return `preference.${notificationKind}`;
}
