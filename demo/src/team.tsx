/**
 * The team, for the components that pick people: everyone of the workspace (online, idle or offline, what the
 * **N online** panel lists, `useWorkspace`), provided once under the sync client so a task's assignee picker and its
 * comment box (mentions) read the same list without each being handed the client.
 *
 * Also the people a comment names: `@Name` of a teammate, found in the text on send (the `mentions` of a
 * CommentRecord are their user ids) and highlighted when shown.
 */
import type { Member, SyncClient } from '@concord/client';
import { colorForUser, type PresenceUser } from '@concord/engine';
import { createContext, type ComponentChildren } from 'preact';
import { useContext } from 'preact/hooks';
import { useWorkspace } from './hooks';

const TeamContext = createContext<readonly Member[]>([]);

/** Provides the workspace's members to everything under it, live. */
export function TeamProvider({ client, children }: { client: SyncClient; children: ComponentChildren }) {
  const members = useWorkspace(client);
  return <TeamContext.Provider value={members}>{children}</TeamContext.Provider>;
}

/** Everyone of the workspace (the signed-in person included, `self`), online first, then by name. */
export function useTeam(): readonly Member[] {
  return useContext(TeamContext);
}

/** The team by user id, with more people who are not (or no longer) in it, such as the authors of comments. */
export function directory(members: readonly Member[], more: Iterable<PresenceUser> = []): Map<string, PresenceUser> {
  const people = new Map<string, PresenceUser>();
  for (const person of more) people.set(person.id, person);
  for (const { user } of members) people.set(user.id, user);
  return people;
}

/** Someone known only by id and name (a comment's author): their colour is the one their id gives everywhere. */
export function personOf(id: string, name: string): PresenceUser {
  return { id, name, color: colorForUser(id) };
}

/** Text as names are compared while typing: lower case, without accents. */
export function folded(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

/**
 * Whether `name` answers the typed `query`: its start, or the start of one of its words. A query that ends with a
 * space asks for a name of more words ("Ann " is Ann Lee, no longer Ann).
 */
export function nameMatches(name: string, query: string): boolean {
  const wanted = folded(query);
  if (!wanted) return true;
  const words = folded(name);
  return words.startsWith(wanted) || words.split(/\s+/).some((word) => word.startsWith(wanted));
}

/** `@Name` ends where a name may end: at the end of the text, or before anything but a letter or digit. */
function endsName(text: string, at: number): boolean {
  return at >= text.length || !/[\p{L}\p{N}_]/u.test(text.charAt(at));
}

/** `@Name` starts where a mention may start: at the start of the text, or after anything but a letter or digit. */
function startsMention(text: string, at: number): boolean {
  return at === 0 || !/[\p{L}\p{N}_]/u.test(text.charAt(at - 1));
}

/** A run of a comment's text: plain, or an `@Name` of someone. */
export type TextPart = { readonly text: string; readonly person?: PresenceUser };

/**
 * The comment's text cut into runs, `@Name` of each of `people` as runs of their own (the longest name first, so
 * "@Ann Lee" is Ann Lee and not Ann).
 */
export function mentionParts(text: string, people: Iterable<PresenceUser>): TextPart[] {
  const byLength = [...people].filter(({ name }) => name.length > 0).sort((a, b) => b.name.length - a.name.length);
  const parts: TextPart[] = [];
  let plain = '';
  let at = 0;
  while (at < text.length) {
    const person =
      text.charAt(at) === '@' && startsMention(text, at)
        ? byLength.find(({ name }) => text.startsWith(name, at + 1) && endsName(text, at + 1 + name.length))
        : undefined;
    if (person) {
      if (plain) parts.push({ text: plain });
      plain = '';
      parts.push({ text: `@${person.name}`, person });
      at += 1 + person.name.length;
    } else {
      plain += text.charAt(at);
      at += 1;
    }
  }
  if (plain) parts.push({ text: plain });
  return parts;
}

/** The user ids of `people` the text mentions (`@Name`), each once, in the order they appear. */
export function mentionedIds(text: string, people: Iterable<PresenceUser>): string[] {
  return [...new Set(mentionParts(text, people).flatMap(({ person }) => (person ? [person.id] : [])))];
}
