/**
 * A task's comments: records of the collection `comments` in the task's document (the engine's `CommentRecord`), so
 * they sync, merge and work offline like the description, and the server notifies people by its conventions
 * (server/src/history/PeopleNotifier.ts): whoever a new comment `@mentions`, and the author of the comment a reply
 * answers.
 *
 * - Each comment shows its author (name in their colour), when it was written ("just now", "2 min ago", moving on
 *   while shown) and "(edited)" once edited.
 * - Your own comments (`author` is your user id) can be edited inline (`text`, `editedAt`) and deleted: the record
 *   goes, or, when replies hang off it, it stays marked `deleted` with its text cleared ("Comment deleted"), so the
 *   thread stays whole; removing the last reply of such a comment removes it too.
 * - "Reply" opens a box under the thread: replies (`parent` = the top comment's id) show indented under it, one level
 *   deep; replying to a reply answers the same thread and starts with `@Name` of whoever wrote that reply.
 * - `@` and a few letters in any comment box list the team to mention (MentionInput.tsx); on send, `mentions` holds
 *   the user ids of the teammates named `@Name` in the text, and the names show highlighted.
 *
 * Who is typing a comment shows under the list (presence `typing`, cleared a few seconds after the last keystroke).
 */
import type { DocumentHandle } from '@concord/client';
import type { PresenceUser } from '@concord/engine';
import { useMemo, useState } from 'preact/hooks';
import { useNow, usePeers, useRecords } from '../hooks';
import { newId } from '../ids';
import { TaskDocument } from '../model';
import { directory, mentionedIds, mentionParts, personOf, useTeam } from '../team';
import { clockTime, relativeTime } from '../versions';
import { Avatar } from './Avatar';
import { MentionInput } from './MentionInput';

/** Longest comment accepted by the box (the record allows more). */
const MAX_COMMENT_LENGTH = 2000;
/** How often "2 min ago" is re-read while the comments are shown. */
const CLOCK_TICK_MS = 15_000;

/** A comment as shown: the record's valid fields and its id. */
export interface CommentView {
  readonly id: string;
  readonly text: string;
  readonly author: string;
  readonly authorName: string;
  readonly createdAt: number;
  readonly editedAt?: number | undefined;
  readonly parent?: string | undefined;
  readonly mentions?: readonly string[] | undefined;
  readonly deleted?: boolean | undefined;
}

/** A top comment and its replies, oldest first. */
export interface Thread {
  readonly comment: CommentView;
  readonly replies: CommentView[];
}

/**
 * The comments as threads, one level deep: a reply (`parent`) joins the thread of its top comment, however deep the
 * `parent`s go (another app may nest them); a comment whose parent is gone, or whose parents go round in a circle,
 * shows as a top comment. A comment marked deleted with no replies left is not shown.
 */
export function threadsOf(comments: readonly CommentView[]): Thread[] {
  const byId = new Map(comments.map((comment) => [comment.id, comment]));
  const topOf = (comment: CommentView): CommentView => {
    const seen = new Set([comment.id]);
    let current = comment;
    for (;;) {
      const parent = current.parent === undefined ? undefined : byId.get(current.parent);
      if (!parent) return current;
      if (seen.has(parent.id)) return comment;
      seen.add(parent.id);
      current = parent;
    }
  };
  const threads = new Map<string, Thread>();
  const tops = comments.filter((comment) => topOf(comment) === comment);
  for (const comment of tops) threads.set(comment.id, { comment, replies: [] });
  for (const comment of comments) if (topOf(comment) !== comment) threads.get(topOf(comment).id)?.replies.push(comment);
  return [...threads.values()].filter(({ comment, replies }) => !comment.deleted || replies.length > 0);
}

interface CommentsProps {
  handle: DocumentHandle;
  user: PresenceUser;
}

type Replying = { readonly thread: string; readonly seed: string };

