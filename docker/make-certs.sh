#!/bin/sh
# Makes the certificates compose.yml mounts: one CA and ONE leaf that serves as server,
# peer and client certificate (both EKUs), with the service names member1..member3 as
# DNS SANs (peers dial each other by service name and check the peer's certificate
# against that name) and localhost/127.0.0.1 for etcdctl on the host.
#
# Usage: docker/make-certs.sh [DIR]                    default DIR: docker/certs
# Writes DIR/ca-etcd.pem, DIR/etcd.pem, DIR/etcd-key.pem (and the CA key, 0600). DIR
# (0755) and the leaf key (0644) are made readable by all because the image runs as
# uid 1000; on a shared machine chown them to 1000 and chmod 700/600 instead.
set -eu
dir=${1:-$(cd "$(dirname "$0")" && pwd)/certs}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=etcd-ca" \
  -keyout ca-etcd-key.pem -out ca-etcd.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=etcd" \
  -keyout etcd-key.pem -out etcd.csr 2>/dev/null
printf '%s\n' 'subjectAltName=DNS:member1,DNS:member2,DNS:member3,DNS:localhost,IP:127.0.0.1' \
  'keyUsage=critical,digitalSignature,keyEncipherment' \
  'extendedKeyUsage=serverAuth,clientAuth' > etcd-ext.cnf
openssl x509 -req -in etcd.csr -CA ca-etcd.pem -CAkey ca-etcd-key.pem -CAcreateserial \
  -sha256 -days 3650 -extfile etcd-ext.cnf -out etcd.pem 2>/dev/null
rm -f etcd.csr etcd-ext.cnf ca-etcd.srl
chmod 644 etcd-key.pem
# uid 1000 must also reach the files: a folder from mktemp is 0700.
chmod 755 "$dir"
echo "make-certs: $dir/{ca-etcd.pem,etcd.pem,etcd-key.pem}"
