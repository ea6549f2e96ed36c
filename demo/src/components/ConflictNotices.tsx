/**
 * Conflict notices: when a write of this person lost to a concurrent one, the document handle emits `conflict` and a
 * notice joins the toast stack, naming who won, the field, the task, their value and yours. It stays until acted on:
 * "Keep mine" writes yours again (a new write, later than theirs, so it wins everywhere), "Keep theirs" or ✕ leaves
 * theirs. If someone is editing that field right now, "Keep mine" is refused by their lock and the notice offers
 * "Change anyway" instead. A newer conflict on the same field replaces the older notice.
 */
import type { DocumentHandle, FieldConflict } from '@concord/client';
import type { FieldWriter } from '@concord/engine';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { describeConflict, valueText, type OfflineAt } from '../conflicts';
import type { EditableField } from '../model';
import { holderName, lockHolderOf } from './FieldLock';
import type { TaskRecord } from './TaskFields';

export interface ConflictNotice {
  readonly id: number;
  readonly handle: DocumentHandle;
  readonly conflict: FieldConflict;
  readonly whileOffline: boolean;
  /** Set when "Keep mine" was refused because this person holds the field. */
  readonly lockedBy: FieldWriter | null;
}

let nextId = 1;

const sameField = (a: FieldConflict, b: FieldConflict) =>
  a.document === b.document && a.root === b.root && a.record === b.record && a.field === b.field;

/** The conflicts of `handles` (null: not open) not acted on yet, oldest first, and a way to update or drop one. */
export function useConflictNotices(
  handles: ReadonlyArray<DocumentHandle | null>,
  offlineAt: OfflineAt,
): [readonly ConflictNotice[], (id: number, lockedBy?: FieldWriter) => void] {
  const [notices, setNotices] = useState<readonly ConflictNotice[]>([]);
  useEffect(() => {
    const open = handles.filter((handle): handle is DocumentHandle => handle !== null);
    const listeners = open.map((handle) => {
      const onConflict = (conflict: FieldConflict) => {
        const notice = { id: nextId++, handle, conflict, whileOffline: offlineAt(conflict.at), lockedBy: null };
        setNotices((current) => [...current.filter((other) => !sameField(other.conflict, conflict)), notice]);
      };
      handle.on('conflict', onConflict);
      return () => handle.off('conflict', onConflict);
    });
    return () => listeners.forEach((stop) => stop());
  }, handles);
  /** Drops the notice, or (with `lockedBy`) marks that keeping yours ran into someone's lock. */
  const settle = useCallback((id: number, lockedBy?: FieldWriter) => {
    setNotices((current) =>
      lockedBy ? current.map((notice) => (notice.id === id ? { ...notice, lockedBy } : notice)) : current.filter((notice) => notice.id !== id),
    );
  }, []);
  return [notices, settle];
}

interface ConflictNoticesProps {
  notices: readonly ConflictNotice[];
  settle: (id: number, lockedBy?: FieldWriter) => void;
  /** The record a conflict is about (to write yours again), or null when it is gone or not writable here. */
  recordOf: (conflict: FieldConflict) => TaskRecord | null;
  /** What the record is called in a sentence (a task's title); null for a document's own field. */
  labelOf: (conflict: FieldConflict) => string | null;
}

export function ConflictNotices({ notices, settle, recordOf, labelOf }: ConflictNoticesProps) {
  const keepMine = (notice: ConflictNotice, force: boolean) => {
    const { conflict, handle } = notice;
    const record = recordOf(conflict);
    if (!record) return settle(notice.id);
    const field = conflict.field as EditableField;
    const options = force ? { force: true } : undefined;
    try {
      handle.history.batch(() => (conflict.yours === undefined ? record.unset(field, options) : record.set(field, conflict.yours as never, options)));
      settle(notice.id);
    } catch (error) {
      const holder = lockHolderOf(error);
      if (!holder) throw error;
      settle(notice.id, holder);
    }
  };
  return (
    <>
      {notices.map((notice) => {
        const { conflict, lockedBy } = notice;
        const writable = recordOf(conflict) !== null;
        return (
          <div
            key={notice.id}
            class="conflict-notice"
            role="group"
            aria-label="Your change was replaced"
            data-testid="conflict-notice"
            data-field={conflict.field}
            data-record={conflict.record ?? ''}
          >
            <p class="conflict-notice__text" data-testid="conflict-text">
              {describeConflict(conflict, notice.whileOffline, labelOf(conflict))}
            </p>
            {lockedBy && (
              <p class="conflict-notice__text" data-testid="conflict-locked">
                {holderName(lockedBy)} is editing it now: your {valueText(conflict.field, conflict.yours)} was not saved.
              </p>
            )}
            <div class="conflict-notice__actions">
              {writable &&
                (lockedBy ? (
                  <button type="button" data-testid="change-anyway" onClick={() => keepMine(notice, true)}>
                    Change anyway
                  </button>
                ) : (
                  <button type="button" data-testid="keep-mine" onClick={() => keepMine(notice, false)}>
                    Keep mine
                  </button>
                ))}
              <button type="button" data-testid="keep-theirs" onClick={() => settle(notice.id)}>
                Keep theirs
              </button>
            </div>
            <button type="button" class="conflict-notice__close" data-testid="conflict-close" aria-label="Close" onClick={() => settle(notice.id)}>
              ✕
            </button>
          </div>
        );
      })}
    </>
  );
}
