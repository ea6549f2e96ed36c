/**
 * The demo's shared data, declared once with the engine's model.
 *
 * One project document (`project-demo`) holds the tasks as last-writer-wins records, so two people changing
 * different fields of a task both win, and the same field resolves the same way everywhere. Each task's rich-text
 * description, its comments and its attachments live in its own document (`task-<id>`), loaded only when someone
 * opens that task: a long description never weighs on the board.
 */
import { AttachmentRecord, CommentRecord, defineDocument, defineRecord } from '@concord/engine';
import { z } from 'zod';

/** The projects of the demo workspace: one document each, `project-<id>`. The first is where the app opens. */
export const PROJECTS = [
  { id: 'demo', name: 'Demo project' },
  { id: 'website', name: 'Website relaunch' },
] as const;
export type ProjectId = string;

const PROJECT_PREFIX = 'project-';
/** Every project document, as a live view's pattern. */
export const PROJECT_PATTERN = `${PROJECT_PREFIX}*`;

export function projectDocumentName(project: ProjectId): string {
  return `${PROJECT_PREFIX}${project}`;
}

export function isProjectDocument(name: string): boolean {
  return name.startsWith(PROJECT_PREFIX);
}

/** The project id of a project document's name. */
export function projectOf(documentName: string): ProjectId {
  return documentName.slice(PROJECT_PREFIX.length);
}

/** A project's display name; a project the demo does not list shows its id. */
export function projectName(project: ProjectId): string {
  return PROJECTS.find(({ id }) => id === project)?.name ?? project;
}

/** The project the app opens on, which the tests and the backend examples use. */
export const PROJECT_DOCUMENT = projectDocumentName(PROJECTS[0].id);

export const TASK_STATUSES = ['todo', 'doing', 'done'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const STATUS_LABELS: Record<TaskStatus, string> = { todo: 'To do', doing: 'Doing', done: 'Done' };

/** `YYYY-MM-DD`, what `<input type="date">` reads and writes; empty when there is no due date. */
const isoDate = z.union([z.literal(''), z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD')]);

export const Task = defineRecord('task', {
  title: z.string().max(200),
  status: z.enum(TASK_STATUSES),
  /** The user id of the teammate the task is assigned to ('' for nobody); older tasks may hold a free-text name. */
  assignee: z.string().max(100),
  due: isoDate,
  /** Milliseconds since the epoch, for a stable order on every screen. */
  createdAt: z.number().int().nonnegative(),
});

export const ProjectDocument = defineDocument('project', {
  collections: { tasks: Task },
});

export const TaskDocument = defineDocument('task', {
  richTexts: ['description'],
  /**
   * Comments: the engine's `CommentRecord`s by id, in the collection the server's notification conventions read
   * (`COMMENTS_COLLECTION`): `mentions` notify those mentioned, a `parent` notifies that comment's author.
   * Attachments: the engine's `AttachmentRecord`s (`ATTACHMENTS_COLLECTION`, which the server reads to know which files
   * the task uses), each with `record` = the task's id; the client keeps and uploads the files themselves.
   */
  collections: { comments: CommentRecord, attachments: AttachmentRecord },
});

export function taskDocumentName(taskId: string): string {
  return `task-${taskId}`;
}

/** The fields a person edits inline, in the order the row shows them. */
export const EDITABLE_FIELDS = ['title', 'status', 'assignee', 'due'] as const;
export type EditableField = (typeof EDITABLE_FIELDS)[number];
