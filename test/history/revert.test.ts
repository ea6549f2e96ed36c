/**
 * history/revert.ts `revertUpdate`: the change that brings a document back to a saved state, checked on Yjs documents
 * alone (the server's restore applies it; test/server/versions.test.ts checks that over real sockets):
 * - text, maps, arrays, nested records, XML, engine fields and roots created after the save all read as saved, on the
 *   document and on every replica that applies the same update;
 * - a restore is itself undone by restoring the state saved just before it;
 * - a document that did not change gives null;
 * - seeded random edits by three replicas (CONCORD_TEST_SEED replays a run).
 */
import { applyDocumentChanges, FIELDS_ROOT, readFields } from '@concord/engine';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { revertUpdate } from '../../server/src/history/revert.js';
import * as prng from 'lib0/prng';
import { contentOf, randomEdit, seededRandom } from '../support/random.js';

/** A replica of `doc` built from its updates alone, as the server loads documents: no root typed. */
function replicaOf(doc: Y.Doc): Y.Doc {
  const replica = new Y.Doc();
  Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc));
  return replica;
}

/** What a reader sees: every root read as the type the writer used. */
function content(doc: Y.Doc) {
  return {
    body: doc.getText('body').toString(),
    map: doc.getMap('map').toJSON(),
    list: doc.getArray('list').toJSON(),
    xml: doc.getXmlFragment('xml').toString(),
    later: doc.getText('later').toString(),
    fields: readFields(doc.getMap(FIELDS_ROOT)),
  };
}

function sync(from: Y.Doc, to: Y.Doc): void {
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)));
}

describe('revertUpdate', () => {
  test('text, maps, arrays, nested types, XML, engine fields and later roots come back as saved, on every replica', () => {
    const writer = new Y.Doc();
    writer.getText('body').insert(0, 'hello world');
    const nested = new Y.Map<unknown>();
    writer.getMap('map').set('record', nested);
    nested.set('title', 'first');
    writer.getArray('list').push(['a', 'b', 'c']);
    const paragraph = new Y.XmlElement('p');
    paragraph.insert(0, [new Y.XmlText('para')]);
    writer.getXmlFragment('xml').insert(0, [paragraph]);
    applyDocumentChanges(writer, { fields: { status: 'open', owner: 'ann' } }, null);
    const saved = Y.encodeStateAsUpdate(writer);
    const asSaved = content(writer);

    // The server holds a replica built from updates; a second writer edits everything after the save.
    const server = replicaOf(writer);
    const other = replicaOf(writer);
    other.getText('body').delete(0, 6);
    other.getText('body').insert(0, 'bye ');
    (other.getMap('map').get('record') as Y.Map<unknown>).set('title', 'second');
    other.getMap('map').set('added', 1);
    other.getArray('list').delete(0, 2);
    other.getArray('list').push(['z']);
    other.getXmlFragment('xml').delete(0, 1);
    other.getText('later').insert(0, 'written after the save');
    applyDocumentChanges(other, { fields: { status: 'done', owner: null } }, null);
    sync(other, server);
    sync(other, writer);
    expect(content(server)).not.toEqual(asSaved);

    const revert = revertUpdate(server, saved);
    expect(revert).not.toBeNull();
    for (const doc of [server, writer, other]) Y.applyUpdate(doc, revert!);
    for (const doc of [server, writer, other]) expect(content(doc)).toEqual(asSaved);
  });

  test('a restore is undone by restoring the state saved just before it; an unchanged document gives null', () => {
    const doc = new Y.Doc();
    doc.getText('body').insert(0, 'version one');
    const one = Y.encodeStateAsUpdate(doc);
    doc.getText('body').insert(11, ', then two');
    const beforeRestore = Y.encodeStateAsUpdate(doc);
    Y.applyUpdate(doc, revertUpdate(doc, one)!);
    expect(doc.getText('body').toString()).toBe('version one');
    Y.applyUpdate(doc, revertUpdate(doc, beforeRestore)!);
    expect(doc.getText('body').toString()).toBe('version one, then two');
    expect(revertUpdate(doc, Y.encodeStateAsUpdate(doc))).toBeNull();
  });

  test('seeded random edits by three replicas: every replica reads as saved after the revert', () => {
    const { seed, gen } = seededRandom('revert');
    for (let round = 0; round < 20; round++) {
      const replicas = [new Y.Doc(), new Y.Doc(), new Y.Doc()];
      const pick = () => replicas[prng.int32(gen, 0, 2)]!;
      const everyone = () => {
        for (const a of replicas) for (const b of replicas) if (a !== b) sync(a, b);
      };
      for (let i = 0; i < 30; i++) randomEdit(gen, pick());
      everyone();
      const saved = Y.encodeStateAsUpdate(replicas[0]!);
      const asSaved = contentOf(replicas[0]!);
      for (let i = 0; i < 30; i++) randomEdit(gen, pick());
      everyone();
      const server = replicaOf(replicas[1]!);
      const revert = revertUpdate(server, saved);
      for (const doc of [server, ...replicas]) if (revert) Y.applyUpdate(doc, revert);
      for (const doc of [server, ...replicas]) expect(contentOf(doc), `round ${round}, seed ${seed}`).toEqual(asSaved);
    }
  });
});
