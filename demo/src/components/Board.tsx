/**
 * The signed-in screen: header (connection status, others' updates waiting, the project's Activity, and a menu with
 * presence, outbox, bell and who you are), the task list of the shared project, and the selected task. Opens the
 * project document for as long as it is shown, and the selected task's document while that task is selected.
 *
 * Layout (styles.css): from 900 px wide the list and the selected task sit side by side and the menu's contents are
 * laid out in the header; narrower (a phone), the menu folds behind one button and the selected task replaces the
 * list as a full-screen sheet with a way back.
 */
import type { ConnectionState, FieldConflict, SyncClient } from '@concord/client';
import { matchesWhere } from '@concord/engine';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useOfflineSpans } from '../conflicts';
import { taskTotals, whereOf } from '../filters';
import { useChannel, useConnectionState, useDocument, useDocumentStatus, useInbox, usePeers, usePendingDocuments, useRecords, useRemoteChangeSign } from '../hooks';
import { isProjectDocument, projectDocumentName, ProjectDocument, projectName, projectOf, PROJECTS, taskDocumentName } from '../model';
import { useRoute, type Screen } from '../route';
import type { Session } from '../session';
import { availabilityOf } from '../status';
import { Activity } from './ActivityPanel';
import { BackendActions } from './BackendActions';
import { ConflictNotices, useConflictNotices } from './ConflictNotices';
import { Filters } from './Filters';
import { MyTasks } from './MyTasks';
import { StatusBoard } from './StatusBoard';
import { TotalsStrip } from './TotalsStrip';
import { Bell } from './Bell';
import { FrequencySelect } from './FrequencySelect';
import { HeaderMenu } from './HeaderMenu';
import { HeldUpdates } from './HeldUpdates';
import { OnlineUsers } from './OnlineUsers';
import { OutboxPanel } from './OutboxPanel';
import { PresenceAvatars } from './PresenceAvatars';
import { StatusIndicator } from './StatusIndicator';
import { TaskDetail } from './TaskDetail';
import { TaskList } from './TaskList';
import { ring, Toasts, useToasts } from './Toasts';

/** Where the header folds into a menu and a task opens as a sheet; the same breakpoint as styles.css. */
const PHONE_LAYOUT = '(max-width: 899px)';

/** How long a task changed by someone else stays highlighted. */
const HIGHLIGHT_MS = 3_000;

interface TaskUpdated {
  task?: string;
  title?: string;
  field?: string;
  value?: string;
  by?: string;
}

interface BoardProps {
  client: SyncClient;
  session: Session;
  onSignOut: () => void;
}

const SCREEN_LABELS: Record<Screen, string> = { list: 'List', board: 'Board', mine: 'My tasks' };

