/**
 * Per-document grants: a token's `docs` claim maps document-name globs (picomatch syntax: `project-*`,
 * `account-{1,2}`, `*`) to "write" or "read". When several globs match, the strongest grant wins; when none
 * does, the document is not granted. Globs match the tenant-local name, never the tenant.
 */
import picomatch from 'picomatch';
import { Access, activitySubject, inboxOwner, SERVER_DOCUMENT_PREFIX } from '@concord/engine';

type Matcher = (name: string) => boolean;

/** Compiled globs, kept while few: the same handful of patterns come with every token of an app. */
const MAX_CACHED_MATCHERS = 1000;
const matchers = new Map<string, Matcher>();

export function matcherFor(pattern: string): Matcher {
  let matcher = matchers.get(pattern);
  if (!matcher) {
    if (matchers.size >= MAX_CACHED_MATCHERS) matchers.clear();
    matcher = picomatch(pattern, { dot: true });
    matchers.set(pattern, matcher);
  }
  return matcher;
}

export function accessFor(grants: Readonly<Record<string, Access>>, documentName: string): Access | null {
  let granted: Access | null = null;
  for (const [pattern, access] of Object.entries(grants)) {
    if (!matcherFor(pattern)(documentName)) continue;
    if (access === Access.Write) return Access.Write;
    granted = Access.Read;
  }
  return granted;
}

/**
 * What a user's token grants on a tenant-local document name, on every path (sockets and the HTTP API): an inbox
 * (`inbox:<user>`) is its owner's alone, whatever the globs say; an activity feed (`activity:<name>`) is read by
 * whoever may read `<name>`, written by nobody; `server:…` documents are the server's alone; any other document is what
 * the globs grant.
 */
/** The name a document's grants and revocations are matched against: an activity feed's are its document's. */
export function grantName(name: string): string {
  return activitySubject(name) ?? name;
}

export function documentAccess(claims: { readonly sub: string; readonly docs: Readonly<Record<string, Access>> }, name: string): Access | null {
  // A document's activity feed (`activity:<name>`) is the server's to write: whoever may read the document reads it.
  if (name.startsWith(SERVER_DOCUMENT_PREFIX)) return null; // the server's own (the deadline schedule): nobody's
  const subject = activitySubject(name);
  if (subject !== null) return documentAccess(claims, subject) === null ? null : Access.Read;
  const owner = inboxOwner(name);
  if (owner !== null) return owner === claims.sub ? Access.Write : null;
  return accessFor(claims.docs, name);
}

/** Whether any of a token's `publish` globs matches `channel`. */
export function mayPublish(globs: readonly string[], channel: string): boolean {
  return globs.some((pattern) => matcherFor(pattern)(channel));
}
