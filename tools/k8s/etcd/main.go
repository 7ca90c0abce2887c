// Command etcd is etcd's own server main, built from the Go module proxy.
//
// `go install go.etcd.io/etcd/server/v3@v3.6.4` is refused because etcd's
// go.mod has replace directives, so this module requires the server module
// and calls its entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
