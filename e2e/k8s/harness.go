// Package k8se2e runs loadlens's autoscaling end to end on a real
// Kubernetes control plane: etcd, kube-apiserver (with the aggregation
// layer), kube-controller-manager, kwok (a fake node whose pods become
// Running and Ready without a kubelet) and, for the KEDA scenario, KEDA's
// operator and metrics server, all started by the test on free loopback
// ports in a temporary directory and stopped by PID in reverse order of
// start (t.Cleanup), even when the test fails.
//
// The binaries are built once by scripts/setup-k8s.sh into
// .tools/k8s/<name>/<version>/ (the versions are pinned by the tool modules
// under tools/k8s/); a missing binary fails the test with that command.
package k8se2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// SetupCommand is what builds the binaries; every "missing binary" failure
// names it.
const SetupCommand = "scripts/setup-k8s.sh (or make test, which runs it)"

// NodeName is the kwok node; k8s/overlays/test pins the demo pods to it.
const NodeName = "kwok-node-0"

// tool is one control-plane binary and the tool module pinning its version.
type tool struct{ name, moduleDir, module string }

var (
	toolEtcd       = tool{"etcd", "etcd", "go.etcd.io/etcd/server/v3"}
	toolAPIServer  = tool{"kube-apiserver", "kubernetes", "k8s.io/kubernetes"}
	toolController = tool{"kube-controller-manager", "kubernetes", "k8s.io/kubernetes"}
	toolKwok       = tool{"kwok", "kwok", "sigs.k8s.io/kwok"}
)

// RepoRoot is the loadlens checkout holding the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/loadlens/loadlens\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("k8se2e: no loadlens checkout above the working directory")
		}
		dir = parent
	}
}

// binary returns the path of a pinned binary built by scripts/setup-k8s.sh,
// or fails the test naming the setup command. LOADLENS_K8S_TOOLS replaces
// the repo-local .tools/k8s folder.
func binary(t testing.TB, tl tool) string {
	t.Helper()
	root := RepoRoot(t)
	gomod := filepath.Join(root, "tools", "k8s", tl.moduleDir, "go.mod")
	body, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatalf("k8se2e: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(tl.module) + `\s+(v\S+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("k8se2e: %s does not pin %s", gomod, tl.module)
	}
	dir := os.Getenv("LOADLENS_K8S_TOOLS")
	if dir == "" {
		dir = filepath.Join(root, ".tools", "k8s")
	}
	path := filepath.Join(dir, tl.name, string(m[1]), tl.name)
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("k8se2e: %s %s is not built (%s missing): run %s", tl.name, m[1], path, SetupCommand)
	}
	return path
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---------------------------------------------------------------------------
// PKI

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertFile and KeyFile hold the PEM files.
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
}

func newKeyPair(t testing.TB, dir, name string, tmpl *x509.Certificate, parent *keyPair) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	kp := &keyPair{cert: cert, key: key,
		CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	writeFile(t, kp.CertFile, kp.CertPEM)
	writeFile(t, kp.KeyFile, kp.KeyPEM)
	return kp
}

func newCA(t testing.TB, dir, name string) *keyPair {
	return newKeyPair(t, dir, name, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
}

func newClientCert(t testing.TB, dir, name, cn string, orgs []string, ca *keyPair) *keyPair {
	return newKeyPair(t, dir, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
}

func newServingCert(t testing.TB, dir, name string, ca *keyPair) *keyPair {
	return newKeyPair(t, dir, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}, ca)
}

func writeFile(t testing.TB, path string, body []byte) {
	t.Helper()
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// Processes

// Process is a child process of the test, stopped at cleanup.
type Process struct {
	Name    string
	PID     int
	LogFile string
	cmd     *exec.Cmd
	done    chan struct{}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartProcess starts binary with args in its own process group, logging to
// dir/name.log, and registers a cleanup that stops it (SIGTERM, then SIGKILL
// after grace). Cleanups run in reverse order of registration, so processes
// stop in reverse order of start. On failure the log's tail is printed.
func StartProcess(t testing.TB, dir, name string, grace time.Duration, env []string, binary string, args ...string) *Process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Name: name, PID: cmd.Process.Pid, LogFile: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(grace)
		if t.Failed() {
			t.Logf("--- %s (pid %d) log tail:\n%s", name, p.PID, tail(logPath, 30))
		}
	})
	return p
}

