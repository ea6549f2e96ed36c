/**
 * Attachments: files that belong to a document (issue 17). The file itself is stored by the server, content-addressed
 * by its SHA-256 per tenant (`/api/documents/<name>/files`, see docs/attachments-design.md); the document refers to it
 * with a record of the collection `attachments`, which the client writes as soon as the file is picked (offline too)
 * and updates as the upload goes on. The server reads these records to know which documents still use a file:
 * a file no document refers to for the retention period is removed.
 */
import { z } from 'zod';
import { defineRecord } from './record.js';

export const ATTACHMENTS_COLLECTION = 'attachments';

/** A SHA-256 digest in lowercase hex: a file's address. */
export const fileHash = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 digest in lowercase hex');

/**
 * Where a file is: `pending` on its author's device, waiting to upload (others see it listed, without content);
 * `uploaded` on the server, readable by whoever reads the document; `failed` refused for good (the `error` says why).
 */
export const AttachmentState = {
  Pending: 'pending',
  Uploaded: 'uploaded',
  Failed: 'failed',
} as const;
export type AttachmentState = (typeof AttachmentState)[keyof typeof AttachmentState];

export const AttachmentRecord = defineRecord('attachment', {
  /** The file's name as picked ("photo.jpg"). */
  name: z.string().min(1).max(255),
  /** Bytes. */
  size: z.number().int().nonnegative(),
  /** Its media type ("image/jpeg"). */
  type: z.string().min(1).max(255),
  hash: fileHash,
  state: z.enum([AttachmentState.Pending, AttachmentState.Uploaded, AttachmentState.Failed]),
  /** The record of the document it is attached to (a task, a comment), if not the document as a whole. */
  record: z.string().optional(),
  /** Who attached it (user id), and when (ms since the epoch). */
  addedBy: z.string(),
  addedAt: z.number(),
  /** Why it was refused (state `failed`). */
  error: z.string().optional(),
});
