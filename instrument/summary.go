package instrument

import (
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// opEntry is one (operation, summary) pair of a database system with its
// precomputed attribute options.
type opEntry struct {
	operation string
	summary   string
	opts      []metric.RecordOption
}

// opKey identifies an operation entry before the top-N bound is applied:
// the summary is name when named (a prepared statement or Redis command),
// else "operation name" (a SQL verb and table).
type opKey struct {
	operation string
	name      string
	named     bool
}

func (k opKey) summary() string {
	if k.named || k.name == "" {
		if k.name == "" {
			return k.operation
		}
		return k.name
	}
	return k.operation + " " + k.name
}

// opCache hands out opEntries for one database system. The first limit
// distinct summaries get their own db.query.summary value; later ones are
// recorded as "other" (per operation). Label values never change once
// assigned, so series stay stable for the life of the process.
type opCache struct {
	system    string
	limit     int
	maxOps    int
	m         atomic.Pointer[map[opKey]*opEntry]
	mu        sync.Mutex
	summaries map[string]bool // distinct summaries that got their own value
	ops       map[string]bool // distinct operation names
}

func newOpCache(_ *Instrumentation, system string, limit int) *opCache {
	c := &opCache{system: system, limit: limit, maxOps: maxRedisOperations,
		summaries: map[string]bool{}, ops: map[string]bool{}}
	m := map[opKey]*opEntry{}
	c.m.Store(&m)
	return c
}

// get returns the entry for a key; it does not allocate once the key has
// been seen.
func (c *opCache) get(k opKey) *opEntry {
	if e, ok := (*c.m.Load())[k]; ok {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if e, ok := old[k]; ok {
		return e
	}
	op := k.operation
	if !c.ops[op] {
		if len(c.ops) >= c.maxOps {
			op = otherValue
		} else {
			c.ops[op] = true
		}
	}
	sum := k.summary()
	if !c.summaries[sum] {
		if len(c.summaries) >= c.limit {
			sum = otherValue
		} else {
			c.summaries[sum] = true
		}
	}
	// Reuse the entry of the bounded pair so equal label sets share options.
	var e *opEntry
	for _, v := range old {
		if v.operation == op && v.summary == sum {
			e = v
			break
		}
	}
	if e == nil {
		e = &opEntry{operation: op, summary: sum, opts: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("db.system.name", c.system),
			attribute.String("db.operation.name", op),
			attribute.String("db.query.summary", sum),
		))}}
	}
	// The raw pair map is bounded too: past 4×limit distinct raw pairs the
	// entry is returned uncached (it is already bounded as a label value).
	if len(old) >= 4*(c.limit+c.maxOps) {
		return e
	}
	next := make(map[opKey]*opEntry, len(old)+1)
	for kk, v := range old {
		next[kk] = v
	}
	next[k] = e
	c.m.Store(&next)
	return e
}

// sqlVerbs are the statement keywords recognised as db.operation.name;
// the first word of any other statement is recorded as "other".
var sqlVerbs = []string{
	"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE",
	"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "PREPARE",
	"EXECUTE", "DEALLOCATE", "SET", "SHOW", "RESET", "CREATE", "ALTER", "DROP", "TRUNCATE",
	"GRANT", "REVOKE", "COPY", "LOCK", "LISTEN", "NOTIFY", "UNLISTEN", "DISCARD",
	"VACUUM", "ANALYZE", "EXPLAIN", "REFRESH", "DO", "CALL", "DECLARE", "FETCH", "CLOSE", "MOVE",
	"REINDEX", "CLUSTER", "CHECKPOINT", "COMMENT",
}

// maxScan bounds how far into a statement the summary parser looks.
const maxScan = 4096

// sqlScanner walks a SQL text token by token without allocating. It skips
// whitespace, comments, string literals and dollar-quoted bodies.
type sqlScanner struct {
	s     string
	pos   int
	depth int // parenthesis depth of the last token
}

