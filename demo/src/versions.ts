/**
 * Version history in the demo's own words: what a version is called ("Draft", "Automatic", "Before a restore"),
 * when it was saved ("just now", "5 min ago"), and a task document's content as the History panel compares it —
 * the description as plain text (one line per paragraph, heading or list item) and the number of comments — for
 * the live document and for a version's state read into a `Y.Doc` of its own (never the live one).
 */
import type { DocumentHandle, VersionInfo } from '@concord/client';
import { diffWordsWithSpace } from 'diff';
import * as Y from 'yjs';
import { TaskDocument } from './model';

/** How a version reads in the list: its name, or why it was saved. */
export function versionLabel(version: VersionInfo): string {
  if (version.name) return version.name;
  return version.reason === 'restore' ? 'Before a restore' : 'Automatic';
}

/** "just now", "5 min ago", "3 h ago", "yesterday", then the date. */
export function relativeTime(at: number, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 60) return 'just now';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  if (hours < 48) return 'yesterday';
  return new Date(at).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

/** The clock time of `at` ("14:32"), with the date when it is not today ("12 Mar, 14:32"). */
export function clockTime(at: number, now: number = Date.now()): string {
  const date = new Date(at);
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === new Date(now).toDateString()) return time;
  return `${date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}, ${time}`;
}

/** A text run without its formatting (bold, italic). */
function runText(text: Y.XmlText): string {
  return (text.toDelta() as Array<{ insert?: unknown }>).map((op) => (typeof op.insert === 'string' ? op.insert : '')).join('');
}

/** The text of one paragraph-like element: its text runs, with hard breaks as line breaks. */
function inlineText(element: Y.XmlElement): string {
  return element
    .toArray()
    .map((child) => {
      if (child instanceof Y.XmlText) return runText(child);
      if (child instanceof Y.XmlElement && child.nodeName === 'hardBreak') return '\n';
      return child instanceof Y.XmlElement ? inlineText(child) : '';
    })
    .join('');
}

/** Lines of a block: a paragraph or heading is one line; a list, list item or quote is the lines of its blocks. */
function blockLines(node: Y.XmlElement | Y.XmlText | Y.XmlHook): string[] {
  if (node instanceof Y.XmlText) return [runText(node)];
  if (!(node instanceof Y.XmlElement)) return [];
  const children = node.toArray();
  const isContainer = children.length > 0 && children.every((child) => child instanceof Y.XmlElement && child.nodeName !== 'hardBreak');
  return isContainer ? children.flatMap(blockLines) : [inlineText(node)];
}

/** The rich text as plain text, one line per paragraph (what the editor shows, without formatting). */
export function plainText(fragment: Y.XmlFragment): string {
  return fragment.toArray().flatMap(blockLines).join('\n');
}

/** What the History panel compares: the description as plain text and the number of comments. */
export interface TaskContent {
  readonly description: string;
  readonly comments: number;
}

export function taskContent(doc: Y.Doc): TaskContent {
  const typed = TaskDocument.open(doc);
  const comments = typed.collection('comments').entries().filter(([, comment]) => comment.get('deleted') !== true).length;
  return { description: plainText(typed.richText('description')), comments };
}

/** The content of version `id` of the task document, read into a scratch `Y.Doc` (the live one is not touched). */
export async function versionContent(handle: DocumentHandle, id: string): Promise<TaskContent> {
  const update = await handle.version(id);
  const doc = new Y.Doc();
  try {
    Y.applyUpdate(doc, update);
    return taskContent(doc);
  } finally {
    doc.destroy();
  }
}

/** One run of the comparison: text in both, added since the version, or removed since. */
export interface DiffPart {
  readonly text: string;
  readonly kind: 'same' | 'added' | 'removed';
}

/** Word by word (jsdiff), what changed from `then` (a version) to `now` (the current text); line breaks count as words. */
export function compareText(then: string, now: string): DiffPart[] {
  return diffWordsWithSpace(then, now).map((change) => ({
    text: change.value,
    kind: change.added ? 'added' : change.removed ? 'removed' : 'same',
  }));
}

/**
 * Resolves once the server has every local change of `handle` (its outbox is empty), so that a version saved next
 * holds them; false when that did not happen within `timeoutMs`.
 */
export function whenAcknowledged(handle: DocumentHandle, timeoutMs: number): Promise<boolean> {
  if (handle.outbox().length === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (acknowledged: boolean) => {
      clearTimeout(timer);
      handle.off('outbox', onOutbox);
      resolve(acknowledged);
    };
    const onOutbox = (entries: readonly unknown[]) => {
      if (entries.length === 0) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    handle.on('outbox', onOutbox);
  });
}
