/**
 * Random ids for new tasks. `crypto.getRandomValues` works in every context (unlike `crypto.randomUUID`, which
 * needs a secure one), and 128 random bits keep two offline replicas from ever picking the same id.
 */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
