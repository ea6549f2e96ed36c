/**
 * Which documents have history (versions, an activity feed): the app's own. Not channels, workspace rooms, inboxes,
 * the server's own documents (`server:…`, e.g. the deadline schedule), activity feeds themselves or live views (`view:…`).
 */
import { activitySubject, INBOX_PREFIX, isViewDocument, SERVER_DOCUMENT_PREFIX, isChannelDocument, isWorkspaceDocument, TENANT_SEPARATOR } from '@concord/engine';

/** Whether a server-side `<tenant>/<name>` has history. */
export function hasHistory(documentName: string): boolean {
  if (isChannelDocument(documentName) || isWorkspaceDocument(documentName)) return false;
  const name = documentName.slice(documentName.indexOf(TENANT_SEPARATOR) + 1);
  return !name.startsWith(INBOX_PREFIX) && !name.startsWith(SERVER_DOCUMENT_PREFIX) && activitySubject(name) === null && !isViewDocument(name);
}
