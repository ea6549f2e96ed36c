/**
 * The app shell: the sign-in form until someone is signed in, then their workspace, which owns the one sync
 * client (one socket for every document) for as long as the session lasts.
 */
import { createSyncClient, type ConnectionState, type SyncClient } from '@concord/client';
import { useEffect, useState } from 'preact/hooks';
import { clearSession, loadSession, tokenSource, type Session } from '../session';
import { Board } from './Board';
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
        setSession(null);
      }}
    />
  );
}

function Workspace({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [client, setClient] = useState<SyncClient | null>(null);
  useEffect(() => {
    const tokens = tokenSource(session);
    const created = createSyncClient({ url: syncUrl(), token: tokens.token, user: session.user });
    const onState = (state: ConnectionState) => {
      if (state === 'unauthorized') tokens.invalidate();
    };
    created.on('state', onState);
    setClient(created);
    return () => {
      created.off('state', onState);
      void created.destroy();
    };
  }, [session]);
  if (!client) return null;
  return <Board client={client} session={session} onSignOut={onSignOut} />;
}
