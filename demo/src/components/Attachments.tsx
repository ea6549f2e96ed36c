/**
 * A task's attachments (issue 17): files in the task document's `attachments` collection (the engine's
 * `AttachmentRecord`, `record` = the task's id), attached with **Attach** (a file picker), **Take photo** (the camera,
 * on touch screens) or by dropping files onto the task (`useFileDrop`, used by TaskDetail.tsx).
 *
 * Attaching works offline: the client keeps the file on this device and uploads it whenever it is connected. Each
 * file shows as a tile: a thumbnail for an image (the device's own copy, else a signed URL from the server; blob URLs
 * are revoked once the tile goes), an icon for anything else, its name, size and where it is: waiting to upload, a
 * progress bar while uploading, uploaded (a tap opens it in a new tab), or failed with the server's reason. A file
 * someone else attached and has not uploaded yet reads "uploading on <name>'s device", without a thumbnail.
 *
 * Each tile has **Remove** (×): the file goes at once, for everyone (`handle.detach`: a queued upload stops, nothing
 * more is sent), with a "Removed <name> — Undo" toast, as in Linear or Notion: no confirm first. Undo puts the same
 * record back (a file still waiting uploads again: its bytes stay on this device while the task is open).
 */
import type { AttachmentProgress, DocumentHandle, SyncClient } from '@concord/client';
import type { AttachmentRecord, FieldValues, PresenceUser } from '@concord/engine';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ACCEPTED_FILES, fileState, formatBytes, iconFor, isImage, type FileState } from '../attachments';
import { useConnectionState, useOutbox, useRecords } from '../hooks';
import { TaskDocument } from '../model';
import { directory, useTeam } from '../team';
import './Attachments.css';

/** How long the device's copy opened in a new tab stays addressable (the tab has loaded it long before). */
const OPENED_BLOB_LIFETIME_MS = 60_000;
/** How long "Removed <name> — Undo" stays (as the "Task deleted" toast). */
const REMOVED_TOAST_MS = 8_000;

/** A removed attachment, as it was: what Undo puts back. */
interface Removed {
  readonly id: string;
  readonly values: Partial<FieldValues<typeof AttachmentRecord.fields>>;
}

/** Attaching files to one task, and why the last attempt failed (a name the record refuses, no room on the device). */
export interface Attaching {
  attach(files: Iterable<File>): void;
  readonly error: string | null;
}

export function useAttaching(handle: DocumentHandle, taskId: string): Attaching {
  const [error, setError] = useState<string | null>(null);
  return {
    error,
    attach(files) {
      setError(null);
      for (const file of files) {
        handle.attach(file, { record: taskId }).catch((failure: Error) => setError(`${file.name} was not attached: ${failure.message}`));
      }
    },
  };
}

const hasFiles = (event: DragEvent) => event.dataTransfer?.types.includes('Files') ?? false;

/** Drag-and-drop of files onto an element: its handlers, and whether files are being dragged over it. */
export function useFileDrop(onFiles: (files: File[]) => void) {
  // dragenter and dragleave fire for every child crossed: count them, the drag is over the element while above 0.
  const depth = useRef(0);
  const [dragging, setDragging] = useState(false);
  // A file dropped just beside the target would make the browser open it in place of the app.
  useEffect(() => {
    const refuse = (event: DragEvent) => {
      if (hasFiles(event)) event.preventDefault();
    };
    addEventListener('dragover', refuse);
    addEventListener('drop', refuse);
    return () => {
      removeEventListener('dragover', refuse);
      removeEventListener('drop', refuse);
    };
  }, []);
  const handlers = {
    onDragEnter(event: DragEvent) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth.current += 1;
      setDragging(true);
    },
    onDragOver(event: DragEvent) {
      if (!hasFiles(event)) return;
      event.preventDefault(); // allows the drop
      event.dataTransfer!.dropEffect = 'copy';
    },
    onDragLeave(event: DragEvent) {
      if (!hasFiles(event)) return;
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setDragging(false);
    },
    onDrop(event: DragEvent) {
      if (!hasFiles(event)) return;
      event.preventDefault(); // the browser would open the file in place of the app
      depth.current = 0;
      setDragging(false);
      onFiles([...(event.dataTransfer?.files ?? [])]);
    },
  };
  return { dragging, handlers };
}

/** Asking again for a file's URL after a refusal: 1 s, 2 s, 4 s… up to this, while connected. */
const FILE_URL_RETRY_MAX_MS = 30_000;

/**
 * A URL showing the file (`client.fileUrl`) while `wanted`; null until there is one, or when there is none to have
 * (offline and not on this device: asked again once connected). A refusal while connected is asked again after 1 s,
 * 2 s, 4 s… (a record put back by Undo is known to the server a moment after it shows here). A blob URL is revoked
 * when it is no longer shown.
 */
