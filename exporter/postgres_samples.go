package exporter

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// The pure half of the postgres collector: rows read from the server
// (pgSnapshot) become samples. Units are converted here, at the edge.

// pgConnectionStates is the bounded set of the state label; a state the
// exporter's role cannot see (NULL) or does not know is "unknown".
var pgConnectionStates = []string{
	"active", "idle", "idle in transaction", "idle in transaction (aborted)",
	"fastpath function call", "disabled", "unknown",
}

const (
	pgAppOther = "other"
	pgAppUnset = "unset"
)

type pgSettings struct {
	Version           string // server_version
	MaxConnections    int64
	SuperuserReserved int64
	Reserved          int64 // reserved_connections, 0 before PostgreSQL 16
}

// pgActivityRow is one (state, application_name) group of client backends.
type pgActivityRow struct {
	State       *string // NULL when the exporter's role may not see it
	Application string
	Count       int64
	Slow        int64   // active, older than the slow-query threshold
	LockWaiting int64   // waiting on a heavyweight lock
	OldestAge   float64 // seconds, oldest active query of the group (0 when none)
}

type pgStatementRow struct {
	QueryID    int64
	User       string
	Datname    string
	Calls      int64
	ExecMillis float64 // pg_stat_statements reports milliseconds
	Rows       int64
	Query      string
}

type pgDatabaseRow struct {
	Datname                                                string
	BlksHit, BlksRead, XactCommit, XactRollback, Deadlocks int64
}

// pgSnapshot is what one update read; nil parts failed or were skipped.
type pgSnapshot struct {
	Up                  bool
	Settings            *pgSettings
	Activity            []pgActivityRow // nil when the query failed
	ActivityOK          bool
	StatementsAvailable bool
	Statements          []pgStatementRow
	StatsReset          *time.Time
	Database            *pgDatabaseRow
}

type pgDescs struct {
	up, serverInfo                                          *prometheus.Desc
	connections, byApp, maxConns, suReserved, reserved      *prometheus.Desc
	saturation                                              *prometheus.Desc
	stmtAvailable, stmtCalls, stmtExec, stmtRows, stmtReset *prometheus.Desc
	slow, oldest, lockWaiting                               *prometheus.Desc
	blksHit, blksRead, xactCommit, xactRollback, deadlocks  *prometheus.Desc
}

func newPgDescs(queryText bool) pgDescs {
	stmt := []string{"queryid", "user", "datname"}
	if queryText {
		stmt = append(stmt, "query")
	}
	db := []string{"datname"}
	return pgDescs{
		up:            contractDesc("loadlens_postgres_up", nil, nil),
		serverInfo:    contractDesc("loadlens_postgres_server_info", []string{"version"}, nil),
		connections:   contractDesc("loadlens_postgres_connections", []string{"state"}, nil),
		byApp:         contractDesc("loadlens_postgres_connections_by_application", []string{"application_name"}, nil),
		maxConns:      contractDesc("loadlens_postgres_max_connections", nil, nil),
		suReserved:    contractDesc("loadlens_postgres_superuser_reserved_connections", nil, nil),
		reserved:      contractDesc("loadlens_postgres_reserved_connections", nil, nil),
		saturation:    contractDesc("loadlens_postgres_connection_saturation_ratio", nil, nil),
		stmtAvailable: contractDesc("loadlens_postgres_statements_available", nil, nil),
		stmtCalls:     contractDesc("loadlens_postgres_statement_calls_total", stmt, nil),
		stmtExec:      contractDesc("loadlens_postgres_statement_exec_seconds_total", stmt, nil),
		stmtRows:      contractDesc("loadlens_postgres_statement_rows_total", stmt, nil),
		stmtReset:     contractDesc("loadlens_postgres_statements_stats_reset_timestamp_seconds", nil, nil),
		slow:          contractDesc("loadlens_postgres_slow_queries", nil, nil),
		oldest:        contractDesc("loadlens_postgres_oldest_query_age_seconds", nil, nil),
		lockWaiting:   contractDesc("loadlens_postgres_lock_waiting_backends", nil, nil),
		blksHit:       contractDesc("loadlens_postgres_blocks_hit_total", db, nil),
		blksRead:      contractDesc("loadlens_postgres_blocks_read_total", db, nil),
		xactCommit:    contractDesc("loadlens_postgres_xact_commit_total", db, nil),
		xactRollback:  contractDesc("loadlens_postgres_xact_rollback_total", db, nil),
		deadlocks:     contractDesc("loadlens_postgres_deadlocks_total", db, nil),
	}
}

// pgSampleOptions are the knobs of the transformation.
type pgSampleOptions struct {
	AppsLimit      int  // top-N application names
	QueryText      bool // add the query label
	QueryTextLimit int  // runes kept of the normalized query text
}

func gauge(d *prometheus.Desc, v float64, lv ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
}

func counter(d *prometheus.Desc, v float64, lv ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
}

