/**
 * Warn before overwriting: a field someone else is editing is locked by them (presence `editing(…, { lock: true })`),
 * and the model refuses this person's write to it with a FieldLockedError. The demo keeps what was typed, names who
 * is editing, and offers "Change anyway" (the same write with `{ force: true }`) or "Discard".
 */
import { ErrorKind, type FieldWriter } from '@concord/engine';

/** Who holds the lock a refused write ran into; null when `error` is not a field-locked refusal. */
export function lockHolderOf(error: unknown): FieldWriter | null {
  const refusal = error as { kind?: unknown; holder?: FieldWriter } | null;
  return refusal?.kind === ErrorKind.FieldLocked && refusal.holder ? refusal.holder : null;
}

export function holderName(holder: FieldWriter): string {
  return holder.name ?? holder.id;
}

interface LockWarningProps {
  /** What was refused: "your change", "your Done". */
  what: string;
  holder: FieldWriter;
  onForce: () => void;
  onDiscard: () => void;
}

export function LockWarning({ what, holder, onForce, onDiscard }: LockWarningProps) {
  return (
    <div class="lock-warning" role="alert" data-testid="lock-warning">
      <span class="lock-warning__text">
        {holderName(holder)} is editing this: {what} was not saved.
      </span>
      <span class="lock-warning__actions">
        <button type="button" data-testid="change-anyway" onClick={onForce}>
          Change anyway
        </button>
        <button type="button" class="link" data-testid="discard-change" onClick={onDiscard}>
          Discard
        </button>
      </span>
    </div>
  );
}
