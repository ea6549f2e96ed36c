/**
 * A task's attachments in the demo's words: which files the picker offers, how a size reads, which icon a file that
 * is not an image gets, and what a file's line says about where it is. The state comes from two sources: the
 * attachment record (`pending`, `uploaded`, `failed`: what everyone sees) and, for a file attached on this device,
 * the client's upload progress (`attachment` events) and outbox (a `file` entry while it waits).
 */
import type { AttachmentProgress } from '@concord/client';

/**
 * What the file picker offers: the server's default `CONCORD_FILE_TYPES` (docs/attachments-design.md), office files
 * by extension as well, since pickers match those more reliably than long media types.
 */
export const ACCEPTED_FILES = [
  'image/*',
  'application/pdf',
  'text/plain',
  'text/csv',
  'text/markdown',
  'audio/*',
  'video/*',
  'application/zip',
  'application/json',
  '.docx',
  '.xlsx',
  '.pptx',
  '.odt',
  '.ods',
  '.odp',
].join(',');

/** "512 B", "340.2 KB", "2.1 MB": as the client's outbox writes sizes ("photo.jpg (2.1 MB) waiting to upload"). */
export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

export function isImage(type: string): boolean {
  return type.startsWith('image/');
}

/** An icon for a file shown without a thumbnail. */
export function iconFor(type: string): string {
  if (isImage(type)) return '🖼️';
  if (type === 'application/pdf') return '📕';
  if (type.startsWith('audio/')) return '🎵';
  if (type.startsWith('video/')) return '🎬';
  if (type === 'application/zip') return '🗜️';
  if (type.startsWith('text/') || type === 'application/json') return '📄';
  return '📎';
}

/**
 * Where one attached file is, as its line shows it:
 * - `waiting`: on this device, queued (offline, or retrying after a failure that may pass);
 * - `uploading`: on its way, `sent` of `total` bytes;
 * - `uploaded`: on the server, for everyone;
 * - `failed`: refused for good, with the server's reason;
 * - `elsewhere`: pending on another device (someone else's, or this person's other one): nothing to show yet.
 */
export type FileState =
  | { readonly kind: 'waiting'; readonly retrying?: string }
  | { readonly kind: 'uploading'; readonly sent: number; readonly total: number }
  | { readonly kind: 'uploaded' }
  | { readonly kind: 'failed'; readonly error: string }
  | { readonly kind: 'elsewhere' };

export interface FileFacts {
  /** The record's state and error. */
  readonly state: 'pending' | 'uploaded' | 'failed';
  readonly error?: string | undefined;
  /** This device's last progress event for the file, if any. */
  readonly progress?: AttachmentProgress | undefined;
  /** The file waits in this device's outbox. */
  readonly queuedHere: boolean;
}

export function fileState({ state, error, progress, queuedHere }: FileFacts): FileState {
  // The record is what everyone reads; an ending this device saw first shows before the record catches up.
  if (state === 'uploaded' || progress?.state === 'uploaded') return { kind: 'uploaded' };
  if (state === 'failed') return { kind: 'failed', error: error ?? 'the server refused the file' };
  if (progress?.state === 'failed') return { kind: 'failed', error: progress.error ?? 'the server refused the file' };
  if (progress?.state === 'uploading' && queuedHere) return { kind: 'uploading', sent: progress.sent, total: progress.total };
  if (queuedHere) return progress?.error ? { kind: 'waiting', retrying: progress.error } : { kind: 'waiting' };
  return { kind: 'elsewhere' };
}
