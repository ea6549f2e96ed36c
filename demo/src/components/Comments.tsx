/**
 * A task's comments: a list in the task's document (`comments`, each `{ id, author, text, at }`), appended by
 * whoever writes one, so they sync, merge and work offline like the description. Who is typing a comment shows
 * under the list (presence `typing`, cleared a few seconds after the last keystroke).
 */
import type { DocumentHandle } from '@concord/client';
import type { PresenceUser } from '@concord/engine';
import { useEffect, useMemo, useReducer, useState } from 'preact/hooks';
import { usePeers } from '../hooks';
import { newId } from '../ids';
import { TaskDocument } from '../model';

export interface Comment {
  readonly id: string;
  readonly author: { readonly id: string; readonly name: string; readonly color: string };
  readonly text: string;
  readonly at: number;
}

function isComment(value: unknown): value is Comment {
  const comment = value as Partial<Comment> | null;
  return typeof comment?.id === 'string' && typeof comment.text === 'string' && typeof comment.author?.name === 'string';
}

interface CommentsProps {
  handle: DocumentHandle;
  user: PresenceUser;
}

export function Comments({ handle, user }: CommentsProps) {
  const list = useMemo(() => handle.typed(TaskDocument).list<unknown>('comments'), [handle]);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const onChange = () => rerender(undefined);
    list.observe(onChange);
    return () => list.unobserve(onChange);
  }, [list]);
  const [text, setText] = useState('');
  const comments = list.toArray().filter(isComment);
  const typists = [...new Set(usePeers(handle).filter((peer) => peer.typing === 'comments' && peer.user.id !== user.id).map((peer) => peer.user.name))];

  const send = (event: Event) => {
    event.preventDefault();
    const trimmed = text.trim();
    if (!trimmed) return;
    list.push([{ id: newId(), author: { id: user.id, name: user.name, color: user.color }, text: trimmed, at: Date.now() } satisfies Comment]);
    setText('');
    handle.presence.stopTyping();
  };

  return (
    <section class="comments" aria-label="Comments">
      <h3>Comments</h3>
      <ul class="comments__list">
        {comments.map((comment) => (
          <li key={comment.id} class="comments__item" data-testid="comment">
            <strong style={{ color: comment.author.color }}>{comment.author.name}</strong> {comment.text}
          </li>
        ))}
      </ul>
      <p class="comments__typing muted" data-testid="typing" aria-live="polite">
        {typists.length > 0 && `${typists.join(', ')} ${typists.length > 1 ? 'are' : 'is'} typing…`}
      </p>
      <form class="comments__form" onSubmit={send}>
        <input
          data-testid="comment-input"
          value={text}
          maxLength={2000}
          placeholder="Write a comment…"
          aria-label="Comment"
          onInput={(event) => {
            setText(event.currentTarget.value);
            handle.presence.typing('comments');
          }}
        />
        <button type="submit" data-testid="comment-send" disabled={!text.trim()}>
          Send
        </button>
      </form>
    </section>
  );
}