export function Comments({ handle, user }: CommentsProps) {
  const collection = useMemo(() => handle.typed(TaskDocument).collection('comments'), [handle]);
  const records = useRecords(collection, (a, b) => (a.get('createdAt') ?? 0) - (b.get('createdAt') ?? 0));
  const now = useNow(CLOCK_TICK_MS);
  const team = useTeam();
  const typists = [...new Set(usePeers(handle).filter((peer) => peer.typing === 'comments' && peer.user.id !== user.id).map((peer) => peer.user.name))];
  const [replying, setReplying] = useState<Replying | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);

  const comments: CommentView[] = records.flatMap(([id, record]) => {
    const { text, author, authorName, createdAt, ...rest } = record.toJSON();
    return text === undefined || author === undefined || authorName === undefined || createdAt === undefined
      ? []
      : [{ id, text, author, authorName, createdAt, ...rest }];
  });
  const threads = threadsOf(comments);
  // Everyone a comment may name: the team, and the authors of comments (who may not be in the team any more).
  const people = directory(
    team,
    comments.map(({ author, authorName }) => personOf(author, authorName)),
  );
  const teammates = team.filter(({ self, user: { id } }) => !self && id !== user.id).map((member) => member.user);
  const mentionable = [...people.values()].filter(({ id }) => id !== user.id);

  const typed = () => handle.presence.typing('comments');
  const sent = () => handle.presence.stopTyping();

  const add = (text: string, parent?: string) => {
    const mentions = mentionedIds(text, mentionable);
    collection.create(
      {
        text,
        author: user.id,
        authorName: user.name,
        createdAt: Date.now(),
        ...(parent === undefined ? {} : { parent }),
        ...(mentions.length > 0 ? { mentions } : {}),
      },
      newId(),
    );
    sent();
  };

  const edit = (comment: CommentView, text: string) => {
    setEditing(null);
    sent();
    if (text === comment.text) return;
    collection.get(comment.id)?.update({ text, editedAt: Date.now(), mentions: mentionedIds(text, mentionable) });
  };

  const remove = (comment: CommentView) => {
    setConfirming(null);
    const thread = threads.find((each) => each.comment.id === comment.id || each.replies.includes(comment));
    handle.history.batch(() => {
      if (thread?.comment === comment && thread.replies.length > 0) {
        collection.get(comment.id)?.update({ deleted: true, text: '', mentions: [] });
        return;
      }
      collection.delete(comment.id);
      // The last reply of a deleted comment: nothing is left to keep that comment for.
      if (thread && thread.comment !== comment && thread.comment.deleted && thread.replies.length === 1) collection.delete(thread.comment.id);
    });
  };

  const item = (comment: CommentView, thread: Thread) => (
    <CommentItem
      key={comment.id}
      comment={comment}
      reply={comment !== thread.comment}
      own={comment.author === user.id}
      now={now}
      people={people}
      mentionable={teammates}
      editing={editing === comment.id}
      confirming={confirming === comment.id}
      onReply={() => {
        const other = comment !== thread.comment && comment.author !== user.id && !comment.deleted;
        setReplying({ thread: thread.comment.id, seed: other ? `@${comment.authorName} ` : '' });
      }}
      onEdit={() => {
        setConfirming(null);
        setEditing(comment.id);
      }}
      onEdited={(text) => edit(comment, text)}
      onCancelEdit={() => setEditing(null)}
      onDelete={() => {
        setEditing(null);
        setConfirming(comment.id);
      }}
      onConfirmDelete={() => remove(comment)}
      onCancelDelete={() => setConfirming(null)}
      onTyping={typed}
    />
  );

  return (
    <section class="comments" aria-label="Comments">
      <h3>Comments</h3>
      <ul class="comments__list" data-testid="comments">
        {threads.map((thread) => (
          <li key={thread.comment.id} class="comments__thread" data-testid="comment-thread" data-comment-id={thread.comment.id}>
            {item(thread.comment, thread)}
            {(thread.replies.length > 0 || replying?.thread === thread.comment.id) && (
              <ul class="comments__replies" data-testid="comment-replies" aria-label={`Replies to ${thread.comment.authorName}`}>
                {thread.replies.map((reply) => (
                  <li key={reply.id}>{item(reply, thread)}</li>
                ))}
                {replying?.thread === thread.comment.id && (
                  <li>
                    <CommentBox
                      key={`${replying.thread}:${replying.seed}`}
                      initial={replying.seed}
                      people={teammates}
                      label={`Reply to ${thread.comment.deleted ? 'the thread' : thread.comment.authorName}`}
                      placeholder="Write a reply…"
                      submit="Reply"
                      testId="reply"
                      autoFocus
                      onSend={(text) => {
                        add(text, thread.comment.id);
                        setReplying(null);
                      }}
                      onCancel={() => {
                        setReplying(null);
                        sent();
                      }}
                      onTyping={typed}
                    />
                  </li>
                )}
              </ul>
            )}
          </li>
        ))}
      </ul>
      <p class="comments__typing muted" data-testid="typing" aria-live="polite">
        {typists.length > 0 && `${typists.join(', ')} ${typists.length > 1 ? 'are' : 'is'} typing…`}
      </p>
      <CommentBox
        initial=""
        people={teammates}
        label="Comment"
        placeholder="Write a comment… (@ to mention)"
        submit="Send"
        testId="comment"
        clearOnSend
        onSend={(text) => add(text)}
        onTyping={typed}
      />
    </section>
  );
}

interface CommentItemProps {
  comment: CommentView;
  reply: boolean;
  own: boolean;
  now: number;
  people: ReadonlyMap<string, PresenceUser>;
  mentionable: readonly PresenceUser[];
  editing: boolean;
  confirming: boolean;
  onReply: () => void;
  onEdit: () => void;
  onEdited: (text: string) => void;
  onCancelEdit: () => void;
  onDelete: () => void;
  onConfirmDelete: () => void;
  onCancelDelete: () => void;
  onTyping: () => void;
}

