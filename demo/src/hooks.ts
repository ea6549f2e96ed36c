/**
 * Preact hooks over the Concord client: each subscribes to one source (client state, a document's status, a
 * collection, presence) and unsubscribes on unmount, so components only ever read current values.
 */
import type {
  ChannelEventMeta,
  ConnectionState,
  DocumentHandle,
  DocumentStatus,
  Inbox,
  InboxNotification,
  Member,
  NotificationPreference,
  OutboxEntry,
  PendingDocument,
  SyncClient,
  UpdateFrequency,
  ViewSpec,
} from '@concord/client';
import type { FieldSchemas, Peer, RecordCollection, LwwRecord, ViewRow } from '@concord/engine';
import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';

/** Re-renders the calling component; for sources that tell "something changed" but hand over no value. */
function useRerender(): () => void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  return bump as () => void;
}

export function useConnectionState(client: SyncClient): ConnectionState {
  const [state, setState] = useState(client.state);
  useEffect(() => {
    setState(client.state);
    const onState = (next: ConnectionState) => setState(next);
    client.on('state', onState);
    return () => client.off('state', onState);
  }, [client]);
  return state;
}

/** Opens `name` on `client` while mounted (or while `name` is set) and closes it afterwards. */
export function useDocument(client: SyncClient, name: string | null): DocumentHandle | null {
  const [handle, setHandle] = useState<DocumentHandle | null>(null);
  useEffect(() => {
    if (!name) {
      setHandle(null);
      return;
    }
    const opened = client.open(name);
    setHandle(opened);
    return () => {
      void opened.close();
      setHandle((current) => (current === opened ? null : current));
    };
  }, [client, name]);
  return handle;
}

/** The document's status, live; null until `handle` reports (never the status of a previous handle). */
export function useDocumentStatus(handle: DocumentHandle | null): DocumentStatus | null {
  const [current, setCurrent] = useState<{ handle: DocumentHandle; status: DocumentStatus } | null>(null);
  useEffect(() => {
    if (!handle) return;
    setCurrent({ handle, status: handle.status });
    const onStatus = (status: DocumentStatus) => setCurrent({ handle, status });
    handle.on('status', onStatus);
    return () => handle.off('status', onStatus);
  }, [handle]);
  return current && current.handle === handle ? current.status : null;
}

/** The records of `collection` as `[id, record]`, re-read on every change, ordered by `order`. */
export function useRecords<F extends FieldSchemas>(
  collection: RecordCollection<F> | null,
  order: (a: LwwRecord<F>, b: LwwRecord<F>) => number,
): Array<[string, LwwRecord<F>]> {
  const rerender = useRerender();
  useEffect(() => collection?.observe(() => rerender()), [collection]);
  const entries = collection?.entries() ?? [];
  return entries.sort(([, a], [, b]) => order(a, b));
}

/** The presence states of everyone else on `handle`'s document. */
export function usePeers(handle: DocumentHandle | null): Peer[] {
  const [peers, setPeers] = useState<Peer[]>(() => handle?.presence.peers() ?? []);
  useEffect(() => {
    setPeers(handle?.presence.peers() ?? []);
    if (!handle) return;
    const onChange = (next: Peer[]) => setPeers(next);
    handle.presence.on('change', onChange);
    return () => handle.presence.off('change', onChange);
  }, [handle]);
  return peers;
}

/** The document's outbox entries, live. */
export function useOutbox(handle: DocumentHandle | null): readonly OutboxEntry[] {
  const [entries, setEntries] = useState<readonly OutboxEntry[]>(() => handle?.outbox() ?? []);
  useEffect(() => {
    setEntries(handle?.outbox() ?? []);
    if (!handle) return;
    const onOutbox = (next: readonly OutboxEntry[]) => setEntries(next);
    handle.on('outbox', onOutbox);
    return () => handle.off('outbox', onOutbox);
  }, [handle]);
  return entries;
}

/** When the client tries the server next (ms since the epoch), or null. */
export function useNextRetry(client: SyncClient): number | null {
  const [at, setAt] = useState(client.nextRetryAt);
  useEffect(() => {
    setAt(client.nextRetryAt);
    const onRetry = (next: number | null) => setAt(next);
    client.on('retry', onRetry);
    return () => client.off('retry', onRetry);
  }, [client]);
  return at;
}

/** Seconds until `at`, re-rendered every second while it lies ahead; null without a time. */
export function useSecondsUntil(at: number | null): number | null {
  const rerender = useRerender();
  useEffect(() => {
    if (at === null) return;
    const timer = setInterval(rerender, 1_000);
    return () => clearInterval(timer);
  }, [at]);
  return at === null ? null : Math.max(0, Math.ceil((at - Date.now()) / 1_000));
}

