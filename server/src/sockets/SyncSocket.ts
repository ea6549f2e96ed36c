/**
 * `/sync`: the Hocuspocus protocol, many documents over one socket, for stock HocuspocusProvider clients.
 *
 * Tenant namespacing happens here. Inside the server every document is `<tenant>/<name>`; clients only ever see
 * `<name>`. The socket's tenant is the one its first token claims (read unverified, only to route names): each
 * inbound address gets the tenant prefix, each outbound one loses it. Authentication then verifies the token and
 * refuses any document whose prefix is not the verified tenant, so a forged claim reaches nothing. Frames that
 * arrive before the first token wait, within a bound.
 */
import { MessageType } from '@hocuspocus/server';
import { TENANT_SEPARATOR } from '@concord/engine';
import { claimedTenant } from '../auth/TokenVerifier.js';
import {
  AddressPrefixes,
  AddressReader,
  MalformedFrameError,
  parseClientFrame,
  PONG_FRAME_BYTE,
  stripAddressPrefix,
  withPrefix,
  type ClientFrame,
} from './frames.js';
import { ServerSocket } from './ServerSocket.js';

/** Frames a client may send before its first token; a provider sends its token first, so a few is plenty. */
const MAX_FRAMES_BEFORE_AUTH = 100;

export class SyncSocket extends ServerSocket {
  private tenant: string | undefined;
  private held: Array<{ frame: Uint8Array; parsed: ClientFrame }> = [];
  private heldBytes = 0;
  /** Encoded addresses: tenant-qualified (to the server) and tenant-local (to the client). */
  private readonly toServer = new AddressPrefixes();
  private readonly addresses = new AddressReader();
  /** `<tenant>/` as UTF-8, stripped from outgoing addresses byte by byte. */
  private tenantPrefix: Uint8Array | undefined;

  protected inbound(frame: Uint8Array): void {
    if (frame.length === 1 && frame[0] === PONG_FRAME_BYTE) return;
    const parsed = parseClientFrame(frame, this.addresses);
    if (this.tenant === undefined) {
      if (parsed.type !== MessageType.Auth || parsed.token === undefined) {
        this.hold(frame, parsed);
        return;
      }
      this.tenant = claimedTenant(parsed.token);
      this.tenantPrefix = new TextEncoder().encode(`${this.tenant}${TENANT_SEPARATOR}`);
      this.relay(frame, parsed);
      for (const held of this.held) this.relay(held.frame, held.parsed);
      this.held = [];
      this.heldBytes = 0;
      return;
    }
    this.relay(frame, parsed);
  }

  protected outbound(frame: Uint8Array): Uint8Array | null {
    if (frame.length === 1 || this.tenantPrefix === undefined) return frame; // connection-level ping
    return stripAddressPrefix(frame, this.tenantPrefix) ?? frame;
  }

  protected get translationKey(): string {
    return `hocuspocus:${this.tenant ?? ''}`;
  }

  private relay(frame: Uint8Array, parsed: ClientFrame): void {
    const address = `${this.tenant}${TENANT_SEPARATOR}${parsed.address}`;
    if (parsed.carriesUpdate) {
      // A resent update the document already holds makes no new write: its acknowledgement still waits for
      // everything the document has queued (see ServerSocket).
      const session = address.indexOf('\0');
      const ticket = this.context.durability.lastPendingTicket(session < 0 ? address : address.slice(0, session));
      if (ticket > 0) this.holdAcknowledgements(address, ticket);
    }
    this.forward(withPrefix(this.toServer.of(address), frame, parsed.bodyOffset));
  }

  private hold(frame: Uint8Array, parsed: ClientFrame): void {
    this.heldBytes += frame.byteLength;
    if (this.held.length >= MAX_FRAMES_BEFORE_AUTH || this.heldBytes > this.context.maxMessageBytes) {
      throw new MalformedFrameError(`too many messages before the first authentication`);
    }
    this.held.push({ frame, parsed });
  }
}
