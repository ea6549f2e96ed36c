/**
 * Per-document grants: a token's `docs` claim maps document-name globs (picomatch syntax: `project-*`,
 * `account-{1,2}`, `*`) to "write" or "read". When several globs match, the strongest grant wins; when none
 * does, the document is not granted. Globs match the tenant-local name, never the tenant.
 */
import picomatch from 'picomatch';
import { Access, activitySubject, inboxOwner, parseViewName, SERVER_DOCUMENT_PREFIX, VIEW_PREFIX } from '@concord/engine';

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
 * whoever may read `<name>`, written by nobody; a live view (`view:<spec>`) is read by whoever is granted its whole
 * documents pattern (globCovers), written by nobody; `server:…` documents are the server's alone; any other document is what
 * the globs grant.
 */
/**
 * The name a document's grants and revocations are matched against: an activity feed's are its document's, a live
 * view's (`view:<spec>`) its documents pattern.
 */
export function grantName(name: string): string {
  return activitySubject(name) ?? parseViewName(name)?.documents ?? name;
}

const GLOB_CHARACTERS = /[*?{}[\]!(),]/;

/**
 * Whether `grant` (a token's glob) matches every name `pattern` (a view's documents glob) can match. Decided
 * conservatively: the same glob, a pattern without glob characters that the grant matches, or a grant that is a plain
 * prefix followed by one trailing `*` (`project-*`, `*`) and a pattern starting with that prefix.
 */
export function globCovers(grant: string, pattern: string): boolean {
  if (grant === pattern) return true;
  if (!GLOB_CHARACTERS.test(pattern)) return matcherFor(grant)(pattern);
  if (!grant.endsWith('*')) return false;
  const prefix = grant.slice(0, -1);
  return !GLOB_CHARACTERS.test(prefix) && pattern.startsWith(prefix);
}

/** The literal start of a glob: every name it matches starts with it. */
export function literalPrefix(glob: string): string {
  const at = glob.search(GLOB_CHARACTERS);
  return at < 0 ? glob : glob.slice(0, at);
}

/**
 * Whether a revocation of `glob` covers `name`, a grant's name (grantName): a document's name, or a view's documents
 * pattern, which any revocation of a document the pattern may cover reaches. Decided on the safe side for patterns:
 * the two globs' literal starts are compatible (one starts with the other).
 */
export function revocationCovers(glob: string, name: string): boolean {
  if (!GLOB_CHARACTERS.test(name)) return matcherFor(glob)(name);
  if (matcherFor(glob)(name)) return true;
  const [a, b] = [literalPrefix(glob), literalPrefix(name)];
  return a.startsWith(b) || b.startsWith(a);
}

/** What a token's globs grant on every document `pattern` covers: read at most (views are the server's to write). */
function patternAccess(grants: Readonly<Record<string, Access>>, pattern: string): Access | null {
  return Object.keys(grants).some((grant) => globCovers(grant, pattern)) ? Access.Read : null;
}

export function documentAccess(claims: { readonly sub: string; readonly docs: Readonly<Record<string, Access>> }, name: string): Access | null {
  // A document's activity feed (`activity:<name>`) is the server's to write: whoever may read the document reads it.
  if (name.startsWith(SERVER_DOCUMENT_PREFIX)) return null; // the server's own (the deadline schedule): nobody's
  const view = parseViewName(name);
  if (view !== null) return patternAccess(claims.docs, view.documents);
  if (name.startsWith(VIEW_PREFIX)) return null; // not a canonical view name: no such document
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
