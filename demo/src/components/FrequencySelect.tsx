/**
 * The update-frequency preference: show others' changes live, or gather them and apply them every 30 seconds or
 * every minute (your own changes always go out at once). Kept in localStorage, so it survives a reload.
 */
import { UPDATE_FREQUENCIES, type SyncClient, type UpdateFrequency } from '@concord/client';
import { useUpdateFrequency } from '../hooks';

const STORAGE_KEY = 'concord-demo-update-frequency';

const LABELS: Record<UpdateFrequency, string> = {
  live: 'Live',
  'every-30s': 'Every 30 s',
  'every-minute': 'Every minute',
};

/** The stored preference, or live. */
export function storedUpdateFrequency(): UpdateFrequency {
  const stored = localStorage.getItem(STORAGE_KEY);
  return UPDATE_FREQUENCIES.includes(stored as UpdateFrequency) ? (stored as UpdateFrequency) : 'live';
}

export function FrequencySelect({ client }: { client: SyncClient }) {
  const frequency = useUpdateFrequency(client);
  return (
    <label class="frequency" title="How often others' changes appear on your screen">
      <span class="muted">Updates</span>
      <select
        data-testid="update-frequency"
        value={frequency}
        onChange={(event) => {
          const next = (event.target as HTMLSelectElement).value as UpdateFrequency;
          localStorage.setItem(STORAGE_KEY, next);
          client.setUpdateFrequency(next);
        }}
      >
        {UPDATE_FREQUENCIES.map((option) => (
          <option key={option} value={option}>
            {LABELS[option]}
          </option>
        ))}
      </select>
    </label>
  );
}