export function Board({ client, session, onSignOut }: BoardProps) {
  const [route, navigate] = useRoute();
  const projectDocument = projectDocumentName(route.project);
  const project = useDocument(client, projectDocument);
  const selected = route.task;
  const select = useCallback((id: string | null) => navigate({ task: id }), [navigate]);
  const taskHandle = useDocument(client, selected ? taskDocumentName(selected) : null);
  const projectStatus = useDocumentStatus(project);
  const taskStatus = useDocumentStatus(taskHandle);
  // A project with nothing on this device (evicted from its cache, or never opened here) cannot show offline.
  const state = useConnectionState(client);
  const lastSettled = useRef<ConnectionState | null>(null);
  const availability = availabilityOf(projectStatus, state, lastSettled.current);
  if (state !== 'connecting') lastSettled.current = state;
  const pendingElsewhere = usePendingDocuments(client).filter(({ name }) => name !== project?.name && name !== taskHandle?.name);
  // Signing out deletes this person's copy on the device; changes not on the server yet would go with it.
  const signOut = async () => {
    const pending = (projectStatus?.pendingChanges ?? 0) + (taskStatus?.pendingChanges ?? 0);
    const lose = `${pending} of your changes are not on the server yet and will be lost. Sign out anyway?`;
    if (pending > 0 && !confirm(lose)) return;
    await client.clearLocalData();
    onSignOut();
  };
  useEffect(() => {
    project?.presence.set({ page: selected ? taskDocumentName(selected) : projectDocument });
    const workspace = client.workspace();
    workspace.setPage(location.pathname);
    workspace.setDocument(selected ? taskDocumentName(selected) : projectDocument);
  }, [client, project, projectDocument, selected]);

  // What the backend publishes about the project: a toast, and the task lights up for a moment.
  const [toasts, toast] = useToasts();
  const [highlighted, setHighlighted] = useState<ReadonlySet<string>>(new Set());
  const highlight = useCallback((id: string) => {
    setHighlighted((current) => new Set([...current, id]));
    setTimeout(() => setHighlighted((current) => new Set([...current].filter((other) => other !== id))), HIGHLIGHT_MS);
  }, []);
  useChannel(client, projectDocument, (payload, meta) => {
    const update = (payload ?? {}) as TaskUpdated;
    if (meta.event === 'task-updated' && update.task) {
      toast(`${update.by ?? 'Someone'} set the ${update.field ?? 'task'} of "${update.title ?? update.task}" to ${update.value ?? '…'}`, 'event');
      highlight(update.task);
    } else {
      toast(`${meta.event} on ${meta.channel}`, 'event');
    }
  });

  // The inbox: arrivals make a toast (and a tone when that kind has sound on); the task on screen is read.
  const inboxState = useInbox(client, (notification, preference) => {
    toast(notification.title, 'notification');
    if (preference.sound) ring();
  });
  useEffect(() => {
    inboxState.inbox?.setViewing(selected ? { document: projectDocument, record: selected } : null);
  }, [inboxState.inbox, projectDocument, selected]);

  // On a phone the task replaces the list as a sheet: it starts at its top, wherever the list was scrolled to.
  useEffect(() => {
    if (selected && matchMedia(PHONE_LAYOUT).matches) scrollTo(0, 0);
  }, [selected]);

  const tasks = useMemo(() => project?.typed(ProjectDocument).collection('tasks') ?? null, [project]);
  const records = useRecords(tasks, (a, b) => (a.get('createdAt') ?? 0) - (b.get('createdAt') ?? 0));
  const selectedRecord = records.find(([id]) => id === selected)?.[1];
  const peers = usePeers(project);
  // The filters (in the URL) over this device's copy of the project, and the totals of what they let through.
  const now = Date.now();
  const where = whereOf(route.filter, now);
  const shown = records.filter(([, record]) =>
    matchesWhere(where, { status: record.get('status'), assignee: record.get('assignee'), due: record.get('due') }, { me: session.user.id, now }),
  );
  const totals = taskTotals(
    shown.map(([, record]) => ({ status: record.get('status'), due: record.get('due') })),
    now,
  );
  const updatingTotals = useRemoteChangeSign(tasks);

  const offlineAt = useOfflineSpans(client);
  // A change of this person's that lost to someone else's: a notice that stays until they keep theirs or yours.
  const [conflicts, settleConflict] = useConflictNotices([project, taskHandle], offlineAt);
  const taskOf = (conflict: FieldConflict) =>
    conflict.document === projectDocument && conflict.root === 'tasks' && conflict.record !== null ? (tasks?.get(conflict.record) ?? null) : null;

  return (
    <div class={selected ? 'board board--task-open' : 'board'}>
      <header class="board__header">
        <h1>
          Concord <span class="muted board__project">· {projectName(route.project)}</span>
        </h1>
        <StatusIndicator
          client={client}
          documents={[
            [project, projectStatus],
            [taskHandle, taskStatus],
          ]}
          elsewhere={pendingElsewhere.reduce((sum, { entries }) => sum + entries.length, 0)}
        />
        <HeldUpdates client={client} statuses={[projectStatus, taskStatus]} />
        <Activity client={client} project={project} self={session.user} onOpenTask={select} />
        <HeaderMenu unread={inboxState.unread}>
          {(closeMenu) => (
            <>
              <div class="board__people">
                <PresenceAvatars handle={project} self={session.user} />
                <OnlineUsers client={client} />
              </div>
              <OutboxPanel
                client={client}
                project={project}
                task={taskHandle}
                statuses={[projectStatus, taskStatus]}
                elsewhere={pendingElsewhere}
              />
              <FrequencySelect client={client} />
              <Bell
                state={inboxState}
                onOpen={(notification) => {
                  const target = notification.target;
                  if (target && isProjectDocument(target.document) && target.record) {
                    navigate({ project: projectOf(target.document), task: target.record, screen: route.screen === 'mine' ? 'list' : route.screen });
                    closeMenu();
                  } else inboxState.inbox?.markRead(notification.id);
                }}
              />
              <div class="board__me">
                <span data-testid="signed-in-as" style={{ color: session.user.color }}>
                  {session.user.name}
                </span>
                <button type="button" class="link" data-testid="sign-out" onClick={() => void signOut()}>
                  Sign out
                </button>
              </div>
            </>
          )}
        </HeaderMenu>
      </header>
      <nav class="screens" aria-label="Views">
        <select
          class="screens__project"
          hidden={route.screen === 'mine'}
          data-testid="project-select"
          aria-label="Project"
          value={route.project}
          onChange={(event) => navigate({ project: event.currentTarget.value, task: null })}
        >
          {PROJECTS.map(({ id, name }) => (
            <option key={id} value={id}>
              {name}
            </option>
          ))}
        </select>
        {(['list', 'board', 'mine'] as const).map((screen) => (
          <button
            key={screen}
            type="button"
            class={route.screen === screen ? 'screens__tab screens__tab--current' : 'screens__tab'}
            data-testid={`screen-${screen}`}
            aria-current={route.screen === screen ? 'page' : undefined}
            onClick={() => navigate({ screen, task: screen === 'mine' ? null : route.task })}
          >
            {SCREEN_LABELS[screen]}
          </button>
        ))}
      </nav>
      {route.screen !== 'mine' && availability !== 'not-on-device' && (
        <div class="board__filters">
          <Filters filter={route.filter} onChange={(filter) => navigate({ filter })} />
          <TotalsStrip totals={totals} updating={updatingTotals} label="Tasks shown" />
        </div>
      )}
      <main class={route.screen === 'mine' ? 'board__main board__main--single' : selected ? 'board__main board__main--task-open' : 'board__main'}>
        {route.screen === 'mine' ? (
          <MyTasks client={client} onOpen={(projectId, task) => navigate({ project: projectId, task, screen: 'list' })} />
        ) : !project ? (
          <p class="muted">Opening the project…</p>
        ) : availability === 'not-on-device' ? (
          <section class="not-on-device" data-testid="project-not-on-device" role="status" aria-label="Project not on this device">
            <p class="not-on-device__title">Not on this device — connect to load it</p>
            <p class="muted">
              {projectName(route.project)} has not been opened on this device yet, or its copy was removed to save space. It opens here as
              soon as you are back online.
            </p>
          </section>
        ) : route.screen === 'board' ? (
          <StatusBoard handle={project} tasks={shown} peers={peers} selected={selected} highlighted={highlighted} onOpen={select} />
        ) : (
          <TaskList handle={project} shown={shown.length === records.length ? null : new Set(shown.map(([id]) => id))} selected={selected} highlighted={highlighted} onSelect={select} />
        )}
        {route.screen !== 'mine' && (
          <div class="board__task" data-testid="task-pane">
            {selected ? (
              <>
                <button type="button" class="board__back" data-testid="sheet-back" onClick={() => select(null)}>
                  ← All tasks
                </button>
                {project && taskHandle && (
                  <TaskDetail client={client} project={project} taskId={selected} handle={taskHandle} user={session.user} onClose={() => select(null)} />
                )}
                {selectedRecord && (
                  <BackendActions
                    key={selected}
                    client={client}
                    session={session}
                    task={{ id: selected, title: selectedRecord.get('title') ?? '', status: selectedRecord.get('status') ?? 'todo', project: projectDocument }}
                  />
                )}
              </>
            ) : (
              <p class="muted board__hint">Open a task to see its fields, description and comments here.</p>
            )}
          </div>
        )}
      </main>
      <Toasts toasts={toasts}>
        <ConflictNotices
          notices={conflicts}
          settle={settleConflict}
          recordOf={taskOf}
          labelOf={(conflict) => (conflict.record === null ? null : taskOf(conflict)?.get('title') || 'Untitled task')}
        />
      </Toasts>
    </div>
  );
}
