// Command etcd is etcd's own server (go.etcd.io/etcd/server/v3/etcdmain, the version Kubernetes itself requires),
// built in the same `go build` as the Kubernetes commands: the cluster's datastore.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