/** The time now (ms since the epoch), re-read every `intervalMs` while mounted: for "5 min ago" that moves on. */
export function useNow(intervalMs: number): number {
  const rerender = useRerender();
  useEffect(() => {
    const timer = setInterval(rerender, intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return Date.now();
}

export function useUpdateFrequency(client: SyncClient): UpdateFrequency {
  const [frequency, setFrequency] = useState(client.updateFrequency);
  useEffect(() => {
    setFrequency(client.updateFrequency);
    client.on('frequency', setFrequency);
    return () => client.off('frequency', setFrequency);
  }, [client]);
  return frequency;
}

/** Every document of this device with changes not on the server yet, open or not; re-read when the list changes. */
export function usePendingDocuments(client: SyncClient): PendingDocument[] {
  const [documents, setDocuments] = useState<PendingDocument[]>([]);
  useEffect(() => {
    let current = true;
    const read = () =>
      void client.pendingDocuments().then(
        (next) => current && setDocuments(next),
        () => current && setDocuments([]), // no local copy to list from; open documents still show their own
      );
    read();
    client.on('outbox', read);
    return () => {
      current = false;
      client.off('outbox', read);
    };
  }, [client]);
  return documents;
}

/** Calls `onEvent` for every event published to `channel` while mounted (the latest callback, without resubscribing). */
export function useChannel(client: SyncClient, channel: string, onEvent: (payload: unknown, meta: ChannelEventMeta) => void): void {
  const latest = useRef(onEvent);
  latest.current = onEvent;
  useEffect(() => {
    const subscription = client.subscribe(channel);
    subscription.on('*', (payload, meta) => latest.current(payload, meta));
    return () => void subscription.unsubscribe();
  }, [client, channel]);
}

export interface InboxState {
  readonly inbox: Inbox | null;
  readonly notifications: InboxNotification[];
  readonly unread: number;
}

/** The user's inbox, live; `onArrival` is called for each notification that arrives while mounted. */
export function useInbox(
  client: SyncClient,
  onArrival: (notification: InboxNotification, preference: NotificationPreference) => void,
): InboxState {
  const [inbox, setInbox] = useState<Inbox | null>(null);
  const rerender = useRerender();
  const latest = useRef(onArrival);
  latest.current = onArrival;
  useEffect(() => {
    let current: Inbox | null = null;
    let unmounted = false;
    const onNotification = (notification: InboxNotification, preference: NotificationPreference) => latest.current(notification, preference);
    void client.openInbox().then((opened) => {
      if (unmounted) return;
      current = opened;
      opened.on('change', rerender);
      opened.on('notification', onNotification);
      setInbox(opened);
    });
    return () => {
      unmounted = true;
      current?.off('change', rerender);
      current?.off('notification', onNotification);
    };
  }, [client]);
  return { inbox, notifications: inbox?.notifications() ?? [], unread: inbox?.unreadCount ?? 0 };
}

/** Everyone of the workspace (online, idle, offline), live. */
export function useWorkspace(client: SyncClient): Member[] {
  const [members, setMembers] = useState<Member[]>(() => client.workspace().members());
  useEffect(() => {
    const workspace = client.workspace();
    setMembers(workspace.members());
    workspace.on('change', setMembers);
    return () => workspace.off('change', setMembers);
  }, [client]);
  return members;
}

/** How long an "updating" sign stays at least, so a change applied in a millisecond is still seen. */
const UPDATING_SIGN_MS = 800;

/** A sign that turns on with each `pulse()` and goes off `UPDATING_SIGN_MS` after the last one. */
function useBriefSign(): [boolean, () => void] {
  const [on, setOn] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => clearTimeout(timer.current ?? undefined), []);
  const pulse = useMemo(
    () => () => {
      setOn(true);
      clearTimeout(timer.current ?? undefined);
      timer.current = setTimeout(() => setOn(false), UPDATING_SIGN_MS);
    },
    [],
  );
  return [on, pulse];
}

/** True for a moment after someone else's change reaches `collection` (not this person's own edits). */
export function useRemoteChangeSign<F extends FieldSchemas>(collection: RecordCollection<F> | null): boolean {
  const [on, pulse] = useBriefSign();
  useEffect(() => collection?.observe((_ids, transaction) => !transaction.local && pulse()), [collection, pulse]);
  return on;
}

/** A live view across documents while mounted: its rows, re-read on each change, and its "updating" sign. */
export function useLiveView(client: SyncClient, spec: ViewSpec | null): { rows: readonly ViewRow[]; updating: boolean; synced: boolean } {
  const key = spec === null ? null : JSON.stringify(spec);
  const [state, setState] = useState<{ rows: readonly ViewRow[]; synced: boolean }>({ rows: [], synced: false });
  const [updating, pulse] = useBriefSign();
  useEffect(() => {
    if (key === null) return;
    const view = client.view(JSON.parse(key) as ViewSpec);
    let synced = false;
    const read = () => {
      setState({ rows: view.rows(), synced });
      if (view.updating) pulse();
    };
    const onUpdating = (now: boolean) => now && pulse();
    read();
    view.on('change', read);
    view.on('updating', onUpdating);
    void view.whenSynced().then(() => {
      synced = true;
      read();
    });
    return () => {
      view.off('change', read);
      view.off('updating', onUpdating);
      void view.close();
    };
  }, [client, key, pulse]);
  return { rows: state.rows, updating, synced: state.synced };
}