// next returns the next word or quoted identifier ("" at the end). Punctuation
// other than parentheses and '.' is skipped; '(' and ')' change depth.
func (sc *sqlScanner) next() (tok string, quoted bool) {
	s := sc.s
	for sc.pos < len(s) && sc.pos < maxScan {
		c := s[sc.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			sc.pos++
		case c == '-' && sc.pos+1 < len(s) && s[sc.pos+1] == '-':
			for sc.pos < len(s) && s[sc.pos] != '\n' {
				sc.pos++
			}
		case c == '/' && sc.pos+1 < len(s) && s[sc.pos+1] == '*':
			end := strings.Index(s[sc.pos+2:], "*/")
			if end < 0 {
				sc.pos = len(s)
			} else {
				sc.pos += end + 4
			}
		case c == '(':
			sc.depth++
			sc.pos++
		case c == ')':
			sc.depth--
			sc.pos++
		case c == '\'':
			sc.pos++
			for sc.pos < len(s) {
				if s[sc.pos] == '\'' {
					if sc.pos+1 < len(s) && s[sc.pos+1] == '\'' {
						sc.pos += 2
						continue
					}
					break
				}
				sc.pos++
			}
			sc.pos++
		case c == '"':
			start := sc.pos + 1
			end := strings.IndexByte(s[start:], '"')
			if end < 0 {
				sc.pos = len(s)
				return "", false
			}
			sc.pos = start + end + 1
			return s[start : start+end], true
		case c == '$' && sc.pos+1 < len(s) && (s[sc.pos+1] == '$' || isIdentStart(s[sc.pos+1])):
			// $1 parameters fall through to the default case; $tag$ bodies are skipped.
			j := sc.pos + 1
			for j < len(s) && s[j] != '$' && isIdentPart(s[j]) {
				j++
			}
			if j < len(s) && s[j] == '$' {
				tag := s[sc.pos : j+1]
				end := strings.Index(s[j+1:], tag)
				if end < 0 {
					sc.pos = len(s)
				} else {
					sc.pos = j + 1 + end + len(tag)
				}
				continue
			}
			sc.pos = j
		case isIdentStart(c):
			start := sc.pos
			for sc.pos < len(s) && isIdentPart(s[sc.pos]) {
				sc.pos++
			}
			return s[start:sc.pos], false
		default:
			sc.pos++
		}
	}
	return "", false
}

func isIdentStart(c byte) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$'
}

// canonicalVerb returns the upper-case constant for word, or "".
func canonicalVerb(word string) string {
	for _, v := range sqlVerbs {
		if strings.EqualFold(word, v) {
			return v
		}
	}
	return ""
}

// tableAfter returns the first table name following a top-level keyword,
// qualified names kept ("public.users"), or "".
func (sc *sqlScanner) tableAfter(keyword string, depth int) string {
	for {
		tok, quoted := sc.next()
		if tok == "" {
			return ""
		}
		if !quoted && sc.depth == depth && strings.EqualFold(tok, keyword) {
			return sc.qualifiedName(depth)
		}
	}
}

// qualifiedName reads an optionally schema-qualified name at depth.
func (sc *sqlScanner) qualifiedName(depth int) string {
	for {
		tok, quoted := sc.next()
		if tok == "" || sc.depth != depth {
			return ""
		}
		if !quoted && (strings.EqualFold(tok, "ONLY") || strings.EqualFold(tok, "LATERAL")) {
			continue
		}
		// Include a following ".name" without allocating when unquoted.
		name := tok
		if !quoted {
			begin := sc.pos - len(tok)
			end := sc.pos
			for end < len(sc.s) && sc.s[end] == '.' && end+1 < len(sc.s) && isIdentStart(sc.s[end+1]) {
				end++
				for end < len(sc.s) && isIdentPart(sc.s[end]) {
					end++
				}
			}
			sc.pos = end
			name = sc.s[begin:end]
		}
		return name
	}
}

