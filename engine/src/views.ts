/**
 * Live views across documents (design: docs/live-views-design.md): the spec an app asks for, the derived document the
 * server keeps for it, and reading that document.
 *
 * The rule: a view document is named by what the server must extract and nothing else — the documents pattern, the
 * collection and the fields `where`, `groupBy`, `aggregate` (and `fields`) read — as `view:<base64url of
 * "<collection>\n<documents>\n<fields, sorted, comma-separated>">` (none of the three can hold a line break, and field
 * names no comma: the spelling is compact, so a 128-character name holds a dozen short fields), so every viewer of the same extraction shares one derived document
 * whatever their filters; filtering, grouping and totals are computed by the viewer from its rows (viewQuery.ts).
 *
 * Layout of a view document, written by the server only: the root map `rows`, one entry per source document
 * (`<document>` → `{ <record id>: { <field>: value } }`, a plain JSON value rewritten whole when the document's rows
 * change, so instances writing different documents never write the same key), and the root map `view` with `building`
 * (true while the server builds the view from storage).
 */
import { fromBase64UrlEncoded, toBase64UrlEncoded } from 'lib0/buffer';
import { decodeUtf8, encodeUtf8 } from 'lib0/string';
import * as Y from 'yjs';
import { z } from 'zod';
import { ConcordError, ErrorKind } from './codes.js';
import { readField } from './fields.js';
import { MAX_DOCUMENT_NAME_LENGTH } from './names.js';
import { whereFields, whereSchema, type Where } from './viewQuery.js';

export const VIEW_PREFIX = 'view:';
/** The root map of a view document holding one entry per source document. */
export const VIEW_ROWS_ROOT = 'rows';
/** The root map of a view document holding its state (`building`). */
export const VIEW_STATE_ROOT = 'view';

/** Glob characters of a documents pattern (picomatch on the server): `*`, `?` and `{a,b}`. */
const PATTERN = /^[A-Za-z0-9._:@+=*?{},-]+$/;
const FIELD = /^[A-Za-z0-9_$][A-Za-z0-9_$.-]*$/;
const AGGREGATE = /^(count|(sum|min|max):[A-Za-z0-9_$][A-Za-z0-9_$.-]*)$/;

const fieldName = z.string().regex(FIELD, 'a field name is letters, digits, _ $ . -');

export const viewSpecSchema = z
  .object({
    /** Which documents: a glob on tenant-local names (`project-*`). */
    documents: z.string().min(1).max(MAX_DOCUMENT_NAME_LENGTH).regex(PATTERN, 'documents is a glob of document names (letters, digits, . _ : @ + = - and * ? { , })'),
    /** The root map of records to gather in each document (`tasks`). */
    collection: fieldName,
    where: whereSchema.optional(),
    groupBy: fieldName.optional(),
    /** `count`, `sum:<field>`, `min:<field>`, `max:<field>`. */
    aggregate: z.array(z.string().regex(AGGREGATE, 'an aggregate is count, sum:<field>, min:<field> or max:<field>')).optional(),
    /** More fields each row carries (a title to show), beyond those the filter, grouping and totals read. */
    fields: z.array(fieldName).optional(),
  })
  .strict();

export type ViewSpec = {
  readonly documents: string;
  readonly collection: string;
  readonly where?: Where;
  readonly groupBy?: string;
  readonly aggregate?: readonly string[];
  readonly fields?: readonly string[];
};

/** What the server extracts for a view: the part of a spec its document's name holds. */
export interface ViewExtraction {
  readonly documents: string;
  readonly collection: string;
  /** Sorted, without repeats. */
  readonly fields: readonly string[];
}

const extractionSchema = z.object({ collection: fieldName, documents: viewSpecSchema.shape.documents, fields: z.array(fieldName) }).strict();

