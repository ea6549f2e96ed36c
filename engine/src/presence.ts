/**
 * Presence: what each connected client shares through Yjs awareness.
 *
 * The shape is the one editor bindings already read: `user` holds name and colour (Tiptap's CollaborationCaret and
 * y-prosemirror draw carets from it) and `cursor` holds the selection as Yjs relative positions. Remote states are
 * untrusted input: `parsePresence` returns null for anything that is not a presence state, so a stock client that
 * shares something else is listed without a name rather than breaking the page.
 */
import { z } from 'zod';

export interface PresenceUser {
  /** The token's `sub`. */
  readonly id: string;
  readonly name: string;
  /** A CSS colour, `#rrggbb`. */
  readonly color: string;
}

/** A selection as JSON-encoded Yjs relative positions (what y-prosemirror stores), or null when not in an editor. */
export interface PresenceCursor {
  readonly anchor: unknown;
  readonly head: unknown;
}

export interface PresenceState {
  readonly user: PresenceUser;
  readonly cursor?: PresenceCursor | null;
  /** What the user is looking at: a page, route or document name. */
  readonly page?: string;
  /** The document the user has on screen, or null. */
  readonly document?: string | null;
  /** The field the user is editing (`status`, `title`), or null. */
  readonly field?: string | null;
  /** The record whose field is being edited, for fields of records in collections. */
  readonly record?: string | null;
  /** The user also locks `field` (of `record`): other users' typed writes to it are refused unless forced. */
  readonly locked?: boolean;
  /** Where the user is typing (`comments`), or null; cleared by the client after a few quiet seconds. */
  readonly typing?: string | null;
  /** `idle` after `IDLE_AFTER_MS` without input. */
  readonly status?: PresenceStatus;
  /** When the user last gave input (ms since the epoch). */
  readonly lastActiveAt?: number;
}

export type PresenceStatus = 'online' | 'idle';

/** No input for this long makes a user idle (SPEC §4: "idle after 5 minutes without input"). */
export const IDLE_AFTER_MS = 5 * 60_000;

/**
 * The workspace room: one per tenant, joined by every client that wants workspace-wide presence. `@` never starts a
 * document name, so no document collides with it; any token of the tenant may join it (read-only, presence only),
 * and it is never stored.
 */
export const WORKSPACE_ROOM = '@workspace';

/** Whether a server-side `<tenant>/<name>` is a tenant's workspace room. */
export function isWorkspaceDocument(qualified: string): boolean {
  const at = qualified.indexOf('/');
  return at >= 0 && qualified.slice(at + 1) === WORKSPACE_ROOM;
}

/** Someone who left the workspace room, as the server remembers them. */
export interface LastSeen {
  readonly name: string;
  readonly color: string;
  /** When their last connection left (ms since the epoch). */
  readonly at: number;
}

const lastSeenSchema = z.object({
  lastSeen: z.record(z.string(), z.object({ name: z.string().max(200), color: z.string().max(20), at: z.number() })),
});

/** The server's own awareness state in a workspace room: who left, and when; null for any other state. */
export function parseLastSeen(state: unknown): Record<string, LastSeen> | null {
  const result = lastSeenSchema.safeParse(state);
  return result.success ? result.data.lastSeen : null;
}

/** A presence state with the awareness client id it came from. */
export interface Peer extends PresenceState {
  readonly clientId: number;
}

const presenceSchema = z.object({
  user: z.object({
    id: z.string().min(1).max(200),
    name: z.string().max(200),
    color: z.string().regex(/^#[0-9a-fA-F]{6}$/),
  }),
  cursor: z.object({ anchor: z.unknown(), head: z.unknown() }).nullable().optional(),
  page: z.string().max(500).optional(),
  document: z.string().max(200).nullable().optional(),
  field: z.string().max(200).nullable().optional(),
  record: z.string().max(200).nullable().optional(),
  locked: z.boolean().optional(),
  typing: z.string().max(200).nullable().optional(),
  status: z.enum(['online', 'idle']).optional(),
  lastActiveAt: z.number().optional(),
});

export function parsePresence(state: unknown): PresenceState | null {
  const result = presenceSchema.safeParse(state);
  return result.success ? (result.data as PresenceState) : null;
}

/** Colours with enough contrast for a caret label on white. */
export const PRESENCE_COLORS = [
  '#e03131', '#2f9e44', '#1971c2', '#f08c00', '#9c36b5', '#0c8599', '#c2255c', '#5c940d', '#3b5bdb', '#d9480f',
] as const;

/** A stable colour per user id, so a person has the same colour on every screen. */
export function colorForUser(id: string): string {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (Math.imul(hash, 31) + id.charCodeAt(i)) | 0;
  return PRESENCE_COLORS[Math.abs(hash) % PRESENCE_COLORS.length] as string;
}
