/**
 * `/sync`: the Hocuspocus protocol, many documents over one socket, for stock HocuspocusProvider clients.
 *
 * Tenant namespacing happens here. Inside the server every document is `<tenant>/<name>`; clients only ever see
 * `<name>`. The socket's tenant is the one its first token claims (read unverified, only to route names): each
 * inbound address gets the tenant prefix, each outbound one loses it. Authentication then verifies the token and
 * refuses any document whose prefix is not the verified tenant, so a forged claim reaches nothing; a later token that
 * claims another tenant closes the socket (4400). Frames that arrive before the first token wait, within a bound.
 * How many documents the socket opens, and how many authenticate in Hocuspocus at once, is DocumentSlots' business.
 *
 * Keystrokes that arrive together on a document this socket already edits go to Hocuspocus as one update
 * (UpdateBatch); the client still gets one acknowledgement per message: the batch's acknowledgement is sent once for
 * each message it stands for.
 *
 * A Sync step 1 for a document whose previous one is still being answered is dropped (SyncRequests.ts): asking for
 * the whole document a hundred times in a row gets it encoded once.
 *
 * The heartbeat is Hocuspocus' own Ping frame for providers that answer it (v4 on, which name their version in their
 * Auth frame): the provider replies Pong, and the Ping tells the client its link is alive. A v3 provider would throw
 * on a Ping frame, so it gets a WebSocket ping (answered by its WebSocket implementation) until it says otherwise.
 *
 * Presence: each document session (its first Auth frame until the client or the server ends it) is an
 * AwarenessSession, and every awareness frame is checked against it (AwarenessGuard) before it goes on.
 *
 * Updates: every update goes through the socket's UpdateGate first (before any batching): only complete updates under
 * the user's own client ids go on, in order; incomplete ones wait there, outside the document, unacknowledged.
 */
import { AuthMessageType } from '@hocuspocus/common';
import { MessageType } from '@hocuspocus/server';
import { messageYjsSyncStep1 } from 'y-protocols/sync';
import { CloseCode, CloseReason, TENANT_SEPARATOR } from '@concord/engine';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { claimedTenant } from '../auth/TokenVerifier.js';
import { AwarenessSession } from './AwarenessGuard.js';
import {
  AddressReader,
  addressPrefixes,
  awarenessFrame,
  frameType,
  MalformedFrameError,
  parseClientFrame,
  PING_FRAME_BYTE,
  PONG_FRAME_BYTE,
  readServerFrameHead,
  stripAddressPrefix,
  withPrefix,
  type ClientFrame,
  type StructRun,
  syncFrame,
  utf8Strings,
} from './frames.js';
import { DocumentSlots } from './DocumentSlots.js';
import { ServerSocket } from './ServerSocket.js';
import { SmallMap } from './SmallMap.js';
import { SyncRequests } from './SyncRequests.js';
import { UpdateBatch } from './UpdateBatch.js';
import { UpdateGate, type GatedSocket } from './UpdateGate.js';

interface HeldFrame {
  readonly frame: Uint8Array;
  readonly parsed: ClientFrame;
}

/** The scope of an Authenticated message for a read-only session (Hocuspocus `writeAuthenticated`). */
const READ_ONLY_SCOPE = 'readonly';

/** Frames a client may send before its first token; a provider sends its token first, so a few is plenty. */
const MAX_FRAMES_BEFORE_AUTH = 100;

const PING_FRAME = new Uint8Array([PING_FRAME_BYTE]);

