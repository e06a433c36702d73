package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/internal/config"
)

// TestReservedTaskNamesAreRoutes holds apitype.ReservedTaskNames, which
// the config file's check of task names reads, to the server's routes:
// each name is a route under /butler/ that answers 200 (no "no such
// task"), and a config file that names a task after it is refused.
func TestReservedTaskNamesAreRoutes(t *testing.T) {
	const token = "routes-token-1"
	s := startInProc(t, nil, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"), "--token", token)
	for _, name := range apitype.ReservedTaskNames() {
		if resp, body := do(t, http.MethodGet, s.url("/butler/"+name), token); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /butler/%s: %d %s; want 200 from its route", name, resp.StatusCode, body)
		}
		_, err := config.Parse([]byte("tasks:\n  "+name+":\n    exec: {argv: [/bin/true]}\n"), "b.yaml")
		if err == nil || !strings.Contains(err.Error(), "is reserved") {
			t.Errorf("a task named %s: %v; want it refused as reserved", name, err)
		}
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("run returned %d; stderr:\n%s", code, s.stderr)
	}
}
