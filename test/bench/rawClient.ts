/**
 * A minimal Hocuspocus client over `ws` (which offers permessage-deflate as browsers do): it authenticates a document
 * and syncs it the way a `HocuspocusProvider` opens (a token message, then sync step 1), then only sends what the
 * scenario asks and counts what it receives, without decoding it. Scenarios with thousands of people use it so that
 * this process, not the server, never becomes what is measured.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import * as Y from 'yjs';

/** Hocuspocus message types and sync steps used here. */
const MessageType = { Sync: 0, Awareness: 1, Auth: 2, SyncReply: 4 } as const;
const SYNC_STEP_1 = 0;
const SYNC_STEP_2 = 1;
const AUTH_TOKEN = 0;

function frame(name: string, type: number, write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, name);
  encoding.writeVarUint(encoder, type);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

function isSyncStep2(data: Buffer): boolean {
  try {
    const decoder = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    decoding.readVarString(decoder);
    const type = decoding.readVarUint(decoder);
    return (type === MessageType.Sync || type === MessageType.SyncReply) && decoding.readVarUint(decoder) === SYNC_STEP_2;
  } catch {
    return false;
  }
}

export class RawClient {
  readonly socket: WebSocket;
  /** Messages received since the document synced. */
  messages = 0;
  private readonly name: string;
  private readonly clientId = Math.floor(Math.random() * 2 ** 31);
  private clock = 0;

  private constructor(socket: WebSocket, name: string) {
    this.socket = socket;
    this.name = name;
  }

  /** Opens a socket, authenticates `name` with `token` and resolves once the server sent the document. */
  static connect(url: string, name: string, token: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const client = new RawClient(socket, name);
      let synced = false;
      socket.on('open', () => {
        socket.send(frame(name, MessageType.Auth, (e) => (encoding.writeVarUint(e, AUTH_TOKEN), encoding.writeVarString(e, token))));
        socket.send(frame(name, MessageType.Sync, (e) => (encoding.writeVarUint(e, SYNC_STEP_1), encoding.writeVarUint8Array(e, Y.encodeStateVector(new Y.Doc())))));
      });
      socket.on('message', (data: Buffer) => {
        if (synced) {
          client.messages += 1;
        } else if (isSyncStep2(data)) {
          synced = true;
          resolve(client);
        }
      });
      socket.once('error', reject);
      socket.once('close', (code) => {
        if (!synced) reject(new Error(`closed with ${code} before syncing`));
      });
    });
  }

  /** Bytes read off the wire so far (compressed frames as they came). */
  get bytesRead(): number {
    return (this.socket as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0;
  }

  /** Sends this client's presence (an awareness update of its own state), as a provider does when it changes. */
  sendPresence(state: unknown): void {
    const update = encoding.createEncoder();
    encoding.writeVarUint(update, 1);
    encoding.writeVarUint(update, this.clientId);
    encoding.writeVarUint(update, ++this.clock);
    encoding.writeVarString(update, JSON.stringify(state));
    this.socket.send(frame(this.name, MessageType.Awareness, (e) => encoding.writeVarUint8Array(e, encoding.toUint8Array(update))));
  }

  close(): void {
    this.socket.terminate();
  }
}

/** `count` clients, `concurrency` connecting at a time; `nameOf(i)` is client i's document. */
export async function connectMany(
  url: string,
  token: string | ((i: number) => string),
  count: number,
  nameOf: (i: number) => string,
  concurrency = 100,
): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      clients[i] = await RawClient.connect(url, nameOf(i), typeof token === 'string' ? token : token(i));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } catch (error) {
    for (const client of clients) client?.close();
    throw error;
  }
  return clients;
}
