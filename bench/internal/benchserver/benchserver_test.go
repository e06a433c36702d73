package benchserver

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuild builds cmd/butler of the main module from inside the bench
// module and runs the binary: the programs build the server this way.
func TestBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "butler")
	if err := Build(context.Background(), bin, true); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("butler version: %v\n%s", err, out)
	}
	if !strings.Contains(strings.ToLower(string(out)), "butler") {
		t.Errorf("butler version printed %q, want it to name butler", out)
	}
}
