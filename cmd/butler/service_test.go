package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/internal/config"
)

// unitPath is the shipped systemd unit, from the package's directory.
const unitPath = "../../packaging/butler.service"

// readUnit parses a systemd unit file into section -> key -> values (a key
// may be given more than once).
func readUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: line %q is not KEY=VALUE inside a section", path, line)
			}
			unit[section][k] = append(unit[section][k], v)
		}
	}
	return unit
}

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the shipped unit,
// its ExecStart pointed at a freshly built butler, and wants no complaint at
// all (verify exits 0 even for an unknown key, but says so); then
// `systemd-analyze security` rates its sandbox.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this machine (apt-get install systemd)")
	}
	bin := butlerBinary(t)
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	const exe = "ExecStart=/usr/local/bin/butler "
	if !bytes.Contains(b, []byte(exe)) {
		t.Fatalf("the unit has no %q line", exe)
	}
	unit := filepath.Join(t.TempDir(), "butler.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte(exe), []byte("ExecStart="+bin+" ")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The sandbox's exposure, as systemd rates it (0 best, 10 worst): at
	// most 2.0, "OK". The threshold is in tenths.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", unit).CombinedOutput()
	if err != nil {
		overall := out
		if i := bytes.Index(out, []byte("Overall exposure")); i >= 0 {
			overall = out[i:]
		}
		t.Errorf("systemd-analyze security: %v: the sandbox's exposure is above 2.0\n%s", err, overall)
	}
}

// TestSystemdUnitOptions checks the options the service depends on: the
// sandbox, where the data lives, how it stops and restarts.
func TestSystemdUnitOptions(t *testing.T) {
	unit := readUnit(t, unitPath)
	svc := unit["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	one := func(key string) string {
		t.Helper()
		v := svc[key]
		if len(v) != 1 {
			t.Fatalf("%s given %d times, want once", key, len(v))
		}
		return v[0]
	}
	for key, want := range map[string]string{
		"ExecStart":                "/usr/local/bin/butler serve",
		"DynamicUser":              "yes",
		"StateDirectory":           "butler",
		"StateDirectoryMode":       "0700",
		"WorkingDirectory":         "/var/lib/butler",
		"UMask":                    "0077",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"NoNewPrivileges":          "yes",
		"CapabilityBoundingSet":    "",
		"KillMode":                 "mixed", // SIGTERM to Butler alone: it stops its commands itself, each with its grace
		"KillSignal":               "SIGTERM",
		"Restart":                  "on-failure",
		"RestartPreventExitStatus": "2", // a configuration error is not restarted in a loop
	} {
		if got := one(key); got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if !slices.Contains(svc["Environment"], "BUTLER_DATA_DIR=/var/lib/butler") {
		t.Errorf("Environment=%q: want BUTLER_DATA_DIR=/var/lib/butler, the StateDirectory", svc["Environment"])
	}
	// pg_dump and the HTTP tasks need IP; SQLite's lock and pg_dump's local
	// socket need AF_UNIX.
	fams := strings.Fields(one("RestrictAddressFamilies"))
	for _, f := range []string{"AF_UNIX", "AF_INET", "AF_INET6"} {
		if !slices.Contains(fams, f) {
			t.Errorf("RestrictAddressFamilies=%v lacks %s", fams, f)
		}
	}
	// The stop must outlast the server's own shutdown wait with the default
	// grace of a command, with room for a longer grace.
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if need := shutdownBase + config.DefaultGrace; stop < need+10*time.Second {
		t.Errorf("TimeoutStopSec=%v: the server may wait %v (15 s plus a command's default grace); give it at least 10 s more", stop, need)
	}
}
