package main

import (
	"strings"
	"testing"
)

// TestServeDatabaseNotSupported: a database URL of another kind is refused
// on one line that names both forms Butler takes, without its password.
func TestServeDatabaseNotSupported(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCmd(t, nil, "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--database", "mysql://butler:hunter2@db/butler")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
	if len(lines(stderr)) != 1 {
		t.Errorf("stderr is not one line:\n%s", stderr)
	}
	for _, want := range []string{"postgres://", "sqlite://", "/butler.db"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "hunter2") {
		t.Errorf("stderr shows the password:\n%s", stderr)
	}
}

// TestServeHelpNamesEnvironment: `butler serve --help` names every BUTLER_*
// variable serve reads.
func TestServeHelpNamesEnvironment(t *testing.T) {
	code, stdout, stderr := runCmd(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, v := range []string{"BUTLER_ADDR", "BUTLER_DATA_DIR", "BUTLER_DATABASE", "BUTLER_TOKEN", "BUTLER_CONFIG",
		"BUTLER_LOG_LEVEL", "BUTLER_NODE", "BUTLER_METRICS_PUBLIC", "BUTLER_NEW_DATABASE"} {
		if !strings.Contains(stdout, v) {
			t.Errorf("serve --help does not name %s", v)
		}
	}
}
