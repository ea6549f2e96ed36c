/**
 * Document types: which shared structures a document holds, under which root names.
 *
 * A document type declares its top-level LWW fields, its record collections, its plain and rich texts and its
 * lists. Opening a `Y.Doc` through the type gives typed access to each; the root names stay plain (`tasks`,
 * `description`), so any stock Yjs client can read the same document with `doc.getMap('tasks')`.
 */
import * as Y from 'yjs';
import { RecordCollection } from './collection.js';
import { ConcordError, ErrorKind } from './codes.js';
import { LwwRecord, type FieldSchemas, type RecordType } from './record.js';

/** The root map that holds a document's own LWW fields. */
export const FIELDS_ROOT = 'fields';

export interface DocumentSpec {
  /** Top-level LWW fields (a project's name, an account's balance), kept in the `fields` root map. */
  readonly fields?: RecordType<FieldSchemas>;
  /** Collections of records by id, each in a root map of that name. */
  readonly collections?: Readonly<Record<string, RecordType<FieldSchemas>>>;
  /** Collaborative plain texts (`Y.Text`). */
  readonly texts?: readonly string[];
  /** Collaborative rich texts (`Y.XmlFragment`, what the Tiptap/ProseMirror binding edits). */
  readonly richTexts?: readonly string[];
  /** Ordered lists (`Y.Array`) of JSON values. */
  readonly lists?: readonly string[];
}

type CollectionFields<S extends DocumentSpec, K extends keyof NonNullable<S['collections']>> =
  NonNullable<S['collections']>[K] extends RecordType<infer F> ? F : never;
type OwnFields<S extends DocumentSpec> = S['fields'] extends RecordType<infer F> ? F : never;
type Names<L> = L extends readonly (infer N)[] ? N & string : never;

export interface DocumentType<S extends DocumentSpec> {
  readonly name: string;
  readonly spec: S;
  /** Typed access to `doc` through this type. */
  open(doc: Y.Doc): TypedDocument<S>;
}

export interface TypedDocument<S extends DocumentSpec> {
  readonly doc: Y.Doc;
  readonly fields: LwwRecord<OwnFields<S>>;
  collection<K extends keyof NonNullable<S['collections']> & string>(name: K): RecordCollection<CollectionFields<S, K>>;
  text(name: Names<S['texts']>): Y.Text;
  richText(name: Names<S['richTexts']>): Y.XmlFragment;
  list<T = unknown>(name: Names<S['lists']>): Y.Array<T>;
}

export function defineDocument<const S extends DocumentSpec>(name: string, spec: S): DocumentType<S> {
  const roots = [
    ...(spec.fields ? [FIELDS_ROOT] : []),
    ...Object.keys(spec.collections ?? {}),
    ...(spec.texts ?? []),
    ...(spec.richTexts ?? []),
    ...(spec.lists ?? []),
  ];
  const seen = new Set<string>();
  for (const root of roots) {
    if (seen.has(root)) {
      throw new ConcordError(ErrorKind.InvalidSchema, `document type ${name} declares ${JSON.stringify(root)} twice`);
    }
    seen.add(root);
  }

  const declared = (kind: string, names: readonly string[] | undefined, root: string) => {
    if (!names?.includes(root)) {
      throw new ConcordError(ErrorKind.InvalidSchema, `document type ${name} declares no ${kind} ${JSON.stringify(root)}`);
    }
  };

  return Object.freeze({
    name,
    spec,
    open(doc: Y.Doc): TypedDocument<S> {
      const fieldsType = (spec.fields ?? { name: `${name} fields`, fields: {} }) as RecordType<OwnFields<S>>;
      return {
        doc,
        fields: new LwwRecord(fieldsType, doc.getMap(FIELDS_ROOT)),
        collection(root) {
          const type = spec.collections?.[root];
          if (!type) declared('collection', [], root);
          return new RecordCollection(type as RecordType<CollectionFields<S, typeof root>>, doc.getMap(root));
        },
        text(root) {
          declared('text', spec.texts, root);
          return doc.getText(root);
        },
        richText(root) {
          declared('rich text', spec.richTexts, root);
          return doc.getXmlFragment(root);
        },
        list(root) {
          declared('list', spec.lists, root);
          return doc.getArray(root);
        },
      };
    },
  });
}
