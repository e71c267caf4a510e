/**
 * Which messages may leave before the Ready that produced them is persisted (step 1
 * of the Ready contract in index.ts).
 *
 * Safe early: messages that acknowledge nothing about the sender's durable state.
 * The leader's MsgApp/MsgSnap/MsgHeartbeat (its commit index already counts its own
 * log only when persisted), MsgTimeoutNow, and forwarded MsgProp/MsgReadIndex/
 * MsgTransferLeader, and MsgReadIndexResp (it carries a commit index, not a promise).
 * Everything else (MsgVote, MsgPreVote, their responses, MsgAppResp, MsgHeartbeatResp)
 * waits: a candidate's vote request is backed by its own persisted vote, and a
 * response promises the term and log it was computed from.
 */
import { MessageType, type Message } from './types.js';

export function canSendBeforePersist(m: Message): boolean {
  switch (m.type) {
    case MessageType.App:
    case MessageType.Snap:
    case MessageType.Heartbeat:
    case MessageType.TimeoutNow:
    case MessageType.Prop:
    case MessageType.ReadIndex:
    case MessageType.ReadIndexResp:
    case MessageType.TransferLeader:
      return true;
    default:
      return false;
  }
}
