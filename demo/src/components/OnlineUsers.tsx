/**
 * The team: everyone of the workspace with a dot for online (green), idle (amber, no input for five minutes) or
 * offline (grey), and in the panel what they are looking at and when they were last active or seen.
 */
import type { Member, SyncClient } from '@concord/client';
import { useState } from 'preact/hooks';
import { useWorkspace } from '../hooks';
import { isProjectDocument, projectName, projectOf, PROJECT_DOCUMENT } from '../model';
import { Avatar } from './Avatar';

function since(at: number | null): string {
  if (at === null) return '';
  const minutes = Math.round((Date.now() - at) / 60_000);
  return minutes < 1 ? 'just now' : minutes < 60 ? `${minutes} min ago` : new Date(at).toLocaleString();
}

/** Where someone is, in the demo's words. */
function place(document: string | null): string | null {
  if (document === PROJECT_DOCUMENT) return 'on the board';
  if (document && isProjectDocument(document)) return `on ${projectName(projectOf(document))}`;
  if (document?.startsWith('task-')) return 'viewing a task';
  return document;
}

function describe(member: Member): string {
  if (member.status === 'offline') return `offline · last seen ${since(member.lastSeenAt)}`;
  const where = place(member.document);
  const activity = member.status === 'idle' ? `idle · last active ${since(member.lastActiveAt)}` : 'online';
  return where ? `${activity} · ${where}` : activity;
}

export function OnlineUsers({ client }: { client: SyncClient }) {
  const members = useWorkspace(client);
  const [open, setOpen] = useState(false);
  const online = members.filter(({ status }) => status !== 'offline').length;
  return (
    <div class="team">
      <button type="button" class="team__button" data-testid="online-users" aria-expanded={open} onClick={() => setOpen(!open)}>
        {online} online
      </button>
      {open && (
        <ul class="team__panel" data-testid="team-panel" aria-label="People in the workspace">
          {members.map((member) => (
            <li key={member.user.id} class="team__member" data-testid="member" data-user-id={member.user.id} data-status={member.status} data-document={member.document ?? undefined}>
              <span class={`team__dot team__dot--${member.status}`} aria-hidden="true" />
              <Avatar user={member.user} small />
              <span>
                <strong>{member.user.name}</strong>
                {member.self && ' (you)'}
                <span class="muted"> · {describe(member)}</span>
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
