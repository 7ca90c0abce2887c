package report

import (
	"fmt"
	"math"
)

// Thresholds of the bottleneck rules.
const (
	poolSaturatedAt     = 0.9 // used/max connections
	pgSaturatedAt       = 0.9 // backends/slots
	coldCacheBelow      = 0.5 // hit ratio
	cacheTrafficAtLeast = 100 // lookups during the run
	slowStatementAt     = 0.1 // seconds per call
	plateauGrowth       = 1.1 // requests/s grew less than 10%...
	plateauLoadGrowth   = 1.5 // ...while the load grew at least 50%
)

// diagnose turns the figures into plain-language findings, most decisive
// first. Each rule reads data the report shows, so a reader can check it.
func diagnose(r *Report) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }

	for _, p := range r.System.Pools {
		if math.IsNaN(p.PeakSaturation) || p.PeakSaturation < poolSaturatedAt {
			continue
		}
		queued := p.WaitGrowing() || p.PeakPending > 0 || p.Timeouts > 0
		if !queued {
			add("The %s connection pool (size %.0f) ran at %s of its connections, but no request waited for one: it is fully used, not yet the bottleneck.",
				poolTitle(p.Name), p.Size, pct(p.PeakSaturation))
			continue
		}
		add("The %s connection pool (size %.0f) is the bottleneck: it peaked at %s used, requests queued for a connection (peak %.0f waiting, wait %.3f s/s in the last third of the run vs %.3f s/s in the first third, %.0f acquire timeouts): raise %s or cut query time.",
			poolTitle(p.Name), p.Size, pct(p.PeakSaturation), p.PeakPending, p.WaitLast, p.WaitFirst, p.Timeouts, poolFlag(p.Name))
	}
	if pg := r.System.Postgres; pg != nil && pg.PeakSaturation >= pgSaturatedAt {
		add("PostgreSQL ran out of connection slots (peak %s client backends of max_connections %s, %s of the slots open to ordinary users): pool size × replicas exceeds what the server allows; lower --postgres.pool-size, put PgBouncer in front, or raise max_connections.",
			num(pg.PeakConnections), num(pg.MaxConnections), pct(pg.PeakSaturation))
	}
	for _, c := range r.System.Caches {
		if c.Lookups >= cacheTrafficAtLeast && c.HitRatio < coldCacheBelow {
			add("The %q cache is cold or off: only %s of %.0f lookups hit; check the cache is enabled and its TTL, and warm it before measuring.", c.Name, pct(c.HitRatio), c.Lookups)
		}
	}
	if c := r.System.Redis; c != nil && c.Lookups >= cacheTrafficAtLeast && c.HitRatio < coldCacheBelow {
		add("Redis misses most lookups (%s hit of %.0f): the cache is cold, evicting (check maxmemory) or keyed inconsistently.", pct(c.HitRatio), c.Lookups)
	}
	if len(r.System.Statements) > 0 {
		s := r.System.Statements[0]
		if s.MeanTime >= slowStatementAt {
			add("Slow query: statement %s averaged %s per call over %.0f calls (%s in total): index or rewrite it.", s.QueryID, secs(s.MeanTime), s.Calls, secs(s.TotalTime))
		}
	}
	for _, rs := range r.System.Replicas {
		if rs.AtMaxReplicas {
			add("The autoscaler %s hit its maximum of %.0f replicas: raise maxReplicas or make each pod serve more.", rs.Name, rs.MaxReplicas)
		}
	}
	if r.TestType == "breakpoint" && r.ExitCode != nil && *r.ExitCode == 99 {
		add("The breakpoint run stopped at its first SLA breach after a peak of %.1f req/s with %.0f VUs: that is the service's capacity for this request mix.", r.PeakRPS, r.PeakVUs)
	}
	if p := plateau(r.Steps); p != "" {
		out = append(out, p)
	}
	if r.Overall.ErrorRate > 0 && r.Verdict == Fail {
		for _, e := range r.Endpoints {
			if e.ErrorRate > e.SLA.MaxErrorRate {
				add("%s failed %s of its requests (%.0f of %.0f).", e.Name, pct(e.ErrorRate), e.Failures, e.Requests)
			}
		}
	}
	if len(out) == 0 {
		if r.Verdict == Pass {
			add("No bottleneck: every endpoint met its SLA and no service-side signal crossed a limit.")
		} else {
			add("The SLA was missed but no service-side signal explains it (pools, PostgreSQL, caches and replicas are within limits): check CPU (process_cpu_seconds_total on the admin listener), GC, and that the load generator itself is not saturated.")
		}
	}
	return out
}

// plateau finds the step from which requests/s stopped growing while the
// load kept growing and latency rose: the breaking point in throughput.
func plateau(steps []StepStats) string {
	for i := 1; i < len(steps); i++ {
		prev, cur := steps[i-1], steps[i]
		var pv, cv float64
		if _, err := fmt.Sscan(prev.TargetVUs, &pv); err != nil {
			continue
		}
		if _, err := fmt.Sscan(cur.TargetVUs, &cv); err != nil {
			continue
		}
		if pv <= 0 || prev.Overall.RPS <= 0 || cv/pv < plateauLoadGrowth {
			continue
		}
		if cur.Overall.RPS < prev.Overall.RPS*plateauGrowth && cur.Overall.P95 > prev.Overall.P95 {
			return fmt.Sprintf("Throughput plateaued at step %s: %s VUs made %.1f req/s against %.1f req/s with %s VUs, while p95 rose from %s to %s: the service is saturated at about %.0f req/s.",
				cur.Step, cur.TargetVUs, cur.Overall.RPS, prev.Overall.RPS, prev.TargetVUs, secs(prev.Overall.P95), secs(cur.Overall.P95), math.Max(cur.Overall.RPS, prev.Overall.RPS))
		}
	}
	return ""
}

func poolTitle(name string) string {
	switch name {
	case "postgres":
		return "PostgreSQL"
	case "redis":
		return "Redis"
	}
	return name
}

func poolFlag(name string) string {
	switch name {
	case "postgres":
		return "--postgres.pool-size"
	case "redis":
		return "--redis.pool-size"
	}
	return "the pool size"
}
