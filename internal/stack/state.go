package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

const stateFile = "state.json"

// State is a stack as recorded in DIR/state.json.
type State struct {
	Dir       string      `json:"dir"`
	RepoRoot  string      `json:"repo_root"`
	StartedAt time.Time   `json:"started_at"`
	Parts     []PartState `json:"parts"`
}

// Part returns the state of the named part.
func (s State) Part(name string) (PartState, bool) {
	for _, p := range s.Parts {
		if p.Name == name {
			return p, true
		}
	}
	return PartState{}, false
}

// ErrNotRunning says no stack is recorded in a run directory.
var ErrNotRunning = errors.New("no loadlens stack is running")

func writeState(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// ReadState reads the recorded stack of a run directory. It returns
// ErrNotRunning when none is recorded.
func ReadState(dir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, ErrNotRunning
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("%s is corrupt (%v): remove it after checking no loadlens process runs", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// Health values of a part.
const (
	HealthReady     = "ready"     // process alive and its readiness probe passes
	HealthUnhealthy = "unhealthy" // process alive but the probe fails
	HealthStopped   = "stopped"   // process gone
)

// PartStatus is a part's recorded state plus its live health.
type PartStatus struct {
	PartState
	Health string `json:"health"`
	Detail string `json:"detail,omitempty"`
}

// Status is the live report on a recorded stack.
type Status struct {
	Dir       string       `json:"dir"`
	Running   bool         `json:"running"` // at least one part alive
	Healthy   bool         `json:"healthy"` // every part ready
	StartedAt time.Time    `json:"started_at,omitzero"`
	Parts     []PartStatus `json:"parts"`
}

// Probe reports on the stack recorded in dir: each part's process is
// checked by PID (and executable) and its readiness probe is run.
func Probe(ctx context.Context, dir string) (Status, error) {
	st, err := ReadState(dir)
	if err != nil {
		return Status{Dir: dir, Parts: []PartStatus{}}, err
	}
	out := Status{Dir: st.Dir, StartedAt: st.StartedAt, Healthy: true}
	for _, ps := range st.Parts {
		s := PartStatus{PartState: ps}
		switch p := recipe(ps.Name); {
		case !processAlive(ps.PID, ps.Binary):
			s.Health, s.Detail = HealthStopped, fmt.Sprintf("process %d is not running", ps.PID)
		case p == nil:
			s.Health = HealthReady
		default:
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			if err := p.ready(pctx, ps); err != nil {
				s.Health, s.Detail = HealthUnhealthy, err.Error()
			} else {
				s.Health = HealthReady
			}
			cancel()
		}
		if s.Health != HealthStopped {
			out.Running = true
		}
		if s.Health != HealthReady {
			out.Healthy = false
		}
		out.Parts = append(out.Parts, s)
	}
	return out, nil
}

// Down stops the stack recorded in dir (started by another process) in
// reverse start order, by PID, and removes its state file. It returns
// ErrNotRunning when nothing is recorded.
func Down(ctx context.Context, dir string) error {
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(st.Parts) - 1; i >= 0; i-- {
		ps := st.Parts[i]
		p := recipe(ps.Name)
		if p == nil {
			err = terminate(ps.PID, ps.Binary, syscall.SIGTERM, 10*time.Second, nil)
		} else {
			err = p.stop(ctx, ps, nil)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", ps.Name, err))
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(filepath.Join(dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recipe returns the part recipe for probes and stops, which need only a
// PartState.
func recipe(name string) *part {
	cfg := &Config{}
	switch name {
	case PartPostgres:
		return postgresPart(cfg)
	case PartRedis:
		return redisPart(cfg)
	case PartDemo:
		return demoPart(&Stack{cfg: *cfg})
	case PartExporter:
		return exporterPart(&Stack{cfg: *cfg})
	case PartAlertmanager:
		return alertmanagerPart(cfg)
	case PartPrometheus:
		return prometheusPart(cfg, nil)
	}
	return nil
}

// Lock takes an exclusive lock on the run directory so two commands do not
// start or stop the same stack at once. Release it with the returned func.
func Lock(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another loadlens command is using %s right now; wait for it to finish", dir)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Part returns the status of one part.
func (s Status) Part(name string) (PartStatus, bool) {
	for _, p := range s.Parts {
		if p.Name == name {
			return p, true
		}
	}
	return PartStatus{}, false
}
