package k8se2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	toolKEDAOperator = tool{"keda-operator", "keda", "github.com/kedacore/keda/v2"}
	toolKEDAAdapter  = tool{"keda-adapter", "keda", "github.com/kedacore/keda/v2"}
)

// KEDANamespace holds KEDA's cluster objects (as in its Helm chart).
const KEDANamespace = "keda"

// StartKEDA runs KEDA out of cluster: its CRDs (from the pinned KEDA
// module), the operator (controllers and the gRPC metrics service) and the
// metrics server (the external.metrics.k8s.io adapter), with certificates
// from the cluster's CA instead of KEDA's own rotation. It returns once both
// processes are started; the returned function waits until they are ready
// and v1beta1.external.metrics.k8s.io is Available, so a test can start its
// other servers meanwhile.
func StartKEDA(t testing.TB, c *Cluster) (waitReady func()) {
	t.Helper()
	opBin, adBin := binary(t, toolKEDAOperator), binary(t, toolKEDAAdapter)

	// CRDs: config/crd/bases of the KEDA module the tool module pins.
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/kedacore/keda/v2")
	cmd.Dir = filepath.Join(RepoRoot(t), "tools", "k8s", "keda")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("locate the KEDA module (run %s): %v: %s", SetupCommand, err, out)
	}
	crdFiles, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "bases", "*.yaml"))
	if len(crdFiles) == 0 {
		t.Fatalf("no KEDA CRDs under %s", strings.TrimSpace(string(out)))
	}
	var names []string
	for _, f := range crdFiles {
		names = append(names, c.installCRDs(t, f)...)
	}
	c.waitEstablished(t, names, "keda.sh/v1alpha1")
	c.Apply(t, []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+KEDANamespace+`"}}`))

	// One certificate for the operator's gRPC server and the metrics
	// server's client and HTTPS listener: KEDA reads ca.crt, tls.crt and
	// tls.key from --cert-dir for both ends.
	certs := filepath.Join(c.Dir, "keda-certs")
	os.MkdirAll(certs, 0o700)
	os.MkdirAll(filepath.Join(c.Dir, "keda-ca"), 0o700)
	kp := newKeyPair(t, certs, "tls", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "keda"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}, c.CA)
	writeFile(t, filepath.Join(certs, "ca.crt"), c.CA.CertPEM)

	env := []string{
		"KUBECONFIG=" + c.Kubeconfig,
		"WATCH_NAMESPACE=",
		"POD_NAMESPACE=" + KEDANamespace,
		"KEDA_CLUSTER_OBJECT_NAMESPACE=" + KEDANamespace,
	}
	grpcPort, probePort := freePort(t), freePort(t)
	op := StartProcess(t, c.Dir, "keda-operator", 10*time.Second, env, opBin,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		fmt.Sprintf("--metrics-service-bind-address=127.0.0.1:%d", grpcPort),
		"--cert-dir="+certs,
		"--ca-dir="+filepath.Join(c.Dir, "keda-ca"),
		"--enable-cert-rotation=false",
		"--enable-webhook-patching=false",
		"--enable-apiservice-patching=false",
		"--leader-elect=false",
		"--zap-log-level=info")

	port := freePort(t)
	ad := StartProcess(t, c.Dir, "keda-adapter", 10*time.Second, env, adBin,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir="+certs, "--tls-cert-file="+kp.CertFile, "--tls-private-key-file="+kp.KeyFile,
		"--lister-kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig,
		"--authorization-kubeconfig="+c.Kubeconfig,
		fmt.Sprintf("--metrics-service-address=127.0.0.1:%d", grpcPort),
		// Its own /metrics listener binds all interfaces (":PORT"); a free
		// port keeps it from clashing.
		fmt.Sprintf("--port=%d", freePort(t)))
	return func() {
		t.Helper()
		waitFor(t, "keda-operator", 60*time.Second, op, func() error {
			return httpOK(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		})
		c.mark(t, "keda-operator ready")
		insecure := insecureClient()
		waitFor(t, "keda-adapter", 60*time.Second, ad, func() error {
			return httpOK(insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
		})
		c.RegisterAPIService(t, "keda-metrics-apiserver", port, "external.metrics.k8s.io/v1beta1")
		c.mark(t, "KEDA metrics server Available")
	}
}