// Stop sends SIGTERM, waits up to grace, then SIGKILLs the process group.
// It is idempotent.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	syscall.Kill(p.PID, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		// Still running, so the process group is still ours.
		syscall.Kill(-p.PID, syscall.SIGKILL)
		<-p.done
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 100 ms until it returns nil, the process exits
// or timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, p *Process, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if p != nil && p.Exited() {
			t.Fatalf("%s: %s exited:\n%s", what, p.Name, tail(p.LogFile, 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Cluster

// Options configure a control plane.
type Options struct {
	// HPASyncPeriod is kube-controller-manager's HPA sync period (default 2s).
	HPASyncPeriod time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	Dir        string
	Kubeconfig string // admin (system:masters) kubeconfig
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	CA         *keyPair
	// Timeline records when each part became ready, relative to Start.
	Timeline []string

	start time.Time
}

func (c *Cluster) mark(t testing.TB, what string) {
	line := fmt.Sprintf("%5.1fs %s", time.Since(c.start).Seconds(), what)
	c.Timeline = append(c.Timeline, line)
	t.Log("k8s:", line)
}

// Start runs etcd → kube-apiserver → kube-controller-manager → kwok with a
// Ready node named NodeName. Everything stops at the end of the test.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.HPASyncPeriod == 0 {
		opts.HPASyncPeriod = 2 * time.Second
	}
	etcdBin, apiBin, kcmBin, kwokBin := binary(t, toolEtcd), binary(t, toolAPIServer), binary(t, toolController), binary(t, toolKwok)

	// A short base: unix socket paths and logs stay readable.
	dir, err := os.MkdirTemp("", "loadlens-k8s-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // registered first: runs last
	c := &Cluster{Dir: dir, start: time.Now()}
	pki := filepath.Join(dir, "pki")
	os.MkdirAll(pki, 0o700)

	// PKI: a CA, the API server's serving cert, an admin client
	// (system:masters) every component uses, the front-proxy CA and client
	// for the aggregation layer, and the service-account signing key.
	ca := newCA(t, pki, "ca")
	c.CA = ca
	serving := newServingCert(t, pki, "apiserver", ca)
	admin := newClientCert(t, pki, "admin", "loadlens-e2e-admin", []string{"system:masters"}, ca)
	fpCA := newCA(t, pki, "front-proxy-ca")
	fpClient := newClientCert(t, pki, "front-proxy-client", "front-proxy-client", nil, fpCA)
	sa := newCA(t, pki, "sa") // only its key pair is used
	saPub, err := x509.MarshalPKIXPublicKey(&sa.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	saPubFile := filepath.Join(pki, "sa.pub")
	writeFile(t, saPubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}))

	// etcd
	etcdClient, etcdPeer := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	etcd := StartProcess(t, dir, "etcd", 10*time.Second, nil, etcdBin,
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	waitFor(t, "etcd", 20*time.Second, etcd, func() error { return httpOK(http.DefaultClient, etcdURL+"/health") })
	c.mark(t, "etcd healthy")

	// kube-apiserver
	apiPort := freePort(t)
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	api := StartProcess(t, dir, "kube-apiserver", 10*time.Second, nil, apiBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file="+serving.CertFile, "--tls-private-key-file="+serving.KeyFile,
		"--client-ca-file="+ca.CertFile,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saPubFile, "--service-account-signing-key-file="+sa.KeyFile,
		"--requestheader-client-ca-file="+fpCA.CertFile,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+fpClient.CertFile, "--proxy-client-key-file="+fpClient.KeyFile,
		// No kubernetes Service endpoint to reconcile on loopback.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0")
	adminTLS := &tls.Config{Certificates: []tls.Certificate{mustX509KeyPair(t, admin)}, RootCAs: certPool(ca)}
	adminHTTP := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: adminTLS}}
	waitFor(t, "kube-apiserver", 60*time.Second, api, func() error { return httpOK(adminHTTP, apiURL+"/readyz") })
	c.mark(t, "kube-apiserver ready")

	// The admin kubeconfig, used by every component and the tests.
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: apiURL, CertificateAuthorityData: ca.CertPEM}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: admin.CertPEM, ClientKeyData: admin.KeyPEM}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "admin"}
	kc.CurrentContext = "e2e"
	c.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, c.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c.Config.QPS, c.Config.Burst = 100, 200
	c.Client = kubernetes.NewForConfigOrDie(c.Config)
	c.Dynamic = dynamic.NewForConfigOrDie(c.Config)

	// kube-controller-manager: no leader election, no serving port, no node
	// lifecycle or IPAM controllers (kwok's heartbeats are slower than the
	// node lifecycle controller's grace period, and there is no pod network).
	StartProcess(t, dir, "kube-controller-manager", 10*time.Second, nil, kcmBin,
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false", "--secure-port=0",
		"--controllers=*,-node-ipam-controller,-node-lifecycle-controller",
		"--service-account-private-key-file="+sa.KeyFile,
		"--root-ca-file="+ca.CertFile,
		"--horizontal-pod-autoscaler-sync-period="+opts.HPASyncPeriod.String(),
		"--kube-api-qps=100", "--kube-api-burst=200",
		"--v=0")

	// kwok and its node.
	StartProcess(t, dir, "kwok", 5*time.Second, nil, kwokBin,
		"--kubeconfig="+c.Kubeconfig,
		"--manage-all-nodes=true",
		"--cidr=10.244.0.0/16", "--node-ip=127.0.0.1",
		"--server-address=127.0.0.1:"+fmt.Sprint(freePort(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
		},
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	waitFor(t, "kwok node", 30*time.Second, nil, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("node not Ready")
	})
	c.mark(t, "kwok node Ready")
	return c
}

func mustX509KeyPair(t testing.TB, kp *keyPair) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPool(ca *keyPair) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func httpOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
