/**
 * The process shell's public face (etcd server/embed): start a member from a Config,
 * and tell systemd it is ready. The CLI imports only this and src/config.
 */
export { startMember, type MemberOptions, type RunningMember } from './member.js';
export type { PeerNetwork, PeerNetworkFactory } from './network.js';
export { notifySystemdReady } from './notify.js';
export { certificateReport } from './preflight.js';
