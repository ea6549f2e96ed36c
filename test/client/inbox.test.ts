/**
 * C16 notifications inbox, against a real server: the backend notifies a user over HTTP; every device of the user
 * shows it with the same unread count; reading on one device (also offline) clears it on the others; kinds switched
 * off are not delivered; what the user views is read automatically; nobody else opens the inbox; the inbox is a
 * stored document, so what was notified outlives a `kill -9` of the server.
 */
import type { Inbox, InboxNotification } from '@concord/client';
import type { NotificationPreference } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../support/server.js';
import { spawnServer } from '../support/serverProcess.js';
import { startTcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';

async function notify(url: string, user: string, notification: Record<string, unknown>) {
  const response = await fetch(`${url}/api/users/${user}/notifications?tenant=t1`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify(notification),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function arrivals(inbox: Inbox): Array<{ notification: InboxNotification; preference: NotificationPreference }> {
  const seen: Array<{ notification: InboxNotification; preference: NotificationPreference }> = [];
  inbox.on('notification', (notification, preference) => seen.push({ notification, preference }));
  return seen;
}

describe('C16 notifications inbox', () => {
  it('shows a notification on every device of the user, and reading it on one clears it on the others, also offline', async () => {
    freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const laptop = makeClient(server, { token: await token('bob'), localNamespace: 'laptop' });
    const phone = makeClient({ syncUrl: `ws://127.0.0.1:${proxy.port}/sync` }, { token: await token('bob'), localNamespace: 'phone' });
    const [onLaptop, onPhone] = await Promise.all([laptop.openInbox(), phone.openInbox()]);
    expect(onLaptop.name).toBe('inbox:bob');
    await Promise.all([onLaptop.handle.whenSynced(), onPhone.handle.whenSynced()]);
    const laptopArrivals = arrivals(onLaptop);
    const phoneArrivals = arrivals(onPhone);

    const sent = await notify(server.url, 'bob', {
      kind: 'assignment',
      title: 'Sarah assigned you "Pay invoice"',
      target: { document: 'project-1', record: 'task-7' },
      actor: 'sarah',
    });
    expect(sent).toMatchObject({ status: 200, body: { user: 'bob', delivered: true, durable: true } });
    await waitFor(() => onLaptop.unreadCount === 1 && onPhone.unreadCount === 1);
    expect(onPhone.notifications()[0]).toMatchObject({ id: sent.body.id, kind: 'assignment', actor: 'sarah', read: false });
    expect(laptopArrivals.map(({ notification }) => notification.title)).toEqual(['Sarah assigned you "Pay invoice"']);
    expect(phoneArrivals).toHaveLength(1);
    expect(phoneArrivals[0]?.preference).toEqual({ enabled: true, sound: false });

    // The phone goes offline and reads it there: the laptop learns when the phone is back.
    proxy.cut();
    await waitFor(() => phone.state === 'offline');
    onPhone.markRead(sent.body.id as string);
    expect(onPhone.unreadCount).toBe(0);
    expect(onPhone.handle.status.pendingChanges).toBeGreaterThan(0);
    expect(onLaptop.unreadCount).toBe(1);
    proxy.restore();
    await waitFor(() => onLaptop.unreadCount === 0, { timeoutMs: 15_000 });
    expect(onLaptop.notifications()[0]?.read).toBe(true);
  });

  it('does not deliver kinds the user switched off, and reports the sound preference with each arrival', async () => {
    freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const client = makeClient(server, { token: await token('bob') });
    const inbox = await client.openInbox();
    await inbox.handle.whenSynced();
    const seen = arrivals(inbox);
    inbox.setPreference('deadline', { enabled: false });
    inbox.setPreference('mention', { sound: true });
    await waitFor(() => inbox.handle.status.synced);

    const muted = await notify(server.url, 'bob', { kind: 'deadline', title: 'Invoice due tomorrow' });
    expect(muted).toMatchObject({ status: 200, body: { delivered: false, id: null } });
    await notify(server.url, 'bob', { kind: 'mention', title: 'Sarah mentioned you', body: '@bob can you check?' });
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toMatchObject({ notification: { kind: 'mention' }, preference: { enabled: true, sound: true } });
    expect(inbox.notifications().map(({ kind }) => kind)).toEqual(['mention']);
    expect(inbox.unreadCount).toBe(1);
    const bad = await notify(server.url, 'bob', { kind: 'Mention!', title: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/kind.*title|title.*kind/s);
  });

  it('reads what the user views: notifications already there, and those that arrive while viewing', async () => {
    freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const client = makeClient(server, { token: await token('bob') });
    const inbox = await client.openInbox();
    await inbox.handle.whenSynced();
    await notify(server.url, 'bob', { kind: 'reply', title: 'Reply on task 9', target: { document: 'project-1', record: 'task-9' } });
    await notify(server.url, 'bob', { kind: 'reply', title: 'Reply on task 7', target: { document: 'project-1', record: 'task-7' } });
    await waitFor(() => inbox.unreadCount === 2);

    inbox.setViewing({ document: 'project-1', record: 'task-9' });
    await waitFor(() => inbox.unreadCount === 1);
    expect(inbox.notifications().find(({ title }) => title === 'Reply on task 7')?.read).toBe(false);
    await notify(server.url, 'bob', { kind: 'mention', title: 'Mentioned on task 9', target: { document: 'project-1', record: 'task-9' } });
    await waitFor(() => inbox.notifications().length === 3);
    await waitFor(() => inbox.notifications().find(({ title }) => title === 'Mentioned on task 9')?.read === true);
    expect(inbox.unreadCount).toBe(1);
  });

  it("is its owner's alone: another user is refused whatever the token's globs grant", async () => {
    freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const alice = makeClient(server, { token: await token('alice', { docs: { '*': 'write' } }) });
    const snooping = alice.open('inbox:bob');
    await waitFor(() => snooping.status.state === 'unauthorized');
    expect(snooping.status.error).toMatch(/Forbidden/);
    const notFound = await notify(server.url, 'bad user!', { kind: 'custom', title: 'x' });
    expect(notFound.status).toBe(400);
  });

  it('is a stored document: a notification answered as durable is there after the server is killed and restarted', async () => {
    freshIndexedDB();
    const storage = { dataDir: await makeTempDir(), args: ['--api-key', API_KEY] };
    const first = await spawnServer(storage);
    const sent = await notify(first.url, 'bob', { kind: 'mention', title: 'Sarah mentioned you' });
    expect(sent).toMatchObject({ status: 200, body: { delivered: true, durable: true } });
    await first.kill('SIGKILL');
    const second = await spawnServer(storage);
    const device = makeClient(second, { token: await token('bob') });
    const inbox = await device.openInbox();
    await inbox.handle.whenSynced();
    await waitFor(() => inbox.unreadCount === 1);
    expect(inbox.notifications()[0]).toMatchObject({ id: sent.body.id, title: 'Sarah mentioned you', read: false });
  });
});
