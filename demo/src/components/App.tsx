/**
 * The app shell: the sign-in form until someone is signed in, then their workspace, which owns the one sync
 * client (one socket for every document) for as long as the session lasts.
 */
import { createSyncClient, type SyncClient } from '@concord/client';
import { useEffect, useState } from 'preact/hooks';
import { clearSession, loadSession, tokenFor, type Session } from '../session';
import { TeamProvider } from '../team';
import { Board } from './Board';
import { storedUpdateFrequency } from './FrequencySelect';
import { SignIn } from './SignIn';

function syncUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  if (!session) return <SignIn onSignedIn={setSession} />;
  return (
    <Workspace
      key={session.user.id}
      session={session}
      onSignOut={() => {
        clearSession();
        history.replaceState(null, '', location.pathname);
        setSession(null);
      }}
    />
  );
}

/** The sync client of one session: one socket for every document, with a token that renews itself when refused. */
function Workspace({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [client, setClient] = useState<SyncClient | null>(null);
  useEffect(() => {
    const created = createSyncClient({
      url: syncUrl(),
      token: tokenFor(session),
      user: session.user,
      updateFrequency: storedUpdateFrequency(),
    });
    setClient(created);
    // Closing the tab while a change is neither on the server nor on this device would lose it: the browser asks.
    const warnBeforeLosing = (event: BeforeUnloadEvent) => {
      if (!created.hasUnsavedChanges()) return;
      event.preventDefault();
      event.returnValue = '';
    };
    addEventListener('beforeunload', warnBeforeLosing);
    return () => {
      removeEventListener('beforeunload', warnBeforeLosing);
      void created.destroy();
    };
  }, [session]);
  if (!client) return null;
  // The team (workspace members), for the assignee pickers and @mentions anywhere on the board.
  return (
    <TeamProvider client={client}>
      <Board client={client} session={session} onSignOut={onSignOut} />
    </TeamProvider>
  );
}