// emit sends the samples of s. loadlens_postgres_up is always sent.
func (d pgDescs) emit(s pgSnapshot, o pgSampleOptions, ch chan<- prometheus.Metric) {
	ch <- gauge(d.up, boolFloat(s.Up))
	if !s.Up {
		return
	}
	var used int64
	if s.ActivityOK {
		used = d.emitActivity(s.Activity, o, ch)
	}
	if st := s.Settings; st != nil {
		ch <- gauge(d.serverInfo, 1, shortVersion(st.Version))
		ch <- gauge(d.maxConns, float64(st.MaxConnections))
		ch <- gauge(d.suReserved, float64(st.SuperuserReserved))
		ch <- gauge(d.reserved, float64(st.Reserved))
		if open := st.MaxConnections - st.SuperuserReserved - st.Reserved; s.ActivityOK && open > 0 {
			ch <- gauge(d.saturation, float64(used)/float64(open))
		}
	}
	ch <- gauge(d.stmtAvailable, boolFloat(s.StatementsAvailable))
	if s.StatementsAvailable {
		for _, r := range s.Statements {
			lv := []string{strconv.FormatInt(r.QueryID, 10), r.User, r.Datname}
			if o.QueryText {
				lv = append(lv, queryFingerprint(r.Query, o.QueryTextLimit))
			}
			ch <- counter(d.stmtCalls, float64(r.Calls), lv...)
			ch <- counter(d.stmtExec, r.ExecMillis/1000, lv...)
			ch <- counter(d.stmtRows, float64(r.Rows), lv...)
		}
		if s.StatsReset != nil {
			ch <- gauge(d.stmtReset, float64(s.StatsReset.UnixNano())/1e9)
		}
	}
	if db := s.Database; db != nil {
		ch <- counter(d.blksHit, float64(db.BlksHit), db.Datname)
		ch <- counter(d.blksRead, float64(db.BlksRead), db.Datname)
		ch <- counter(d.xactCommit, float64(db.XactCommit), db.Datname)
		ch <- counter(d.xactRollback, float64(db.XactRollback), db.Datname)
		ch <- counter(d.deadlocks, float64(db.Deadlocks), db.Datname)
	}
}

// emitActivity sends connection, slow-query and lock samples and returns
// the number of client backends.
func (d pgDescs) emitActivity(rows []pgActivityRow, o pgSampleOptions, ch chan<- prometheus.Metric) int64 {
	byState := map[string]int64{}
	byApp := map[string]int64{}
	var used, slow, waiting int64
	var oldest float64
	for _, r := range rows {
		state := "unknown"
		if r.State != nil && slices.Contains(pgConnectionStates, *r.State) {
			state = *r.State
		}
		byState[state] += r.Count
		app := r.Application
		if app == "" {
			app = pgAppUnset
		}
		byApp[app] += r.Count
		used += r.Count
		slow += r.Slow
		waiting += r.LockWaiting
		oldest = max(oldest, r.OldestAge)
	}
	for _, st := range pgConnectionStates {
		ch <- gauge(d.connections, float64(byState[st]), st)
	}
	for _, a := range topApplications(byApp, o.AppsLimit) {
		ch <- gauge(d.byApp, float64(a.count), a.name)
	}
	ch <- gauge(d.slow, float64(slow))
	ch <- gauge(d.oldest, oldest)
	ch <- gauge(d.lockWaiting, float64(waiting))
	return used
}

type appCount struct {
	name  string
	count int64
}

// topApplications keeps the limit applications with most connections
// (ties by name) and folds the rest into "other", which is always present.
// "unset" (empty application_name) competes like any other name.
func topApplications(byApp map[string]int64, limit int) []appCount {
	all := make([]appCount, 0, len(byApp))
	var other int64
	for n, c := range byApp {
		if n == pgAppOther { // a real application named "other" joins the bucket
			other += c
			continue
		}
		all = append(all, appCount{n, c})
	}
	slices.SortFunc(all, func(a, b appCount) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	if limit >= 0 && len(all) > limit {
		for _, a := range all[limit:] {
			other += a.count
		}
		all = all[:limit]
	}
	slices.SortFunc(all, func(a, b appCount) int { return strings.Compare(a.name, b.name) })
	return append(all, appCount{pgAppOther, other})
}

// shortVersion drops the distribution suffix: "15.14 (Debian 15.14-0+deb12u1)" -> "15.14".
func shortVersion(v string) string {
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// queryFingerprint drops the comments of pg_stat_statements' normalized
// text, collapses its whitespace and truncates it to limit runes (with
// "..." when cut): a file's header comment must not fill the label.
func queryFingerprint(q string, limit int) string {
	q = strings.Join(strings.Fields(stripSQLComments(q)), " ")
	if !utf8.ValidString(q) {
		q = strings.ToValidUTF8(q, "?")
	}
	if limit > 0 && utf8.RuneCountInString(q) > limit {
		r := []rune(q)
		q = string(r[:limit]) + "..."
	}
	return q
}

// stripSQLComments removes -- line comments and /* */ block comments
// outside single-quoted literals and double-quoted identifiers.
func stripSQLComments(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	var quote byte // ' or " while inside a literal or identifier
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
			c = ' '
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				i = len(q)
			} else {
				i += 2 + end + 1
			}
			c = ' '
		}
		b.WriteByte(c)
	}
	return b.String()
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