// parseSQL returns the operation (upper-case SQL verb, "other" for an
// unknown first word) and the table the statement is about ("" when it has
// none or it cannot be told cheaply). It does not allocate.
func parseSQL(sql string) (verb, table string) {
	sc := sqlScanner{s: sql}
	first, _ := sc.next()
	if first == "" {
		return otherValue, ""
	}
	verb = canonicalVerb(first)
	if verb == "" {
		return otherValue, ""
	}
	main := verb
	depth := sc.depth
	if verb == "WITH" {
		// The statement's verb is the first top-level DML keyword after the CTEs.
		for {
			tok, quoted := sc.next()
			if tok == "" {
				return verb, ""
			}
			if quoted || sc.depth != depth {
				continue
			}
			if v := canonicalVerb(tok); v == "SELECT" || v == "INSERT" || v == "UPDATE" || v == "DELETE" || v == "MERGE" {
				main = v
				break
			}
		}
	}
	switch main {
	case "SELECT", "DELETE":
		table = sc.tableAfter("FROM", depth)
	case "INSERT", "MERGE":
		table = sc.tableAfter("INTO", depth)
	case "UPDATE", "TRUNCATE", "COPY", "LOCK":
		table = sc.qualifiedName(depth)
		if strings.EqualFold(table, "TABLE") {
			table = sc.qualifiedName(depth)
		}
	}
	return main, table
}

// sqlCache memoises SQL text -> entry (bounded; past the bound statements
// are parsed per call, which does not allocate once their pair is known).
type sqlCache struct {
	m  atomic.Pointer[map[string]*opEntry]
	mu sync.Mutex
}

const maxCachedSQL = 1024

func (c *sqlCache) load(sql string) *opEntry {
	if m := c.m.Load(); m != nil {
		return (*m)[sql]
	}
	return nil
}

func (c *sqlCache) store(sql string, e *opEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n >= maxCachedSQL {
		return
	}
	next := make(map[string]*opEntry, n+1)
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[sql] = e
	c.m.Store(&next)
}

// preparedNames remembers statement names the service prepared itself
// (pgx's own "stmtcache_" names are ignored) and their SQL text.
type preparedNames struct {
	m sync.Map // name -> sql
	n atomic.Int64
}

const maxPreparedNames = 256

func (p *preparedNames) add(name, sql string) {
	if name == "" || strings.HasPrefix(name, "stmtcache_") || strings.HasPrefix(name, "stmt_") {
		return
	}
	if p.n.Load() >= maxPreparedNames {
		return
	}
	if _, loaded := p.m.LoadOrStore(name, sql); !loaded {
		p.n.Add(1)
	}
}

func (p *preparedNames) sql(name string) (string, bool) {
	if p.n.Load() == 0 {
		return "", false
	}
	v, ok := p.m.Load(name)
	if !ok {
		return "", false
	}
	return v.(string), true
}

// pgEntry returns the operation entry of a statement as pgx reports it:
// either SQL text or the name of a statement prepared earlier.
func (i *Instrumentation) pgEntry(sql string) *opEntry {
	if e := i.sqlCache.load(sql); e != nil {
		return e
	}
	var e *opEntry
	if text, ok := i.prepared.sql(sql); ok {
		verb, _ := parseSQL(text)
		e = i.pgOps.get(opKey{operation: verb, name: sql, named: true})
	} else {
		verb, table := parseSQL(sql)
		if verb == otherValue && isSingleIdent(sql) {
			// A statement name prepared outside our sight (EXECUTE by name).
			e = i.pgOps.get(opKey{operation: "EXECUTE", name: sql, named: true})
		} else {
			e = i.pgOps.get(opKey{operation: verb, name: table})
		}
	}
	i.sqlCache.store(sql, e)
	return e
}

func isSingleIdent(s string) bool {
	if s == "" || len(s) > 63 || !isIdentStart(s[0]) {
		return false
	}
	for j := 0; j < len(s); j++ {
		if !isIdentPart(s[j]) {
			return false
		}
	}
	return true
}