export class SyncSocket extends ServerSocket implements GatedSocket<HeldFrame> {
  private tenant: string | undefined;
  private held: Array<{ frame: Uint8Array; parsed: ClientFrame }> | null = null;
  private heldBytes = 0;
  private readonly addresses = new AddressReader();
  /** Full-state requests being answered: a repeated one is dropped meanwhile (see SyncRequests). */
  private readonly syncRequests = new SyncRequests();
  /** `<tenant>/` as UTF-8, stripped from outgoing addresses byte by byte. */
  private tenantPrefix: Uint8Array | undefined;
  /** Keystrokes read in this turn, waiting to go to Hocuspocus as one update. */
  private batch: UpdateBatch | null = null;
  /**
   * Per address: for each frame of updates forwarded and not yet acknowledged, in order, how many client messages it
   * stands for (Hocuspocus acknowledges each such frame once, in order). Created with the first update.
   */
  private owed: Map<string, number[]> | null = null;
  /** Addresses this socket edits: an acknowledgement came back since the session was authorised. Only these batch. */
  private editing: Set<string> | null = null;
  /** Per address: the document session's presence (who, which client ids); almost always one (see SmallMap). */
  private readonly presence = new SmallMap<string, AwarenessSession>();
  /** The client answers Hocuspocus Ping frames (it named a provider version, or sent a Pong). */
  private answersPingFrames = false;
  /** Updates go on only when complete and under the user's own client ids; the rest wait here or close the socket. */
  private readonly gate = new UpdateGate<HeldFrame>(this.context.updates, this);
  /** Documents open, authenticating and waiting (made with the first token). */
  private slots: DocumentSlots | null = null;

  protected inbound(frame: Uint8Array): void {
    if (frame.length === 1 && frame[0] === PONG_FRAME_BYTE) {
      this.answersPingFrames = true;
      return;
    }
    let parsed: ClientFrame;
    try {
      parsed = parseClientFrame(frame, this.addresses, this.context.awareness.limits.maxStateBytes);
    } catch (error) {
      this.flushBatch(); // what came before the bad frame goes through, as it would have without batching
      throw error;
    }
    if (parsed.providerVersion !== undefined) this.answersPingFrames = true;
    if (parsed.type !== MessageType.Auth && !this.takeBeforeAuth(frame.byteLength)) return;
    if (parsed.type === MessageType.Awareness && !this.takeAwareness()) return;
    if (this.tenant === undefined) {
      if (parsed.type !== MessageType.Auth || parsed.token === undefined) {
        this.hold(frame, parsed);
        return;
      }
      this.tenant = claimedTenant(parsed.token);
      this.tenantPrefix = utf8Strings.of(`${this.tenant}${TENANT_SEPARATOR}`);
      this.slots = new DocumentSlots(this.context.limits.settings.maxDocumentsPerConnection, this.context.maxMessageBytes);
      this.relay(frame, parsed);
      for (const held of this.held ?? []) {
        // Awareness entries are read right after parsing (AwarenessGuard): a held one is parsed again.
        const parsed = held.parsed.type === MessageType.Awareness ? this.parseAgain(held.frame) : held.parsed;
        this.relay(held.frame, parsed);
      }
      this.held = null;
      this.heldBytes = 0;
      return;
    }
    if (parsed.type === MessageType.Auth && parsed.token !== undefined && claimedTenant(parsed.token) !== this.tenant) {
      throw new MalformedFrameError('a token of another tenant on this connection'); // identity is bound to the connection
    }
    this.relay(frame, parsed);
  }

  protected outbound(frame: Uint8Array): Uint8Array | null {
    if (frame.length === 1 || this.tenantPrefix === undefined) return frame; // connection-level ping
    if (this.syncRequests.waiting) this.syncRequests.sent(frame);
    const type = frameType(frame);
    if (type === MessageType.Auth || type === MessageType.CLOSE) this.sessionChanged(frame, type);
    return stripAddressPrefix(frame, this.tenantPrefix) ?? frame;
  }

  protected get translationKey(): string {
    return `hocuspocus:${this.tenant ?? ''}`;
  }

  protected override acknowledgementCopies(address: string): number {
    (this.editing ??= new Set()).add(address);
    return this.owed?.get(address)?.shift() ?? 1;
  }

  protected override beforeClose(): void {
    this.flushBatch();
    for (const session of this.presence.values()) this.context.awareness.close(session);
    this.presence.clear();
    this.gate.close();
  }

