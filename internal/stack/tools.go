package stack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// SetupCommand is what a person runs to install every missing binary.
const SetupCommand = "make setup"

// MissingBinaryError names a binary the stack needs and how to get it.
type MissingBinaryError struct {
	Binary string
	Looked string
}

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("%s not found (looked in %s): run %q to install it", e.Binary, e.Looked, SetupCommand)
}

// lookPath finds the first of names on PATH (or in extra directories first).
func lookPath(extraDirs []string, names ...string) (string, error) {
	for _, dir := range extraDirs {
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	looked := "PATH"
	if len(extraDirs) > 0 {
		looked = fmt.Sprintf("%v and PATH", extraDirs)
	}
	return "", &MissingBinaryError{Binary: names[0], Looked: looked}
}

// postgresBinDir finds the directory holding initdb, postgres and pg_ctl:
// $LOADLENS_PG_BINDIR, then /usr/lib/postgresql/15/bin, then the newest
// other /usr/lib/postgresql/*/bin, then PATH.
func postgresBinDir() (string, error) {
	if d := os.Getenv("LOADLENS_PG_BINDIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err != nil {
			return "", &MissingBinaryError{Binary: "postgres", Looked: d + " ($LOADLENS_PG_BINDIR)"}
		}
		return d, nil
	}
	candidates := []string{"/usr/lib/postgresql/15/bin"}
	others, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(others)))
	candidates = append(candidates, others...)
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", &MissingBinaryError{Binary: "initdb (PostgreSQL 15 server)", Looked: "/usr/lib/postgresql/*/bin and PATH"}
}

// RepoRoot returns $LOADLENS_REPO, or walks up from dir to the directory
// holding loadlens's go.mod.
func RepoRoot(dir string) (string, error) {
	if r := os.Getenv("LOADLENS_REPO"); r != "" {
		if b, err := os.ReadFile(filepath.Join(r, "go.mod")); err != nil || !containsModule(b) {
			return "", errors.New("$LOADLENS_REPO=" + r + " is not the loadlens repository")
		}
		return filepath.Abs(r)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && containsModule(b) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("not inside the loadlens repository (no go.mod for github.com/loadlens/loadlens above " + dir + "): run loadlens from the repository or set LOADLENS_REPO")
		}
	}
}

func containsModule(gomod []byte) bool {
	const want = "module github.com/loadlens/loadlens\n"
	return len(gomod) >= len(want) && string(gomod[:len(want)]) == want
}

// ToolsDir is the repo-local, git-ignored folder for built tools (k6).
func ToolsDir(repoRoot string) string { return filepath.Join(repoRoot, ".tools", "bin") }

// FindTool finds a tool setup installs into the repository's .tools/bin
// (k6), then on PATH; the error names the setup command.
func FindTool(name string) (string, error) {
	var dirs []string
	if root, err := RepoRoot("."); err == nil {
		dirs = append(dirs, ToolsDir(root))
	}
	return lookPath(dirs, name)
}
