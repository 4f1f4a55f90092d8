import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes every lab workflow carries, kept current, so support staff can write
 * `LabState = "failed" AND CourseId = "..."` in Temporal UI. They are stored unencrypted:
 * LearnerId is Open edX's anonymous id, never a name or e-mail.
 */
export const LabStateKey = defineSearchAttributeKey('LabState', SearchAttributeType.KEYWORD);
export const CourseIdKey = defineSearchAttributeKey('CourseId', SearchAttributeType.KEYWORD);
export const LearnerIdKey = defineSearchAttributeKey('LearnerId', SearchAttributeType.KEYWORD);
export const LabNameKey = defineSearchAttributeKey('LabName', SearchAttributeType.KEYWORD);
export const ProviderKey = defineSearchAttributeKey('Provider', SearchAttributeType.KEYWORD);

export const LAB_SEARCH_ATTRIBUTES = [
  LabStateKey,
  CourseIdKey,
  LearnerIdKey,
  LabNameKey,
  ProviderKey,
];