  protected override ping(): void {
    if (this.answersPingFrames) this.sendHeartbeatFrame(PING_FRAME);
    else super.ping();
  }

  /**
   * Hocuspocus answered the socket's authentication of a document (a pending slot frees; see DocumentSlots), authorised
   * its session (its updates may now be checked), or ended it (refused it, or closed it): updates forwarded and not yet acknowledged there never will be, updates held for it are dropped,
   * and the next session starts unbatched.
   */
  private sessionChanged(frame: Uint8Array, type: number): void {
    const { address, decoder } = readServerFrameHead(frame);
    if (type === MessageType.Auth) {
      const kind = decoding.readVarUint(decoder);
      this.slots?.answered(address, kind !== AuthMessageType.PermissionDenied); // a pending slot frees
      queueMicrotask(() => this.releaseWaiting());
      if (kind === AuthMessageType.Authenticated) this.gate.authorised(address, decoding.readVarString(decoder) !== READ_ONLY_SCOPE);
      if (kind !== AuthMessageType.PermissionDenied) return;
    }
    this.owed?.delete(address);
    this.editing?.delete(address);
    this.endPresence(address);
    this.gate.ended(address);
  }

  /** Forwards the documents that waited for a pending slot, as slots free. */
  private releaseWaiting(): void {
    for (let ready = this.slots?.nextReady(); ready; ready = this.slots?.nextReady()) {
      for (const held of ready) {
        // Awareness entries are read right after parsing (AwarenessGuard): a held one is parsed again.
        this.relay(held.frame, held.parsed.type === MessageType.Awareness ? this.parseAgain(held.frame) : held.parsed);
      }
    }
  }

  /** Answers an Auth frame beyond the documents limit with PermissionDenied; the socket stays. */
  private refuseDocument(parsed: ClientFrame): void {
    this.context.metrics.authFailures.inc({ kind: CloseReason.TooManyDocuments });
    this.log.info({ document: parsed.address, limit: this.context.limits.settings.maxDocumentsPerConnection }, 'refused a document: too many on one connection');
    const encoder = encoding.createEncoder();
    encoding.writeVarString(encoder, parsed.address);
    encoding.writeVarUint(encoder, MessageType.Auth);
    encoding.writeVarUint(encoder, AuthMessageType.PermissionDenied);
    encoding.writeVarString(encoder, CloseReason.TooManyDocuments);
    this.sendToClient(encoding.toUint8Array(encoder));
  }

  /** A held update may go on now (UpdateGate). */
  passHeld(address: string, held: HeldFrame): void {
    this.pass(address, held.frame, held.parsed);
  }

  /** The same frame carrying `update` instead (UpdateGate; see trimUpdate). */
  withUpdate(held: HeldFrame, update: Uint8Array): HeldFrame {
    const { frame, parsed } = held;
    const rewritten = syncFrame(frame.subarray(0, parsed.bodyOffset), parsed.type, parsed.step!, update);
    return { frame: rewritten, parsed: this.parseAgain(rewritten) };
  }

  /** A held update turned out foreign or malformed (UpdateGate). */
  refuseHeld(error: Error): void {
    if (error instanceof MalformedFrameError) {
      this.reject(error);
    } else {
      this.log.error({ err: error }, 'failed to pass on a held update; closing the connection');
      this.close(CloseCode.InternalError, 'Internal error');
    }
  }

  /** Checks an awareness frame (see AwarenessGuard); returns the frame to forward. Opens and ends sessions. */
  private checkPresence(address: string, frame: Uint8Array, parsed: ClientFrame): Uint8Array {
    if (parsed.type === MessageType.Auth) {
      const session = this.presence.get(address);
      if (session === undefined) this.presence.set(address, this.context.awareness.open(address, parsed.token!));
      else session.identify(parsed.token!);
    } else if (parsed.type === MessageType.Awareness) {
      let session = this.presence.get(address);
      if (session === undefined) this.presence.set(address, (session = this.context.awareness.open(address, null)));
      const update = this.context.awareness.check(session);
      if (update !== null) return awarenessFrame(frame.subarray(0, parsed.bodyOffset), update);
    } else if (parsed.type === MessageType.CLOSE) {
      this.endPresence(address);
    }
    return frame;
  }

