export { CloseCode, CloseReason, ConcordError, ErrorKind, RateLimitReason } from './codes.js';
export {
  assertDocumentName,
  assertTenant,
  DEFAULT_TENANT,
  documentNameProblem,
  MAX_DOCUMENT_NAME_LENGTH,
  MAX_TENANT_LENGTH,
  parseQualifiedName,
  qualifyDocumentName,
  TENANT_SEPARATOR,
  tenantProblem,
} from './names.js';
export type { QualifiedName } from './names.js';
export {
  isConcordOrigin,
  isMadeElsewhere,
  LOCAL_EDIT_ORIGIN,
  OriginTag,
  RELAY_ORIGIN,
  SERVER_API_ORIGIN,
  SERVER_CLAMP_ORIGIN,
  STORAGE_ORIGIN,
} from './origins.js';
export type { ConcordOrigin } from './origins.js';
export { Access, tokenClaimsSchema } from './claims.js';
export type { TokenClaims } from './claims.js';
export { defineRecord, FieldValidationError, LwwRecord, placeOfMap, validateField, writeFields } from './record.js';
export type { FieldName, FieldSchemas, FieldValues, OriginOrOptions, RecordInput, RecordType, WriteOptions } from './record.js';
export {
  compareEntries,
  entryValue,
  FIELD_KEY_SEPARATOR,
  fieldEntries,
  fieldKey,
  fieldEntriesBefore,
  fieldNameProblem,
  fieldOfKey,
  hasField,
  isKeyOf,
  LEGACY_STAMP,
  nextStamp,
  parseEntry,
  readField,
  readFields,
  winningEntry,
  writeField,
} from './fields.js';
export type { FieldEntry, FieldWriter, Stamp, WriteStamp } from './fields.js';
export { bindFieldContext, fieldContextOf, FieldLockedError } from './fieldContext.js';
export type { FieldContext, FieldLocks, FieldTarget } from './fieldContext.js';
export { RecordCollection } from './collection.js';
export { defineDocument, FIELDS_ROOT } from './schema.js';
export type { DocumentSpec, DocumentType, TypedDocument } from './schema.js';
export {
  colorForUser,
  IDLE_AFTER_MS,
  isWorkspaceDocument,
  parseLastSeen,
  parsePresence,
  PRESENCE_COLORS,
  WORKSPACE_ROOM,
} from './presence.js';
export type { LastSeen, Peer, PresenceCursor, PresenceState, PresenceStatus, PresenceUser } from './presence.js';
export { parseServerNotice, StorageStatus, storageNotice } from './notices.js';
export { ConnectionLoss, MAX_TELEMETRY_LABELS, MAX_TELEMETRY_MS, MAX_TELEMETRY_SAMPLES, parseTelemetry, telemetryPayload } from './telemetry.js';
export type { ClockAnswer, ClockRequest, EditStamp, TelemetryMessage, TelemetryReport } from './telemetry.js';
export type { ServerNotice } from './notices.js';
export {
  assertChannelName,
  CHANNEL_PREFIX,
  channelAddress,
  channelNameProblem,
  channelOf,
  eventNameProblem,
  isChannelDocument,
  MAX_EVENT_NAME_LENGTH,
  parseChannelMessage,
  parseSinceRequest,
  sinceRequestPayload,
} from './channels.js';
export type { ChannelEvent, ChannelPosition, EventMessage, ReplayMessage, SinceRequest } from './channels.js';
export { ACTIVITY_MERGE_MS, ACTIVITY_PREFIX, SERVER_DOCUMENT_PREFIX, ACTIVITY_ROOT, activityDocumentName, activitySubject, readActivity } from './activity.js';
export type { ActivityEntry, FieldActivity, ListActivity, RecordActivity, RestoreActivity, TextActivity } from './activity.js';
export type { RestoreResult, VersionInfo, VersionReason } from './versions.js';
export { COMMENTS_COLLECTION, CommentRecord } from './comments.js';
export { ATTACHMENTS_COLLECTION, AttachmentRecord, AttachmentState, fileHash } from './attachments.js';
export { applyDocumentChanges, documentChangesSchema } from './documentChanges.js';
export type { DocumentChanges } from './documentChanges.js';
export {
  DEFAULT_NOTIFICATION_PREFERENCE,
  INBOX_PREFIX,
  InboxDocument,
  inboxDocumentName,
  inboxOwner,
  Notification,
  notificationInput,
  NotificationKind,
  notificationPreference,
  preferenceField,
} from './inbox.js';
export type { NotificationInput, NotificationPreference } from './inbox.js';
export {
  extractRows,
  isViewBuilding,
  isViewDocument,
  parseViewName,
  parseViewSpec,
  readViewRows,
  VIEW_PREFIX,
  VIEW_ROWS_ROOT,
  VIEW_STATE_ROOT,
  viewDocumentName,
  viewExtraction,
  viewSpecSchema,
} from './views.js';
export type { ViewDocumentRows, ViewExtraction, ViewRow, ViewSpec } from './views.js';
export { groupRows, matchesWhere, viewTotals, whereFields, whereSchema } from './viewQuery.js';
export type { Condition, Scalar, ViewGroup, ViewTotals, Where, WhereContext } from './viewQuery.js';
