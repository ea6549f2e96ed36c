import { colorForUser, parsePresence, PRESENCE_COLORS } from '@concord/engine';
import { expect, test } from 'vitest';

test('presence states from other clients are validated', () => {
  const user = { id: 'u1', name: 'Sarah', color: '#1971c2' };
  expect(parsePresence({ user, cursor: { anchor: {}, head: {} }, field: 'status' })).toMatchObject({ user, field: 'status' });
  expect(parsePresence({ user: { ...user, color: 'red; background:url(x)' } })).toBeNull();
  expect(parsePresence({ name: 'no user object' })).toBeNull();
  expect(parsePresence(null)).toBeNull();
});

test('each user keeps one colour from the palette', () => {
  expect(colorForUser('alice')).toBe(colorForUser('alice'));
  expect(PRESENCE_COLORS).toContain(colorForUser('bob'));
  const colours = new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(colorForUser));
  expect(colours.size).toBeGreaterThan(3);
});
