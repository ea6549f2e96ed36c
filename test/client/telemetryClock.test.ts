/**
 * Issue 18 point 4: propagation is measured only with a clock known well enough. A page still loading handles the
 * server's first clock answer late (or sends the question late); half that round trip is the offset's error (Chromium
 * measured 143–166 ms for edits Node clients saw in 7–11 ms). The client asks again soon after (CLOCK_SAMPLES_AT_MS),
 * and neither stamps its own edits nor measures a peer's until an answer came back within TRUSTED_CLOCK_ROUND_TRIP_MS
 * (or, on a slow network, until CLOCK_ANSWERS_ON_A_SLOW_NETWORK answers came).
 *
 * The client's Telemetry on a hand-moved clock; the test plays the server (clock answers) and a peer (edits, stamps).
 */
import { parseTelemetry, type TelemetryMessage } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { CLOCK_ANSWERS_ON_A_SLOW_NETWORK, CLOCK_SAMPLES_AT_MS, Telemetry, TRUSTED_CLOCK_ROUND_TRIP_MS } from '../../client/src/telemetry.js';
import { ManualClock } from '../support/clock.js';

const REPORT_EVERY_MS = 60_000;
/** The server's clock runs this far ahead of the page's. */
const SERVER_AHEAD_MS = 600_000;
/** A page busy loading: the time a clock question or answer waits on it. */
const BUSY_MS = 300;
/** One way on a quiet connection. */
const WIRE_MS = 2;

/** How long a clock question takes to reach the server, and its answer to be handled by the page. */
interface Trip {
  readonly outMs: number;
  readonly backMs: number;
}

function setup(trips: Trip[]) {
  const clock = new ManualClock(1_000_000);
  const provider = { on: () => undefined, off: () => undefined };
  const socket = { provider, connection: 1, isOpen: true, asleep: false };
  const reports: number[][] = [];
  const telemetry = new Telemetry({
    socket: socket as never,
    clock,
    intervalMs: REPORT_EVERY_MS,
    send: (payload) => {
      const message = parseTelemetry(payload);
      if (message?.concord === 'telemetry') reports.push(message.delivery);
      return true;
    },
  });
  const stamps: number[] = [];
  /** The document's channel: stamps are kept, clock questions answered by the next trip (none left: no answer). */
  const send = (payload: string) => {
    const message = parseTelemetry(payload) as TelemetryMessage;
    if (message.concord === 'stamp') stamps.push(message.at);
    if (message.concord !== 'clock?') return;
    const trip = trips.shift();
    if (trip === undefined) return;
    // Handled now, as if asked outMs + backMs ago: the server read its clock outMs after the question left.
    const askedAt = clock.now() - trip.outMs - trip.backMs;
    telemetry.clockAnswer({ concord: 'clock', at: askedAt, now: askedAt + trip.outMs + SERVER_AHEAD_MS });
  };
  const doc = new Y.Doc();
  telemetry.watch(doc, provider as never, send);
  telemetry.authenticated(send);
  /** The server's true time now. */
  const serverTime = () => clock.now() + SERVER_AHEAD_MS;
  /** A peer's edit that takes `ms` to arrive, stamped with the server's true time it was made. */
  const peerEdit = (ms: number) => {
    const peer = new Y.Doc();
    peer.getText('t').insert(0, 'p');
    const madeAt = serverTime();
    clock.advance(ms);
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(peer), 'remote');
    telemetry.stamp(doc, { concord: 'stamp', at: madeAt, client: peer.clientID, clock: Y.getState(peer.store, peer.clientID) });
  };
  /** What the next report carries. */
  const delivery = () => {
    clock.advance(REPORT_EVERY_MS);
    return reports.flat();
  };
  return { doc, stamps, clock, serverTime, peerEdit, delivery };
}

const quiet: Trip = { outMs: WIRE_MS, backMs: WIRE_MS };

describe('telemetry clock', () => {
  it('a writer whose first clock answer was handled late stamps nothing until a prompt answer, then stamps true times', async () => {
    const { doc, stamps, clock, serverTime } = setup([{ outMs: WIRE_MS, backMs: BUSY_MS }, quiet]);
    doc.getText('t').insert(0, 'typed while the clock is off by ~150 ms');
    await Promise.resolve(); // a stamp goes out after the edit itself
    expect(stamps, 'stamps sent with an untrusted clock').toEqual([]);

    clock.advance(CLOCK_SAMPLES_AT_MS[0]); // asked again soon, answered at once
    doc.getText('t').insert(0, 'x');
    await Promise.resolve();
    expect(stamps).toHaveLength(1);
    expect(Math.abs(stamps[0]! - serverTime()), 'the stamp\'s error (ms)').toBeLessThanOrEqual(WIRE_MS);
  });

  it('a reader whose first clock question left late measures nothing until a prompt answer, then the true delay', () => {
    const { peerEdit, delivery, clock } = setup([{ outMs: BUSY_MS, backMs: WIRE_MS }, quiet]);
    peerEdit(10);
    clock.advance(CLOCK_SAMPLES_AT_MS[0]); // asked again soon, answered at once
    peerEdit(10);
    const samples = delivery();
    expect(samples, 'only the edit measured with a trusted clock').toHaveLength(1);
    expect(Math.abs(samples[0]! - 10), `measured ${samples[0]} ms for an edit that took 10 ms`).toBeLessThanOrEqual(WIRE_MS);
    expect(WIRE_MS * 2).toBeLessThanOrEqual(TRUSTED_CLOCK_ROUND_TRIP_MS);
  });

  it('on a slow network (every round trip 250 ms) the best of the first answers is used', async () => {
    const slow: Trip = { outMs: 125, backMs: 125 };
    const { doc, stamps, clock, serverTime } = setup(Array.from({ length: 5 }, () => slow));
    for (let answers = 1; answers < CLOCK_ANSWERS_ON_A_SLOW_NETWORK; answers += 1) {
      doc.getText('t').insert(0, 'x');
      await Promise.resolve();
      expect(stamps, `stamps after ${answers} slow answers`).toEqual([]);
      clock.advance(CLOCK_SAMPLES_AT_MS[answers - 1]! - (answers > 1 ? CLOCK_SAMPLES_AT_MS[answers - 2]! : 0)); // the next question
    }
    doc.getText('t').insert(0, 'x');
    await Promise.resolve();
    expect(stamps).toHaveLength(1);
    expect(Math.abs(stamps[0]! - serverTime()), 'a symmetric slow path: the stamp is right').toBeLessThanOrEqual(1);
  });
});
