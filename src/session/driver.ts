/**
 * @module session/driver
 * What a backend supplies to a session: how its work goes, one pass at a time. The lifecycle
 * (lifecycle.ts) owns everything else (state, timeout, stop, shutdown, pause gate, rollback
 * hand-off, the disk-full wait, the end), the same for every backend. Two kinds of driver exist:
 * one that runs model turns itself (model-turns.ts) and one per backend that runs its own loop
 * (src/backends/claude-agent-sdk/session-driver.ts); what sets them apart for the rest of the
 * program is the capability union, never a backend name.
 */

import type { Intervention } from '../store/types.js';
import type { CheckedRollback, SessionRecorder } from './recorder.js';
import type { RollbackRequest } from './types.js';

/** The annotator's answer to a pending tool call (ask mode). */
export interface ApprovalDecision {
  allow: boolean;
  /** The call's input as edited by the annotator; the tool runs with it. */
  input?: Record<string, unknown>;
  /** Told to the agent when the call is denied. */
  message?: string;
}

/** A tool call waiting for the annotator (GET /api/sessions/:id/approvals lists them). */
export interface PendingApproval {
  call_id: string;
  tool: string;
  input: Record<string, unknown>;
  /** The same text as the waiting_approval status event's message. */
  description: string;
  since: number;
}

/** Tool calls that wait for the annotator before they run (permission_mode ask / restricted). */
export interface Approvals {
  /** Tool calls waiting for the annotator, oldest first. */
  pending(): PendingApproval[];
  /** A call that is not waiting is refused at once (ControlError not_found); the promise is the record. */
  approve(callId: string, decision: ApprovalDecision, annotator: string): Promise<void>;
}

/**
 * What a session can do beyond the common controls, by how its agent loop runs: we run the model
 * turns (and the tools), or the backend runs its own loop and tools, and its calls can wait for
 * the annotator's approval.
 */
export type SessionCapability = { kind: 'model-turns' } | { kind: 'own-loop'; approvals: Approvals };

/** How one pass of the driver ended: go on, or the agent is done (finished, or failed saying why). */
export type PassOutcome =
  | 'more'
  | {
      status: 'finished' | 'failed';
      reason: string;
      /** Record the reason as an error of this kind before the end. */
      error?: 'backend';
    };

/** What a driver sees of its session's lifecycle. */
export interface SessionContext {
  readonly rec: SessionRecorder;
  /** A stop (annotator, timeout, shutdown) was asked for: end the pass at the next boundary. */
  stopping(): boolean;
  /** A rollback waits to be applied: end the pass at the next boundary. */
  rollingBack(): boolean;
  /** A step boundary: waits here while paused; returns at once for a stop or a rollback. */
  gate(): Promise<void>;
}

export interface SessionDriver {
  readonly capability: SessionCapability;
  /** Where a pause takes effect, for the status line ("after the current step"). */
  readonly pausePoint: string;
  /** Preflight before the first start: the backend is reachable, its program can run. */
  check(): Promise<void>;
  /** An instruction was recorded: a running loop may take it now (model turns read it from the store). */
  deliver?(instruction: Intervention): void;
  /** Each (re)start, after a first instruction and before the first pass. */
  begin?(): void;
  /** One pass: a model turn and its tool calls, or one run of the backend's own loop. */
  pass(): Promise<PassOutcome>;
  /** Cut the work in flight short: a stop (its reason reaches a command cut short) or a rollback. */
  interrupt(cause: { type: 'stop'; reason: string } | { type: 'rollback' }): void;
  /** Refuse a rollback this driver cannot carry out; called before any other check. */
  vetRollback?(req: RollbackRequest): void;
  /** Before the head moves: work still in flight (git) settles. */
  settle?(): Promise<void>;
  /** The head and the workspace are at `checked.target` now: go on from there. */
  afterRollback?(checked: CheckedRollback): Promise<void>;
  /** After the disk-full wait put the workspace back at the head: go on from there. */
  afterReset?(): void;
  /** How a failure is recorded in the trajectory (default: backend errors as backend, the rest internal). */
  failureKind?(err: unknown): 'backend' | 'internal';
  /** The loop ended: release what a run holds (waiting calls, sockets). */
  ended?(): Promise<void>;
}

/** The driver of a session, made once the lifecycle that gives it its context exists. */
export type DriverFactory = (ctx: SessionContext) => SessionDriver;
