/**
 * A task's version history (its document `task-<id>`, through the client's `handle.versions()`, `version(id)`,
 * `saveVersion(name)` and `restore(id)`): the versions newest first — when ("5 min ago", moving on every 30 s), by
 * whom, and their name or why they were saved — with **Save version** (named inline), and a preview of a version:
 * its description compared word by word with the current one (what was added since, what was removed since) and its
 * comments count against now, with **Restore**. A restore reaches every open copy as an edit; the notice it leaves
 * ("Restored version from 14:32 — Undo") restores the version the server saved just before it.
 *
 * These calls need the network: offline, or refused, the panel says why in the client's words and offers to retry.
 * Wide: a panel beside the task, over the list, so the description stays in view. Narrow: a full-screen sheet.
 */
import type { DocumentHandle, RestoreResult, VersionInfo } from '@concord/client';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useNow } from '../hooks';
import {
  clockTime,
  compareText,
  relativeTime,
  taskContent,
  versionContent,
  versionLabel,
  whenAcknowledged,
  type TaskContent,
} from '../versions';

/** "5 min ago" moves on this often. */
const CLOCK_TICK_MS = 30_000;
/** How long a save waits for this person's last changes to reach the server, so the version holds them. */
const ACKNOWLEDGE_TIMEOUT_MS = 5_000;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function plural(count: number, one: string): string {
  return `${count} ${one}${count === 1 ? '' : 's'}`;
}

/** Calls `onEscape` when Escape is pressed while mounted. */
function useEscape(onEscape: () => void): void {
  const latest = useRef(onEscape);
  latest.current = onEscape;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') latest.current();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
}

/** The task document's description and comments count as they are now, re-read on every change. */
function useCurrentContent(handle: DocumentHandle): TaskContent {
  const [content, setContent] = useState(() => taskContent(handle.doc));
  useEffect(() => {
    const update = () => setContent(taskContent(handle.doc));
    update();
    handle.doc.on('update', update);
    return () => handle.doc.off('update', update);
  }, [handle]);
  return content;
}

interface HistoryPanelProps {
  handle: DocumentHandle;
  /** The task's title, for the heading. */
  title: string;
  /** Changes when something outside the panel changed the history (an undone restore): the list is read again. */
  revision: number;
  onClose: () => void;
  onRestored: (version: VersionInfo, result: RestoreResult) => void;
}

