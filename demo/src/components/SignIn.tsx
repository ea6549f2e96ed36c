import { useState } from 'preact/hooks';
import { signIn, type Session } from '../session';

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(name));
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <form onSubmit={submit} class="sign-in__card">
        <h1>Concord demo</h1>
        <p>A shared project: tasks with live fields, descriptions with live carets. Open a second window as someone else.</p>
        <label for="sign-in-name">Your name</label>
        <input
          id="sign-in-name"
          data-testid="sign-in-name"
          value={name}
          onInput={(event) => setName(event.currentTarget.value)}
          placeholder="Alice"
          maxLength={100}
          autoFocus
          required
        />
        <button type="submit" data-testid="sign-in-submit" disabled={busy || !name.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && (
          <p class="error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
