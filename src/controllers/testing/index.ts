/**
 * Test doubles for controller unit tests: an in-memory API server behind a real KubeClient
 * subclass, informers fed from it, an Event recorder that remembers, and one-reconcile helpers.
 * See README.md in this folder.
 */
export {
  type CallMatcher,
  CoreEvents,
  DEFAULT_FAKE_RESOURCES,
  FAKE_USER,
  type FakeCall,
  FakeCluster,
  FakeKubeClient,
  type FakeResource,
  Leases,
  type Verb,
} from "./fake-cluster.js";
export { FakeEventRecorder, type RecordedEvent } from "./fake-events.js";
export {
  ControllerTestRig,
  type LogRecord,
  type ReconcileOutcome,
  collectKeys,
  memoryLogger,
  reconcileKey,
  rejectionOf,
  settle,
} from "./harness.js";
export { JsonPatchError, jsonPatch, mergePatch } from "./patch.js";
