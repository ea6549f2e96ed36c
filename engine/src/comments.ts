/**
 * Comments, as the server's notification conventions read them (server/src/history/PeopleNotifier.ts): records of a
 * collection named `comments` in the document they are about. A comment added with `mentions` notifies those users;
 * one with a `parent` notifies the parent comment's `author`. Edits set `text` and `editedAt`; a deleted comment that
 * has replies keeps its record with `deleted` set, so the thread stays whole.
 */
import { z } from 'zod';
import { defineRecord } from './record.js';

export const COMMENTS_COLLECTION = 'comments';

export const CommentRecord = defineRecord('comment', {
  text: z.string().max(10_000),
  /** The author's user id (`sub`) and display name. */
  author: z.string(),
  authorName: z.string(),
  createdAt: z.number(),
  editedAt: z.number().optional(),
  /** The comment this one answers, in the same collection. */
  parent: z.string().optional(),
  /** User ids mentioned (`@name`), each notified once. */
  mentions: z.array(z.string()).optional(),
  /** Deleted by its author while replies hang off it: shown as "deleted". */
  deleted: z.boolean().optional(),
});
