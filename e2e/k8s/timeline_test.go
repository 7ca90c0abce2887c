package k8se2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// timeline records the replica count over the run: one line per change of
// (HPA current, HPA desired, ready pods) and every note.
type timeline struct {
	start time.Time
	mu    sync.Mutex
	lines []string
	last  string
}

func (tl *timeline) add(s string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.lines = append(tl.lines, fmt.Sprintf("%6.1fs %s", time.Since(tl.start).Seconds(), s))
}

func (tl *timeline) note(s string) { tl.add("-- " + s) }

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return strings.Join(tl.lines, "\n")
}

// sample polls the HPA, the Deployment and the request rate Prometheus
// measures (the adapter rule's query summed over the namespace) every 500 ms.
func (tl *timeline) sample(ctx context.Context, c *Cluster, promURL string, rule AdapterRule, hpaName string) {
	pc, _ := promapi.NewClient(promapi.Config{Address: promURL})
	prom := promv1.NewAPI(pc)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, hpaName, metav1.GetOptions{})
		if err != nil {
			continue
		}
		d, err := c.Client.AppsV1().Deployments(namespace).Get(ctx, deploymentName, metav1.GetOptions{})
		if err != nil {
			continue
		}
		state := fmt.Sprintf("replicas %d (ready %d), HPA current %d desired %d", *d.Spec.Replicas, d.Status.ReadyReplicas, h.Status.CurrentReplicas, h.Status.DesiredReplicas)
		if state == tl.last {
			continue
		}
		tl.last = state
		rps := ""
		if q, err := rule.Query(namespace, []string{"POD"}); err == nil {
			q = strings.Replace(q, `pod=~"POD"`, `pod=~".+"`, 1)
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if v, _, _, err := prom.Query(qctx, "sum("+q+")", time.Now()); err == nil {
				if vec, ok := v.(model.Vector); ok && len(vec) == 1 {
					rps = fmt.Sprintf(", measured %.0f req/s", float64(vec[0].Value))
				}
			}
			cancel()
		}
		tl.add(state + rps)
	}
}
