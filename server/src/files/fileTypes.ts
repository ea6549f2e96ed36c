/**
 * Which media types a file may have, and what its bytes must look like. The rule: a type is accepted only when
 * `CONCORD_FILE_TYPES` lists it (a pattern ending in `*` matches any rest: `image/*`,
 * `application/vnd.oasis.opendocument.*`), and a file whose type has a signature below is accepted only when its first
 * bytes carry it (a script renamed `photo.png` is refused). Types a browser would run or render as a page (HTML, SVG,
 * JavaScript, XML...) are never served inline: only images (but SVG), PDF, plain text, audio and video are.
 */

/** A media type as declared: lowercase `type/subtype`, no parameters. */
export const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

export const DEFAULT_FILE_TYPES =
  'image/*,application/pdf,text/plain,text/csv,text/markdown,audio/*,video/*,application/zip,application/json,application/vnd.openxmlformats-officedocument.*,application/vnd.oasis.opendocument.*';

/** The patterns of a comma-separated list. */
export function parseFileTypes(list: string): string[] {
  return list
    .split(',')
    .map((pattern) => pattern.trim().toLowerCase())
    .filter(Boolean);
}

/** Whether `type` is one of `patterns`. */
export function typeAllowed(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => (pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern));
}

const bytes = (text: string) => [...text].map((c) => c.charCodeAt(0));
const ZIP = [0x50, 0x4b, 0x03, 0x04];
const EMPTY_ZIP = [0x50, 0x4b, 0x05, 0x06];

/** A signature: bytes expected at an offset (`null` matches any byte). */
type Signature = ReadonlyArray<{ readonly at: number; readonly bytes: ReadonlyArray<number | null> }>;

/** Types with a signature, and what their first bytes may be (any one of the signatures). */
const SIGNATURES: ReadonlyArray<{ readonly type: (type: string) => boolean; readonly signatures: readonly Signature[] }> = [
  { type: (t) => t === 'image/png', signatures: [[{ at: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] }]] },
  { type: (t) => t === 'image/jpeg', signatures: [[{ at: 0, bytes: [0xff, 0xd8, 0xff] }]] },
  { type: (t) => t === 'image/gif', signatures: [[{ at: 0, bytes: bytes('GIF87a') }], [{ at: 0, bytes: bytes('GIF89a') }]] },
  { type: (t) => t === 'image/webp', signatures: [[{ at: 0, bytes: bytes('RIFF') }, { at: 8, bytes: bytes('WEBP') }]] },
  { type: (t) => t === 'application/pdf', signatures: [[{ at: 0, bytes: bytes('%PDF-') }]] },
  {
    type: (t) => t === 'application/zip' || t.startsWith('application/vnd.openxmlformats-officedocument.') || t.startsWith('application/vnd.oasis.opendocument.'),
    signatures: [[{ at: 0, bytes: ZIP }], [{ at: 0, bytes: EMPTY_ZIP }]],
  },
];

function carries(head: Uint8Array, signature: Signature): boolean {
  return signature.every(({ at, bytes: expected }) => expected.every((byte, i) => byte === null || head[at + i] === byte));
}

/** Whether a file of `type` may start with `head` (types without a signature: always). */
export function matchesSignature(type: string, head: Uint8Array): boolean {
  const entry = SIGNATURES.find((candidate) => candidate.type(type));
  return entry === undefined || entry.signatures.some((signature) => carries(head, signature));
}

/** Whether a browser may show `type` in the page (`inline`) rather than only download it (`attachment`). */
export function servedInline(type: string): boolean {
  if (type === 'image/svg+xml') return false; // runs scripts when opened
  return type.startsWith('image/') || type.startsWith('audio/') || type.startsWith('video/') || type === 'application/pdf' || type === 'text/plain';
}

/** `Content-Disposition` for `type`, naming the file `name` when given (quotes and controls cannot break out). */
export function contentDisposition(type: string, name: string | undefined): string {
  const kind = servedInline(type) ? 'inline' : 'attachment';
  if (name === undefined || name.length === 0) return kind;
  const plain = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${kind}; filename="${plain}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
