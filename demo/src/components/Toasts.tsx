/**
 * Short messages in the corner for things that happened elsewhere: an event the backend published, a notification
 * that arrived. Each stays a few seconds; a notification whose kind has sound on also rings once. Notices that stay
 * until acted on (conflicts) join the same stack, below the toasts.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useState } from 'preact/hooks';

/** How long a toast stays on screen. */
const TOAST_MS = 6_000;

export interface Toast {
  readonly id: number;
  readonly text: string;
  readonly kind: 'event' | 'notification';
}

let nextId = 1;

export function useToasts(): [readonly Toast[], (text: string, kind: Toast['kind']) => void] {
  const [toasts, setToasts] = useState<readonly Toast[]>([]);
  const push = useCallback((text: string, kind: Toast['kind']) => {
    const toast = { id: nextId++, text, kind };
    setToasts((current) => [...current.slice(-3), toast]);
    setTimeout(() => setToasts((current) => current.filter(({ id }) => id !== toast.id)), TOAST_MS);
  }, []);
  return [toasts, push];
}

export function Toasts({ toasts, children }: { toasts: readonly Toast[]; children?: ComponentChildren }) {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((toast) => (
        <div key={toast.id} class={`toast toast--${toast.kind}`} data-testid="toast">
          {toast.text}
        </div>
      ))}
      {children}
    </div>
  );
}

/** One short tone (Web Audio), for notifications whose sound is on; silent where audio is unavailable or blocked. */
export function ring(): void {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    volume.gain.setValueAtTime(0.08, audio.currentTime);
    volume.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.3);
    tone.connect(volume).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.3);
    tone.onended = () => void audio.close();
  } catch {
    // No audio here (or not allowed before a user gesture): the toast is enough.
  }
}