/** Validates a spec (a ConcordError says what is wrong). */
export function parseViewSpec(spec: unknown): ViewSpec {
  const parsed = viewSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || 'spec'}: ${issue.message}`).join('; ');
    throw new ConcordError(ErrorKind.InvalidField, `invalid view spec: ${detail}`);
  }
  return parsed.data as ViewSpec;
}

/** The fields a spec's rows must carry. */
export function viewExtraction(spec: ViewSpec): ViewExtraction {
  const fields = new Set<string>(spec.fields ?? []);
  if (spec.where) for (const field of whereFields(spec.where)) fields.add(field);
  if (spec.groupBy !== undefined) fields.add(spec.groupBy);
  for (const aggregate of spec.aggregate ?? []) {
    const at = aggregate.indexOf(':');
    if (at >= 0) fields.add(aggregate.slice(at + 1));
  }
  return { documents: spec.documents, collection: spec.collection, fields: [...fields].sort() };
}

function toBase64Url(text: string): string {
  return toBase64UrlEncoded(encodeUtf8(text));
}

function fromBase64Url(text: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
  return decodeUtf8(fromBase64UrlEncoded(text));
}

/**
 * The name of the view document of `spec` (validated): `view:<base64url canonical JSON>`. A spec whose extraction does
 * not fit a document name (MAX_DOCUMENT_NAME_LENGTH) is refused with a ConcordError saying by how much.
 */
export function viewDocumentName(spec: ViewSpec): string {
  const name = nameOf(viewExtraction(parseViewSpec(spec)));
  if (name.length > MAX_DOCUMENT_NAME_LENGTH) {
    throw new ConcordError(
      ErrorKind.InvalidDocumentName,
      `this view's document name would be ${name.length} characters, over the ${MAX_DOCUMENT_NAME_LENGTH} a document name may have: use a shorter pattern, collection or fewer or shorter field names`,
    );
  }
  return name;
}

function nameOf({ collection, documents, fields }: ViewExtraction): string {
  return `${VIEW_PREFIX}${toBase64Url(`${collection}\n${documents}\n${fields.join(',')}`)}`;
}

/** What a view document's name extracts, or null when `name` is not a well-formed, canonical view name. */
export function parseViewName(name: string): ViewExtraction | null {
  if (!name.startsWith(VIEW_PREFIX)) return null;
  try {
    const parts = fromBase64Url(name.slice(VIEW_PREFIX.length)).split('\n');
    if (parts.length !== 3) return null;
    const [collection, documents, fields] = parts as [string, string, string];
    const parsed = extractionSchema.safeParse({ collection, documents, fields: fields === '' ? [] : fields.split(',') });
    if (!parsed.success) return null;
    const extraction = parsed.data;
    // Only the canonical spelling names a view: one derived document per extraction.
    return nameOf({ ...extraction, fields: [...new Set(extraction.fields)].sort() }) === name ? extraction : null;
  } catch {
    return null;
  }
}

export function isViewDocument(name: string): boolean {
  return name.startsWith(VIEW_PREFIX);
}

/** Records of one source document as a view stores them: record id → its extracted fields (unset fields left out). */
export type ViewDocumentRows = Record<string, Record<string, unknown>>;

/** The rows `extraction` takes from a source document's state (the collection's records, their fields). */
export function extractRows(doc: Y.Doc, extraction: ViewExtraction): ViewDocumentRows {
  const rows: ViewDocumentRows = {};
  if (!doc.share.has(extraction.collection)) return rows;
  const collection = doc.getMap<unknown>(extraction.collection);
  for (const [id, record] of collection.entries()) {
    if (!(record instanceof Y.Map)) continue;
    const values: Record<string, unknown> = {};
    for (const field of extraction.fields) {
      const value = readField(record, field);
      if (value !== undefined) values[field] = value instanceof Y.AbstractType ? value.toJSON() : value;
    }
    rows[id] = values;
  }
  return rows;
}

/** One row of a view: a record of a source document with the fields the view extracts. */
export interface ViewRow {
  readonly document: string;
  readonly id: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/** Every row a view document holds, by document then record id. */
export function readViewRows(doc: Y.Doc): ViewRow[] {
  const rows: ViewRow[] = [];
  const documents = doc.getMap<unknown>(VIEW_ROWS_ROOT);
  for (const document of [...documents.keys()].sort()) {
    const records = documents.get(document);
    if (typeof records !== 'object' || records === null) continue;
    for (const id of Object.keys(records).sort()) {
      const values = (records as Record<string, unknown>)[id];
      if (typeof values === 'object' && values !== null) rows.push({ document, id, values: values as Record<string, unknown> });
    }
  }
  return rows;
}

/** Whether the server is building the view (from storage, after it was opened or the server restarted). */
export function isViewBuilding(doc: Y.Doc): boolean {
  return doc.getMap<unknown>(VIEW_STATE_ROOT).get('building') === true;
}