export function HistoryPanel({ handle, title, revision, onClose, onRestored }: HistoryPanelProps) {
  const now = useNow(CLOCK_TICK_MS);
  const [versions, setVersions] = useState<readonly VersionInfo[] | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<VersionInfo | null>(null);
  const request = useRef(0);
  useEscape(onClose);

  /** Reads the list again; an answer that arrives after a newer request's is dropped. */
  const load = async () => {
    const mine = ++request.current;
    setLoading(true);
    setError(null);
    try {
      const list = await handle.versions();
      if (mine !== request.current) return;
      setVersions([...list].sort((a, b) => b.at - a.at));
    } catch (failure) {
      if (mine === request.current) setError(messageOf(failure));
    } finally {
      if (mine === request.current) setLoading(false);
    }
  };
  useEffect(() => {
    void load();
  }, [handle, revision]);

  return (
    <section class="history" data-testid="history-panel" role="region" aria-label={`Version history of '${title}'`}>
      <header class="history__head">
        <h3>
          History <span class="muted history__of">· {title}</span>
        </h3>
        <button type="button" class="link history__close" data-testid="history-close" aria-label="Close history" onClick={onClose}>
          ✕
        </button>
      </header>
      {selected ? (
        <VersionPreview
          key={selected.id}
          handle={handle}
          version={selected}
          now={now}
          onBack={() => setSelected(null)}
          onRestored={(result) => {
            onRestored(selected, result);
            setSelected(null);
            void load();
          }}
        />
      ) : (
        <>
          <SaveVersion handle={handle} onSaved={() => void load()} />
          {error && (
            <div class="history__error" role="alert" data-testid="history-error">
              <span>{error}</span>
              <button type="button" data-testid="history-retry" onClick={() => void load()}>
                Retry
              </button>
            </div>
          )}
          {versions === null ? (
            loading && (
              <p class="muted" data-testid="history-loading">
                Loading versions…
              </p>
            )
          ) : versions.length === 0 ? (
            <p class="muted" data-testid="history-empty">
              No versions yet. One is saved by itself a few minutes after someone starts editing; or save one now.
            </p>
          ) : (
            <ul class="history__list" data-testid="history-list" aria-busy={loading}>
              {versions.map((version) => (
                <li key={version.id}>
                  <button
                    type="button"
                    class="history__version"
                    data-testid="history-version"
                    data-version-id={version.id}
                    data-reason={version.reason}
                    onClick={() => setSelected(version)}
                  >
                    <span class={version.name ? 'history__name' : 'history__name history__name--auto'}>{versionLabel(version)}</span>
                    <span class="history__meta muted">
                      {version.byName} ·{' '}
                      <time dateTime={new Date(version.at).toISOString()} title={new Date(version.at).toLocaleString()}>
                        {relativeTime(version.at, now)}
                      </time>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

/** **Save version**, then a name typed inline and Save (or Cancel); the version holds this person's last changes. */
function SaveVersion({ handle, onSaved }: { handle: DocumentHandle; onSaved: (version: VersionInfo) => void }) {
  const [naming, setNaming] = useState(false);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);

  const save = async (event: Event) => {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed || busy) return;
    setOutcome(null);
    try {
      if (handle.outbox().length > 0) {
        setBusy('Sending your last changes first…');
        if (!(await whenAcknowledged(handle, ACKNOWLEDGE_TIMEOUT_MS))) {
          throw new Error('your last changes have not reached the server yet, so the version would miss them: try again once the light is green');
        }
      }
      setBusy('Saving…');
      const version = await handle.saveVersion(trimmed);
      setNaming(false);
      setName('');
      setOutcome({ ok: true, text: `Saved "${versionLabel(version)}".` });
      onSaved(version);
    } catch (failure) {
      setOutcome({ ok: false, text: messageOf(failure) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <div class="history__save-area">
      {naming ? (
        <form class="history__save" onSubmit={(event) => void save(event)}>
          <input
            data-testid="version-name"
            value={name}
            maxLength={200}
            placeholder="Name this version, e.g. Draft"
            aria-label="Version name"
            autoFocus
            disabled={busy !== null}
            onInput={(event) => setName(event.currentTarget.value)}
            onKeyDown={(event) => {
              if (event.key === 'Escape') {
                event.stopPropagation(); // Escape leaves the name, not the panel
                setNaming(false);
              }
            }}
          />
          <div class="history__save-actions">
            <button type="submit" data-testid="version-save" disabled={!name.trim() || busy !== null}>
              Save
            </button>
            <button type="button" data-testid="version-cancel" disabled={busy !== null} onClick={() => setNaming(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <button
          type="button"
          class="history__save-button"
          data-testid="save-version"
          onClick={() => {
            setOutcome(null);
            setNaming(true);
          }}
        >
          Save version
        </button>
      )}
      {busy && (
        <p class="muted history__status" data-testid="history-saving">
          {busy}
        </p>
      )}
      {outcome && (
        <p
          class={outcome.ok ? 'muted history__status' : 'error history__status'}
          role={outcome.ok ? 'status' : 'alert'}
          data-testid={outcome.ok ? 'history-saved' : 'history-save-error'}
        >
          {outcome.text}
        </p>
      )}
    </div>
  );
}

interface VersionPreviewProps {
  handle: DocumentHandle;
  version: VersionInfo;
  now: number;
  onBack: () => void;
  onRestored: (result: RestoreResult) => void;
}

/** One version against now: the description word by word, the comments count, and Restore. */
function VersionPreview({ handle, version, now, onBack, onRestored }: VersionPreviewProps) {
  const current = useCurrentContent(handle);
  const [then, setThen] = useState<TaskContent | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [restoring, setRestoring] = useState(false);
  const [restoreError, setRestoreError] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    let live = true;
    setError(null);
    versionContent(handle, version.id).then(
      (content) => live && setThen(content),
      (failure: unknown) => live && setError(messageOf(failure)),
    );
    return () => {
      live = false;
    };
  }, [handle, version.id, attempt]);
  // On a phone the sheet may have been scrolled down the list: the preview starts at its top.
  useEffect(() => heading.current?.scrollIntoView({ block: 'nearest' }), []);

  const parts = useMemo(() => (then ? compareText(then.description, current.description) : []), [then, current.description]);
  const words = (kind: 'added' | 'removed') =>
    parts.filter((part) => part.kind === kind).reduce((sum, part) => sum + part.text.split(/\s+/).filter(Boolean).length, 0);
  const added = words('added');
  const removed = words('removed');

  const restore = async () => {
    setRestoring(true);
    setRestoreError(null);
    try {
      onRestored(await handle.restore(version.id));
    } catch (failure) {
      setRestoreError(messageOf(failure));
      setRestoring(false);
    }
  };

  return (
    <div class="history__preview" data-testid="history-preview" data-version-id={version.id}>
      <button type="button" class="link history__back" data-testid="history-back" onClick={onBack}>
        ← All versions
      </button>
      <h4 ref={heading} class="history__title">
        {versionLabel(version)}{' '}
        <span class="muted">
          · {version.byName} · <time title={new Date(version.at).toLocaleString()}>{relativeTime(version.at, now)}</time>
        </span>
      </h4>
      {error ? (
        <div class="history__error" role="alert" data-testid="history-preview-error">
          <span>{error}</span>
          <button type="button" onClick={() => setAttempt(attempt + 1)}>
            Retry
          </button>
        </div>
      ) : !then ? (
        <p class="muted" data-testid="history-preview-loading">
          Loading this version…
        </p>
      ) : (
        <>
          <p class="history__legend muted">
            The description then, compared with now: <ins>added since</ins> <del>removed since</del>
          </p>
          <div class="history__diff" data-testid="history-diff" data-added={added} data-removed={removed}>
            {parts.length === 0 || parts.every((part) => !part.text) ? (
              <span class="muted">Empty then and now.</span>
            ) : (
              parts.map((part, index) =>
                part.kind === 'added' ? (
                  <ins key={index} data-testid="diff-added">
                    {part.text}
                  </ins>
                ) : part.kind === 'removed' ? (
                  <del key={index} data-testid="diff-removed">
                    {part.text}
                  </del>
                ) : (
                  <span key={index}>{part.text}</span>
                ),
              )
            )}
          </div>
          <p class="muted history__summary" data-testid="history-summary">
            {added === 0 && removed === 0
              ? 'The description has not changed since.'
              : `Since then: ${plural(added, 'word')} added, ${plural(removed, 'word')} removed.`}
            <br />
            <span data-testid="history-comments">
              Comments: {then.comments} then, {current.comments} now.
            </span>
          </p>
        </>
      )}
      {restoreError && (
        <p class="error history__status" role="alert" data-testid="history-restore-error">
          {restoreError}
        </p>
      )}
      <div class="history__actions">
        <button type="button" class="history__restore" data-testid="history-restore" disabled={restoring || !then} onClick={() => void restore()}>
          {restoring ? 'Restoring…' : 'Restore this version'}
        </button>
        <span class="muted history__hint">Description and comments go back to this version, for everyone.</span>
      </div>
    </div>
  );
}

/** What a restore leaves on screen: when the restored version was saved, and Undo (restoring the version before it). */
export interface Restored {
  readonly document: string;
  readonly version: VersionInfo;
  readonly result: RestoreResult;
}

interface RestoredNoticeProps {
  handle: DocumentHandle;
  restored: Restored;
  onUndone: () => void;
  onDismiss: () => void;
}

export function RestoredNotice({ handle, restored, onUndone, onDismiss }: RestoredNoticeProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { version, result } = restored;
  const undo = async () => {
    setBusy(true);
    setError(null);
    try {
      await handle.restore(result.before);
      onUndone();
    } catch (failure) {
      setError(`Undo failed: ${messageOf(failure)}`);
      setBusy(false);
    }
  };
  const name = version.name ? ` "${version.name}"` : '';
  return (
    <div class="restore-notice" role="status" data-testid="restore-notice">
      <span class="restore-notice__text">
        {error ??
          (result.changed
            ? `Restored version${name} from ${clockTime(version.at)} —`
            : `Nothing to restore: the task is already as in the version${name} from ${clockTime(version.at)}.`)}
      </span>
      {result.changed && (
        <button type="button" data-testid="restore-undo" disabled={busy} onClick={() => void undo()}>
          {busy ? 'Undoing…' : 'Undo'}
        </button>
      )}
      <button type="button" class="restore-notice__close" data-testid="restore-dismiss" aria-label="Dismiss" onClick={onDismiss}>
        ✕
      </button>
    </div>
  );
}