function useFileUrl(client: SyncClient, document: string, hash: string, wanted: boolean): string | null {
  const [url, setUrl] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const failed = useRef(false);
  const connected = useConnectionState(client) === 'connected';
  useEffect(() => {
    if (connected && failed.current) setAttempt((n) => n + 1);
  }, [connected]);
  useEffect(() => {
    if (!wanted) return;
    let current = true;
    let made: string | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    failed.current = false;
    client.fileUrl(document, hash).then(
      (next) => {
        made = next;
        if (current) setUrl(next);
        else if (next.startsWith('blob:')) URL.revokeObjectURL(next);
      },
      () => {
        if (!current) return;
        failed.current = true;
        if (client.state === 'connected') retry = setTimeout(() => setAttempt((n) => n + 1), Math.min(1_000 * 2 ** attempt, FILE_URL_RETRY_MAX_MS));
      },
    );
    return () => {
      current = false;
      clearTimeout(retry);
      if (made?.startsWith('blob:')) URL.revokeObjectURL(made);
      setUrl(null);
    };
  }, [client, document, hash, wanted, attempt]);
  return url;
}

interface AttachmentsProps {
  client: SyncClient;
  handle: DocumentHandle;
  taskId: string;
  user: PresenceUser;
  attaching: Attaching;
}

export function Attachments({ client, handle, taskId, user, attaching }: AttachmentsProps) {
  const collection = useMemo(() => handle.typed(TaskDocument).collection('attachments'), [handle]);
  const records = useRecords(collection, (a, b) => (a.get('addedAt') ?? 0) - (b.get('addedAt') ?? 0)).filter(
    ([, record]) => record.get('record') === undefined || record.get('record') === taskId,
  );
  const progress = useProgress(handle);
  const queued = new Set(useOutbox(handle).flatMap((entry) => (entry.kind === 'file' && entry.record ? [entry.record] : [])));
  const connected = useConnectionState(client) === 'connected';
  const people = directory(useTeam());
  const [removed, setRemoved] = useState<Removed | null>(null);
  useEffect(() => {
    if (!removed) return;
    const timer = setTimeout(() => setRemoved(null), REMOVED_TOAST_MS);
    return () => clearTimeout(timer);
  }, [removed]);

  const remove = (id: string) => {
    const values = collection.get(id)?.toJSON();
    if (values && handle.detach(id)) setRemoved({ id, values });
  };
  const undoRemove = () => {
    if (removed && !collection.has(removed.id)) collection.create(removed.values as Parameters<typeof collection.create>[0], removed.id);
    setRemoved(null);
  };

  const picked = (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    attaching.attach([...(input.files ?? [])]);
    input.value = ''; // the same file picked again attaches again
  };

  return (
    <section class="attachments" data-testid="attachments" aria-label="Attachments">
      <div class="attachments__head">
        <h3>
          Attachments {records.length > 0 && <span class="muted">· {records.length}</span>}
        </h3>
        <div class="attachments__pickers">
          <label class="attachments__picker" data-testid="attach-button">
            <input type="file" multiple accept={ACCEPTED_FILES} data-testid="attach-input" onChange={picked} />
            Attach
          </label>
          <label class="attachments__picker attachments__camera" data-testid="take-photo">
            <input type="file" accept="image/*" capture="environment" data-testid="take-photo-input" onChange={picked} />
            Take photo
          </label>
        </div>
      </div>
      {attaching.error && (
        <p class="attachments__error" role="alert" data-testid="attach-error">
          {attaching.error}
        </p>
      )}
      {records.length === 0 ? (
        <p class="muted attachments__empty">Drop files here, or attach them: they upload whenever you are online.</p>
      ) : (
        <ul class="attachments__list">
          {records.flatMap(([id, record]) => {
            const { name, size, type, hash, state, error, addedBy } = record.toJSON();
            if (name === undefined || size === undefined || type === undefined || hash === undefined || state === undefined) return [];
            const shown = fileState({ state, error, progress: progress.get(id), queuedHere: queued.has(id) });
            const by = addedBy === user.id ? 'your other' : `${people.get(addedBy ?? '')?.name ?? addedBy ?? 'someone'}'s`;
            return [
              <AttachmentTile
                key={id}
                id={id}
                client={client}
                document={handle.name}
                file={{ name, size, type, hash }}
                shown={shown}
                connected={connected}
                elsewhereBy={by}
                onRemove={() => remove(id)}
              />,
            ];
          })}
        </ul>
      )}
      {removed && (
        <div class="deleted-toast" role="status" data-testid="attachment-removed-toast">
          <span class="deleted-toast__text">Removed {removed.values.name ?? 'the file'}</span>
          <button type="button" data-testid="attachment-undo-remove" onClick={undoRemove}>
            Undo
          </button>
        </div>
      )}
    </section>
  );
}

