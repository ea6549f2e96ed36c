/**
 * The stored documents this instance has loaded, by name: PersistenceExtension adds a document once its log is
 * applied and removes it when it is destroyed; whoever else keeps state per loaded document (the Compactor) listens
 * instead of reaching into the extension. A name is loaded at most once at a time; a reload may register before the
 * previous copy's destroy has run, so a removal only forgets the name when it still points at that copy.
 */
import type { Document } from '@hocuspocus/server';
import type { StoredEntry } from './DocumentStore.js';

export interface LoadedDocument {
  readonly name: string;
  readonly document: Document;
}

export interface LoadedDocumentsListener {
  /** `loaded` was loaded from these stored entries (its log, snapshot first). */
  loaded?(loaded: LoadedDocument, entries: readonly StoredEntry[]): void;
  /** `loaded` is being destroyed (it unloaded). */
  unloaded?(loaded: LoadedDocument): void;
}

export class LoadedDocuments {
  private readonly byName = new Map<string, LoadedDocument>();
  private readonly listeners: LoadedDocumentsListener[] = [];

  listen(listener: LoadedDocumentsListener): void {
    this.listeners.push(listener);
  }

  add(loaded: LoadedDocument, entries: readonly StoredEntry[]): void {
    this.byName.set(loaded.name, loaded);
    for (const listener of this.listeners) listener.loaded?.(loaded, entries);
  }

  remove(loaded: LoadedDocument): void {
    if (this.byName.get(loaded.name) === loaded) this.byName.delete(loaded.name);
    for (const listener of this.listeners) listener.unloaded?.(loaded);
  }

  /** The loaded copy of `name`, if any. */
  get(name: string): LoadedDocument | undefined {
    return this.byName.get(name);
  }

  values(): IterableIterator<LoadedDocument> {
    return this.byName.values();
  }
}
