/**
 * The versions a member reports, in one place: /version, Maintenance.Status, the peer
 * /version endpoint, the etcd_server_version metric and `tsetcd version` all read
 * these.
 *
 * SERVER_VERSION is a 3.5.x semver because clients gate features on it (kube-apiserver
 * enables watch progress requests only for >= 3.5.13); CLUSTER_VERSION is the
 * cluster-wide API version etcd 3.5 reports.
 */
export const SERVER_VERSION = '3.5.21';
export const CLUSTER_VERSION = '3.5.0';
/** tsetcd's own release, as package.json names it. */
export const TSETCD_VERSION = '0.1.0';
