package exporter

import (
	"math"
	"strconv"
	"strings"
)

// redisInfo is the parsed reply of Redis's INFO command. Parsing is pure
// and total: any input yields a value, malformed lines are skipped.
type redisInfo struct {
	// Fields holds every "key:value" line outside commandstats, by key.
	// INFO keys are unique across sections; on a duplicate the last wins.
	Fields map[string]string
	// Commands holds INFO commandstats by command name as Redis prints it
	// (lower case; Redis 7 prints subcommands as "config|get").
	Commands map[string]redisCommandStat
}

// redisCommandStat is one cmdstat_<name> line: calls and total time spent,
// converted from microseconds to seconds here, at the edge.
type redisCommandStat struct {
	Calls   float64
	Seconds float64
}

// parseInfo parses the text of an INFO reply: "# Section" headers and
// "key:value" lines separated by CRLF (LF is accepted too). Commandstats
// lines ("cmdstat_get:calls=3,usec=12,usec_per_call=4.00,...") go to
// Commands; a cmdstat line without a valid calls count is skipped, and a
// missing or invalid usec counts as 0.
func parseInfo(s string) redisInfo {
	info := redisInfo{Fields: map[string]string{}, Commands: map[string]redisCommandStat{}}
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || key == "" {
			continue
		}
		if name, isCmd := strings.CutPrefix(key, "cmdstat_"); isCmd {
			if name == "" {
				continue
			}
			if st, ok := parseCommandStat(value); ok {
				info.Commands[name] = st
			}
			continue
		}
		info.Fields[key] = value
	}
	return info
}

// parseCommandStat parses "calls=3,usec=12,usec_per_call=4.00,...".
func parseCommandStat(v string) (redisCommandStat, bool) {
	var st redisCommandStat
	haveCalls := false
	for kv := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		f, ok := parseFiniteNonNegative(val)
		if !ok {
			continue
		}
		switch k {
		case "calls":
			st.Calls, haveCalls = f, true
		case "usec":
			st.Seconds = f / 1e6
		}
	}
	return st, haveCalls
}

// Float returns the field key as a finite number.
func (i redisInfo) Float(key string) (float64, bool) {
	v, ok := i.Fields[key]
	if !ok {
		return 0, false
	}
	return parseFinite(v)
}

func parseFinite(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func parseFiniteNonNegative(s string) (float64, bool) {
	f, ok := parseFinite(s)
	return f, ok && f >= 0
}
