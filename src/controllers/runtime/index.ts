/**
 * The controller runtime: informers, work queues, conditions, status writes, leader election and
 * the manager that runs them. See README.md in this folder for how to write a controller on it.
 */
export { type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from "./backoff.js";
export { type Clock, realClock, schedule, sleep, wait } from "./clock.js";
export {
  type Condition,
  type ConditionInput,
  type ConditionStatus,
  conditionsEqual,
  formatTime,
  getCondition,
  isFalse,
  isTrue,
  removeCondition,
  setCondition,
  statusObserved,
} from "./conditions.js";
export {
  Controller,
  type ControllerDefinition,
  type ControllerMetricsHooks,
  type ReconcileRequest,
  type ReconcileResult,
  type WatchEventInfo,
  type WatchSpec,
  generationChanged,
  watch,
  watchOwned,
} from "./controller.js";
export {
  type EventHandlers,
  type IndexFunc,
  Informer,
  type InformerOptions,
  type ListWatchSource,
  type SourceOptions,
  resourceSource,
  stripManagedFields,
} from "./informer.js";
export { groupOf, keyOf, objectKey, ownerKeys, splitKey } from "./keys.js";
export { type LabelSelector, matchesSelector, parseSelector, selectorToString } from "./label-selector.js";
export {
  KubeLeaseLock,
  LeaderElector,
  type LeaderElectionTimings,
  type LeaseLock,
  type LeaseRecord,
  defaultIdentity,
  formatMicroTime,
} from "./leader-election.js";
export {
  Manager,
  type ManagerLeaderElection,
  type ManagerOptions,
  type RunOptions,
  type RunResult,
} from "./manager.js";
export { FIELD_MANAGER, ResourceClient } from "./resource-client.js";
export { type Outcome, type ProcessResult, WorkQueue, type WorkQueueOptions } from "./work-queue.js";
export {
  apiStatus,
  apiStatusCode,
  describeError,
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalid,
  isNotFound,
} from "../../kube/api-errors.js";
export { KubeApiError, KubeClient, PatchType } from "../../kube/client.js";
export { CoreResources, type ResourceType, apiVersionOf, resourceType } from "../../kube/resources.js";
export type { KubeList, KubeObject, ObjectMeta, OwnerReference } from "../../kube/types.js";
