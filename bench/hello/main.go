// Command hello is the ceiling of bench/run.sh: the smallest useful
// net/http server, answering every request with a fixed body. The demo
// service's throughput is reported as a fraction of what this server
// reaches on the same machine in the same run.
//
//	hello --listen 127.0.0.1:PORT
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	body := []byte("hello, world\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	if err := http.ListenAndServe(*listen, h); err != nil {
		fmt.Fprintf(os.Stderr, "hello: %v\n", err)
		os.Exit(1)
	}
}
