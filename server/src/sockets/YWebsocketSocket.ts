/**
 * `/y/<name>?token=<jwt>`: the plain y-websocket protocol, one document per socket, for stock y-websocket
 * `WebsocketProvider` clients, on the same documents and the same auth as `/sync`.
 *
 * The socket is translated into a Hocuspocus connection: it opens with the Auth frame a Hocuspocus provider would
 * send (the URL's token, the document in the token's tenant), client frames get the document's address, and of
 * what Hocuspocus sends back only sync, awareness and query-awareness go out. A refusal closes the socket with
 * 4401 or 4403, which y-websocket treats as final (it does not retry 44xx). Awareness frames are checked against the
 * socket's one presence session (AwarenessGuard) before they go on, and updates through its UpdateGate.
 */
import type { IncomingMessage } from 'node:http';
import { AuthMessageType } from '@hocuspocus/common';
import { MessageType } from '@hocuspocus/server';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { messageYjsSyncStep1 } from 'y-protocols/sync';
import { CloseCode, CloseReason, TENANT_SEPARATOR } from '@concord/engine';
import type { WebSocket } from 'ws';
import { claimedTenant } from '../auth/TokenVerifier.js';
import type { AwarenessSession } from './AwarenessGuard.js';
import { addressPrefixes, authFrame, awarenessFrame, MalformedFrameError, parseYWebsocketFrame, readServerFrameHead, syncFrame, withPrefix } from './frames.js';
import { ServerSocket, type SocketContext } from './ServerSocket.js';
import { SyncRequests } from './SyncRequests.js';
import { UpdateGate, type GatedSocket } from './UpdateGate.js';

function closeCodeFor(reason: string): number {
  if (reason === CloseReason.Unauthorized) return CloseCode.Unauthorized;
  if (reason === CloseReason.Forbidden || reason === CloseReason.Revoked) return CloseCode.Forbidden;
  return CloseCode.ResetConnection;
}

const NO_HEAD = new Uint8Array(0);

export class YWebsocketSocket extends ServerSocket implements GatedSocket<Uint8Array> {
  private readonly address: string;
  private readonly prefix: Uint8Array;
  private readonly token: string;
  private readonly presence: AwarenessSession;
  /** Full-state requests being answered: a repeated one is dropped meanwhile (see SyncRequests). */
  private readonly syncRequests = new SyncRequests();
  /** Updates go on only when complete and under the user's own client ids (see UpdateGate). */
  private readonly gate = new UpdateGate<Uint8Array>(this.context.updates, this);

  constructor(ws: WebSocket, context: SocketContext, logBindings: Record<string, unknown>, documentName: string, token: string) {
    super(ws, context, 'y-websocket', logBindings);
    this.address = `${claimedTenant(token)}${TENANT_SEPARATOR}${documentName}`;
    this.prefix = addressPrefixes.of(this.address);
    this.token = token;
    this.presence = context.awareness.open(this.address, token);
  }

  static documentNameOf(request: IncomingMessage): string {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    try {
      return decodeURIComponent(path.slice('/y/'.length));
    } catch {
      return path.slice('/y/'.length);
    }
  }

  /**
   * y-websocket gives up for good on any 44xx close. Hocuspocus' idle timeout (4408) is not final — the client
   * should come back — so it goes out as 1001, going away.
   */
  override close(code?: number, reason?: string): void {
    super.close(code === CloseCode.ConnectionTimeout ? CloseCode.GoingAway : code, reason);
  }

  protected get translationKey(): string {
    return 'y-websocket';
  }

  /** y-websocket has no acknowledgements. */
  protected override get acknowledges(): boolean {
    return false;
  }

  protected override start(): void {
    this.gate.authenticating(this.address, this.token);
    this.forward(authFrame(this.address, this.token));
  }

  protected override beforeClose(): void {
    this.context.awareness.close(this.presence);
    this.gate.close();
  }

  protected inbound(frame: Uint8Array): void {
    if (!this.takeBeforeAuth(frame.byteLength)) return;
    const { type, update, step } = parseYWebsocketFrame(frame, this.context.awareness.limits.maxStateBytes);
    if (type === MessageType.Awareness && !this.takeAwareness()) return;
    if (step === messageYjsSyncStep1 && !this.syncRequests.admit(this.address)) return; // the answer on its way covers it
    if (update !== undefined) {
      const admitted = this.gate.admit(this.address, update, frame.byteLength, frame);
      if (admitted !== undefined) this.passHeld(this.address, admitted);
      return;
    }
    const presence = type === MessageType.Awareness ? this.context.awareness.check(this.presence) : null;
    this.forward(withPrefix(this.prefix, presence === null ? frame : awarenessFrame(NO_HEAD, presence), 0));
  }

  /** An update may go on (UpdateGate). */
  passHeld(_address: string, frame: Uint8Array): void {
    this.forward(withPrefix(this.prefix, frame, 0));
  }

  /** The same frame carrying `update` instead (UpdateGate; see trimUpdate). */
  withUpdate(frame: Uint8Array, update: Uint8Array): Uint8Array {
    return syncFrame(NO_HEAD, MessageType.Sync, parseYWebsocketFrame(frame).step!, update);
  }

  /** A held update turned out foreign or malformed (UpdateGate). */
  refuseHeld(error: Error): void {
    if (error instanceof MalformedFrameError) this.reject(error);
    else this.close(CloseCode.InternalError, 'Internal error');
  }

  protected outbound(frame: Uint8Array): Uint8Array | null {
    if (frame.length === 1) return null; // Hocuspocus-only ping
    if (this.syncRequests.waiting) this.syncRequests.sent(frame);
    const { bodyOffset, type, decoder } = readServerFrameHead(frame);
    switch (type) {
      case MessageType.Sync:
      case MessageType.SyncReply: {
        const encoder = encoding.createEncoder();
        encoding.writeVarUint(encoder, MessageType.Sync);
        encoding.writeUint8Array(encoder, frame.subarray(decoder.pos));
        return encoding.toUint8Array(encoder);
      }
      case MessageType.Awareness:
      case MessageType.QueryAwareness:
        return frame.subarray(bodyOffset);
      case MessageType.Auth: {
        const kind = decoding.readVarUint(decoder);
        if (kind === AuthMessageType.Authenticated) this.gate.authorised(this.address, decoding.readVarString(decoder) !== 'readonly');
        if (kind === AuthMessageType.PermissionDenied) {
          const reason = decoding.readVarString(decoder);
          this.close(closeCodeFor(reason), reason);
        }
        return null;
      }
      case MessageType.CLOSE: {
        const reason = decoding.readVarString(decoder);
        this.close(closeCodeFor(reason), reason);
        return null;
      }
      default:
        return null; // stateless messages and sync status have no y-websocket equivalent
    }
  }
}
