# Pinned versions of the rig's Go-built binaries; the cache is keyed by these.
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.19.0
PEBBLE_VERSION=v2.10.3