/** The last progress event of each file of the document, by attachment id. */
function useProgress(handle: DocumentHandle): ReadonlyMap<string, AttachmentProgress> {
  const [progress, setProgress] = useState<ReadonlyMap<string, AttachmentProgress>>(new Map());
  useEffect(() => {
    setProgress(new Map());
    const onProgress = (next: AttachmentProgress) => setProgress((current) => new Map(current).set(next.id, next));
    handle.on('attachment', onProgress);
    return () => handle.off('attachment', onProgress);
  }, [handle]);
  return progress;
}

interface AttachmentTileProps {
  id: string;
  client: SyncClient;
  document: string;
  file: { name: string; size: number; type: string; hash: string };
  shown: FileState;
  connected: boolean;
  /** Whose device a file pending elsewhere is on ("Alice's", "your other"). */
  elsewhereBy: string;
  onRemove: () => void;
}

function AttachmentTile({ id, client, document, file, shown, connected, elsewhereBy, onRemove }: AttachmentTileProps) {
  // A file pending elsewhere has nothing to show yet, nor has a refused one; the others are here or on the server.
  const url = useFileUrl(client, document, file.hash, isImage(file.type) && shown.kind !== 'elsewhere' && shown.kind !== 'failed');
  const [broken, setBroken] = useState(false);
  const [openError, setOpenError] = useState<string | null>(null);
  const preview =
    url && !broken ? (
      <img class="attachment__thumbnail" src={url} alt="" data-testid="attachment-thumbnail" onError={() => setBroken(true)} />
    ) : (
      <span class="attachment__icon" aria-hidden="true">
        {iconFor(file.type)}
      </span>
    );

  // A new tab is opened at once (a tab opened after waiting for the URL would be blocked), and sent to the file.
  const open = () => {
    setOpenError(null);
    const tab = window.open('about:blank', '_blank');
    if (tab) tab.opener = null;
    client.fileUrl(document, file.hash).then(
      (target) => {
        if (target.startsWith('blob:')) setTimeout(() => URL.revokeObjectURL(target), OPENED_BLOB_LIFETIME_MS);
        const named = target.startsWith('blob:') ? target : `${target}${target.includes('?') ? '&' : '?'}name=${encodeURIComponent(file.name)}`;
        if (tab) tab.location.href = named;
        else window.open(named, '_blank', 'noopener');
      },
      (error: Error) => {
        tab?.close();
        setOpenError(`cannot open it now: ${error.message}`);
      },
    );
  };

  const label = (
    <>
      {preview}
      <span class="attachment__name" data-testid="attachment-name" title={file.name}>
        {file.name}
      </span>
    </>
  );
  return (
    <li class={`attachment attachment--${shown.kind}`} data-testid="attachment" data-attachment-id={id} data-state={shown.kind}>
      {shown.kind === 'uploaded' ? (
        <button type="button" class="attachment__open" data-testid="attachment-open" title={`Open ${file.name}`} onClick={open}>
          {label}
        </button>
      ) : (
        <div class="attachment__open">{label}</div>
      )}
      <span class="attachment__size muted" data-testid="attachment-size">
        {formatBytes(file.size)}
      </span>
      <span class="attachment__state" data-testid="attachment-state">
        {describe(shown, connected, elsewhereBy)}
      </span>
      {shown.kind === 'uploading' && (
        <progress
          class="attachment__progress"
          data-testid="attachment-progress"
          max={shown.total}
          value={shown.sent}
          aria-label={`Uploading ${file.name}`}
        />
      )}
      {openError && (
        <span class="attachment__error" role="alert">
          {openError}
        </span>
      )}
      <button type="button" class="attachment__remove" data-testid="attachment-remove" title={`Remove ${file.name}`} aria-label={`Remove ${file.name}`} onClick={onRemove}>
        ×
      </button>
    </li>
  );
}

function describe(shown: FileState, connected: boolean, elsewhereBy: string): string {
  switch (shown.kind) {
    case 'waiting':
      if (!connected) return 'Waiting to upload · offline';
      return shown.retrying ? `Waiting to upload · retrying (${shown.retrying})` : 'Waiting to upload';
    case 'uploading':
      return `Uploading · ${Math.floor((100 * shown.sent) / Math.max(1, shown.total))}%`;
    case 'uploaded':
      return 'Uploaded';
    case 'failed':
      return `Failed: ${shown.error}`;
    case 'elsewhere':
      return `Uploading on ${elsewhereBy} device`;
  }
}