function CommentItem(props: CommentItemProps) {
  const { comment, own, now, people } = props;
  const author = people.get(comment.author) ?? personOf(comment.author, comment.authorName);
  const mentioned = (comment.mentions ?? []).flatMap((id) => {
    const person = people.get(id);
    return person ? [person] : [];
  });
  return (
    <article
      class={props.reply ? 'comment comment--reply' : 'comment'}
      data-testid="comment"
      data-comment-id={comment.id}
      data-author={comment.author}
      data-reply={props.reply ? 'true' : undefined}
      data-deleted={comment.deleted ? 'true' : undefined}
    >
      <header class="comment__head">
        <Avatar user={author} small />
        <strong class="comment__author" data-testid="comment-author" style={{ color: author.color }}>
          {comment.authorName}
        </strong>
        <time class="comment__time muted" data-testid="comment-time" dateTime={new Date(comment.createdAt).toISOString()} title={clockTime(comment.createdAt, now)}>
          {relativeTime(comment.createdAt, now)}
        </time>
        {comment.editedAt !== undefined && !comment.deleted && (
          <span class="comment__edited muted" data-testid="comment-edited" title={`Edited ${relativeTime(comment.editedAt, now)}, ${clockTime(comment.editedAt, now)}`}>
            (edited)
          </span>
        )}
      </header>
      {props.editing ? (
        <CommentBox
          initial={comment.text}
          people={props.mentionable}
          label="Edit your comment"
          submit="Save"
          testId="comment-edit"
          autoFocus
          onSend={props.onEdited}
          onCancel={props.onCancelEdit}
          onTyping={props.onTyping}
        />
      ) : comment.deleted ? (
        <p class="comment__text comment__text--deleted muted" data-testid="comment-text">
          Comment deleted
        </p>
      ) : (
        <p class="comment__text" data-testid="comment-text">
          {mentionParts(comment.text, mentioned).map((part, index) =>
            part.person ? (
              <mark key={index} class="comment__mention" data-testid="mention" data-user-id={part.person.id}>
                {part.text}
              </mark>
            ) : (
              part.text
            ),
          )}
        </p>
      )}
      {props.confirming ? (
        <div class="comment__actions comment__confirm" role="group" aria-label="Delete this comment?">
          <span>Delete this comment?</span>
          <button type="button" class="danger" data-testid="comment-delete-confirm" onClick={props.onConfirmDelete}>
            Delete
          </button>
          <button type="button" class="link" data-testid="comment-delete-cancel" onClick={props.onCancelDelete}>
            Cancel
          </button>
        </div>
      ) : (
        !props.editing && (
          <div class="comment__actions">
            <button type="button" class="link" data-testid="comment-reply" onClick={props.onReply}>
              Reply
            </button>
            {own && !comment.deleted && (
              <>
                <button type="button" class="link" data-testid="comment-edit" onClick={props.onEdit}>
                  Edit
                </button>
                <button type="button" class="link danger" data-testid="comment-delete" onClick={props.onDelete}>
                  Delete
                </button>
              </>
            )}
          </div>
        )
      )}
    </article>
  );
}

interface CommentBoxProps {
  initial: string;
  people: readonly PresenceUser[];
  label: string;
  placeholder?: string;
  submit: string;
  /** `<testId>-input` and `<testId>-send`, and `<testId>-cancel` when it can be cancelled. */
  testId: string;
  autoFocus?: boolean;
  /** Empties the box after sending (the new-comment box stays; a reply or edit box closes instead). */
  clearOnSend?: boolean;
  onSend: (text: string) => void;
  onCancel?: () => void;
  onTyping: () => void;
}

/** A box to write a comment, a reply or an edit in, with `@mentions`; Enter sends, Escape cancels. */
function CommentBox({ initial, people, label, placeholder, submit, testId, autoFocus, clearOnSend, onSend, onCancel, onTyping }: CommentBoxProps) {
  const [text, setText] = useState(initial);
  const send = (event: Event) => {
    event.preventDefault();
    const trimmed = text.trim();
    if (!trimmed) return;
    onSend(trimmed);
    if (clearOnSend) setText('');
  };
  return (
    <form class="comments__form" onSubmit={send}>
      <MentionInput
        value={text}
        onValue={(value) => {
          setText(value);
          onTyping();
        }}
        people={people}
        label={label}
        placeholder={placeholder}
        maxLength={MAX_COMMENT_LENGTH}
        testId={`${testId}-input`}
        autoFocus={autoFocus}
        onEscape={onCancel}
      />
      <div class="comments__buttons">
        <button type="submit" data-testid={`${testId}-send`} disabled={!text.trim()}>
          {submit}
        </button>
        {onCancel && (
          <button type="button" class="link" data-testid={`${testId}-cancel`} onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
