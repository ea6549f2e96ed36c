/**
 * The app shell: the sign-in form until someone is signed in, then their workspace, which owns the one sync
 * client (one socket for every document) for as long as the session lasts.
 */
import { createSyncClient, type ConnectionState, type SyncClient } from '@concord/client';
import { useEffect, useState } from 'preact/hooks';
import { clearSession, loadSession, renewToken, tokenSource, type Session } from '../session';
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
        history.replaceState(null, '', location.pathname);
        setSession(null);
      }}
    />
  );
}

/** The sync client of one session, and what to do when the server refuses its token. */
interface Connection {
  readonly client: SyncClient;
  readonly onUnauthorized: () => void;
}

function Workspace({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [connection, setConnection] = useState<Connection | null>(null);
  // Bumped by "Reconnect": a new client, with a freshly fetched token, on the same local copies.
  const [generation, setGeneration] = useState(0);
  const reconnect = async () => {
    await renewToken(session).catch(() => {});
    setGeneration((n) => n + 1);
  };
  useEffect(() => {
    const tokens = tokenSource(session);
    const client = createSyncClient({ url: syncUrl(), token: tokens.token, user: session.user });
    const onState = (state: ConnectionState) => {
      if (state === 'unauthorized') tokens.invalidate();
    };
    client.on('state', onState);
    setConnection({ client, onUnauthorized: tokens.invalidate });
    return () => {
      client.off('state', onState);
      void client.destroy();
    };
  }, [session, generation]);
  if (!connection) return null;
  return (
    <Board
      client={connection.client}
      session={session}
      onUnauthorized={connection.onUnauthorized}
      onReconnect={reconnect}
      onSignOut={onSignOut}
    />
  );
}