  private endPresence(address: string): void {
    const session = this.presence.get(address);
    if (session === undefined) return;
    this.presence.delete(address);
    this.context.awareness.close(session);
  }

  private parseAgain(frame: Uint8Array): ClientFrame {
    return parseClientFrame(frame, this.addresses, this.context.awareness.limits.maxStateBytes);
  }

  private relay(received: Uint8Array, parsed: ClientFrame): void {
    const address = `${this.tenant}${TENANT_SEPARATOR}${parsed.address}`;
    const route = this.slots!.route(address, parsed.type === MessageType.Auth, { frame: received, parsed });
    if (route !== 'forward') {
      if (route === 'refuse') return this.refuseDocument(parsed);
      if (route === 'queued') return this.documentOpened();
      if (route !== 'opened') return;
      this.documentOpened();
    }
    if (parsed.type === MessageType.CLOSE) this.slots!.closed(address);
    if (parsed.step === messageYjsSyncStep1 && !this.syncRequests.admit(address)) return; // the answer on its way covers it
    if (parsed.type === MessageType.Auth) this.syncRequests.forget(address);
    const frame = parsed.type === MessageType.Sync || parsed.type === MessageType.SyncReply ? received : this.checkPresence(address, received, parsed);
    if (parsed.token !== undefined) this.gate.authenticating(address, parsed.token);
    else if (parsed.type === MessageType.CLOSE) this.gate.ended(address); // the client closed the document
    if (parsed.update === undefined) return this.pass(address, frame, parsed);
    const admitted = this.gate.admit(address, parsed.update, frame.byteLength, { frame, parsed });
    if (admitted !== undefined) this.pass(address, admitted.frame, admitted.parsed);
  }

  /** Forwards a frame the gate let through, in a batch of keystrokes when it continues one. */
  private pass(address: string, frame: Uint8Array, parsed: ClientFrame): void {
    const batch = this.batch;
    if (batch !== null) {
      if (batch.continuedBy(address, parsed)) {
        batch.add(parsed.run!);
        return;
      }
      this.flushBatch();
    }
    if (parsed.run !== undefined && this.editing?.has(address) === true) {
      this.batch = new UpdateBatch(address, frame, parsed as ClientFrame & { run: StructRun });
      queueMicrotask(() => this.flushBatch());
      return;
    }
    this.forwardToServer(address, withPrefix(addressPrefixes.of(address), frame, parsed.bodyOffset), parsed.carriesUpdate ? 1 : 0);
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (batch === null) return;
    this.batch = null;
    const prefix = addressPrefixes.of(batch.address);
    const frame = batch.count === 1 ? withPrefix(prefix, batch.first.frame, batch.first.bodyOffset) : batch.merged(prefix);
    this.forwardToServer(batch.address, frame, batch.count);
  }

  /** Forwards a frame that carries `messages` update messages of the client (0: none). */
  private forwardToServer(address: string, frame: Uint8Array, messages: number): void {
    if (messages > 0) {
      const owed = (this.owed ??= new Map());
      const frames = owed.get(address);
      if (frames === undefined) owed.set(address, [messages]);
      else frames.push(messages);
    }
    this.forward(frame);
  }

  private hold(frame: Uint8Array, parsed: ClientFrame): void {
    this.heldBytes += frame.byteLength;
    const held = (this.held ??= []);
    if (held.length >= MAX_FRAMES_BEFORE_AUTH || this.heldBytes > this.context.limits.settings.maxBytesBeforeAuth) {
      throw new MalformedFrameError(`too many messages before the first authentication`);
    }
    held.push({ frame, parsed });
  }
}
