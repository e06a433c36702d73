package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/client"
	"github.com/plexbutler/butler/internal/pgtest"
	"github.com/plexbutler/butler/store/sqlite"
)

func TestVersion(t *testing.T) {
	code, stdout, stderr := runCmd(t, nil, "version")
	if code != 0 {
		t.Fatalf("butler version: exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	if want := "butler " + version + "\n"; !strings.HasPrefix(stdout, want) {
		t.Errorf("butler version printed %q, want it to begin %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("butler version wrote to stderr: %q", stderr)
	}
}

// TestUsageErrors checks that command-line and configuration mistakes end
// with exit code 2 and a message that says what is wrong, before the server
// touches anything.
func TestUsageErrors(t *testing.T) {
	tmp := t.TempDir()
	badConfig := filepath.Join(tmp, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("log_level: info\nlisten_port: 32400\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fileAddr := filepath.Join(tmp, "addr.yaml")
	if err := os.WriteFile(fileAddr, []byte("addr: fileaddr\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A valid address, which the environment or a flag overrides.
	goodFileAddr := filepath.Join(tmp, "goodaddr.yaml")
	if err := os.WriteFile(goodFileAddr, []byte("addr: 192.0.2.1:9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string // substrings of stderr
		notWant []string
		oneLine bool
	}{
		{name: "unknown flag", args: []string{"serve", "--bogus"}, want: []string{"unknown flag: --bogus"}, oneLine: true},
		{name: "unknown command", args: []string{"frobnicate"}, want: []string{"frobnicate"}, oneLine: true},
		{name: "serve takes no arguments", args: []string{"serve", "extra"}, want: []string{"extra"}, oneLine: true},
		{name: "bad addr", args: []string{"serve", "--addr", "nonsense"}, want: []string{`"nonsense"`, "HOST:PORT"}, oneLine: true},
		{name: "bad log level", args: []string{"serve", "--log-level", "loud"}, want: []string{`"loud"`, "debug, info, warn or error"}, oneLine: true},
		{name: "bad log level from env", args: []string{"serve"}, env: map[string]string{"BUTLER_LOG_LEVEL": "loud"}, want: []string{`"loud"`}},
		{name: "short token", args: []string{"serve", "--token", "short"}, want: []string{"--token: is shorter than 8 characters"}, oneLine: true},
		{name: "other database scheme", args: []string{"serve", "--database", "mysql://u@db/butler"}, want: []string{`"mysql://u@db/butler"`, "sqlite:///var/lib/butler/butler.db", "postgres://"}, oneLine: true},
		{name: "missing config file", args: []string{"serve", "--config", filepath.Join(tmp, "absent.yaml")}, want: []string{"config file", "absent.yaml"}},
		{name: "config file with unknown key", args: []string{"serve", "--config", badConfig}, want: []string{"bad.yaml:2: listen_port: unknown key"}, oneLine: true},
		{name: "config file from BUTLER_CONFIG", args: []string{"serve"}, env: map[string]string{"BUTLER_CONFIG": badConfig}, want: []string{"bad.yaml:2: listen_port: unknown key"}},
		// Precedence: flag, then BUTLER_* environment, then file, then default.
		{name: "addr from env", args: []string{"serve"}, env: map[string]string{"BUTLER_ADDR": "envaddr"}, want: []string{`"envaddr"`}},
		{name: "addr flag beats env", args: []string{"serve", "--addr", "flagaddr"}, env: map[string]string{"BUTLER_ADDR": "envaddr"},
			want: []string{`"flagaddr"`}, notWant: []string{"envaddr"}},
		{name: "addr from file", args: []string{"serve", "--config", fileAddr}, want: []string{`"fileaddr"`}},
		{name: "addr env beats file", args: []string{"serve", "--config", goodFileAddr}, env: map[string]string{"BUTLER_ADDR": "envaddr"},
			want: []string{`"envaddr"`}, notWant: []string{"192.0.2.1"}},
		{name: "addr flag beats file", args: []string{"serve", "--config", goodFileAddr, "--addr", "flagaddr"},
			want: []string{`"flagaddr"`}, notWant: []string{"192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every case fails before the data directory is used; point it
			// at a fresh one all the same, never at ./butler-data.
			dataDir := filepath.Join(t.TempDir(), "data")
			env := map[string]string{"BUTLER_DATA_DIR": dataDir}
			for k, v := range tt.env {
				env[k] = v
			}
			code, stdout, stderr := runCmd(t, env, tt.args...)
			if code != 2 {
				t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty (no usage dump wanted):\n%s", stdout)
			}
			if !strings.HasPrefix(stderr, "butler: ") {
				t.Errorf("stderr does not start with \"butler: \":\n%s", stderr)
			}
			if tt.oneLine && len(lines(stderr)) != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", len(lines(stderr)), stderr)
			}
			for _, w := range tt.want {
				mustContain(t, "stderr", stderr, w)
			}
			for _, w := range tt.notWant {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr mentions %q:\n%s", w, stderr)
				}
			}
			if _, err := os.Stat(dataDir); err == nil {
				t.Errorf("the data directory %s was created by a command that failed its configuration", dataDir)
			}
		})
	}
}

func TestServeUnusableDataDir(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(file, "sub"))
	if code != 2 {
		t.Fatalf("data dir under a file: exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	mustContain(t, "stderr", stderr, "data directory "+filepath.Join(file, "sub")+" cannot be created")
	mustContain(t, "stderr", stderr, "not a directory")
	mustContain(t, "stderr", stderr, "choose another with --data-dir")

	t.Run("read-only", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes into read-only directories")
		}
		dir := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		code, _, stderr := runCmd(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
		if code != 2 {
			t.Fatalf("read-only data dir: exit code %d, want 2; stderr:\n%s", code, stderr)
		}
		mustContain(t, "stderr", stderr, "is not writable")
	})
}

// TestServeBadAddr: an address whose port is no port says how to give one.
func TestServeBadAddr(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	code, _, stderr := runCmd(t, nil, "serve", "--addr", "127.0.0.1:28400x", "--data-dir", dataDir)
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	mustContain(t, "stderr", stderr, "cannot listen on 127.0.0.1:28400x")
	mustContain(t, "stderr", stderr, "give --addr (or BUTLER_ADDR, or addr: in the config file) as HOST:PORT")
	if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the data directory %s was created: %v", dataDir, err)
	}
}

func TestServeRefusesNonSQLiteDatabase(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dataDir, "butler.db")
	garbage := bytes.Repeat([]byte("this is not a database\x00\xff\x01 "), 500)
	if err := os.WriteFile(dbPath, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	mustContain(t, "stderr", stderr, "not a SQLite database")
	mustContain(t, "stderr", stderr, dbPath)
	got, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, garbage) {
		t.Errorf("the file that is not a database was changed (%d bytes, was %d)", len(got), len(garbage))
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(dbPath + side); err == nil {
			t.Errorf("%s was created beside the file that is not a database", dbPath+side)
		}
	}
	// The first start is not used up: no token was made.
	if _, err := os.Stat(filepath.Join(dataDir, "token")); err == nil {
		t.Error("a token was generated although the database could not be opened")
	}
}

func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	dataDir := newDataDir(t)

	// A first start on a busy port creates nothing: no data directory, no
	// token, no database, and no message of a generated token.
	t.Run("first start", func(t *testing.T) {
		fresh := filepath.Join(t.TempDir(), "data")
		code, _, stderr := runCmd(t, nil, "serve", "--data-dir", fresh, "--addr", busy)
		if code != 2 {
			t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
		}
		mustContain(t, "stderr", stderr, "in use")
		if _, err := os.Stat(fresh); err == nil {
			t.Errorf("the data directory %s was created although the port was in use", fresh)
		}
		if strings.Contains(stderr, "token") {
			t.Errorf("stderr speaks of a token:\n%s", stderr)
		}
	})

	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--addr", busy}, nil},
		{"env", nil, map[string]string{"BUTLER_ADDR": busy}},
		// The flag wins: the bad address in the environment is never read.
		{"flag beats env", []string{"--addr", busy}, map[string]string{"BUTLER_ADDR": "nonsense"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", dataDir}, tt.args...)
			code, _, stderr := runCmd(t, tt.env, args...)
			if code != 2 {
				t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr)
			}
			mustContain(t, "stderr", stderr, "cannot listen on "+busy)
			mustContain(t, "stderr", stderr, "in use")
		})
	}
}

// TestServeInProcess runs a whole serve cycle in-process: first start with a
// generated token, the API's token check, a clean stop on cancel, and two
// more starts that reuse the stored token or take one from the environment.
func TestServeInProcess(t *testing.T) {
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "new", "data") // serve creates it
	dbPath := filepath.Join(tmp, "elsewhere.db")
	seedQuietWindow(t, dbPath)
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--database", "sqlite://" + dbPath, "--log-level", "debug"}

	// First start: a token is generated and stored 0600; where it is
	// stored is printed, never the token.
	s := startInProc(t, nil, args...)
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode %v, want 0700", perm)
	}
	tokenPath := filepath.Join(dataDir, "token")
	fi, err = os.Stat(tokenPath)
	if err != nil {
		t.Fatalf("no token file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode %v, want 0600", perm)
	}
	raw, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	if _, err := hex.DecodeString(token); err != nil || len(token) != 40 {
		t.Errorf("stored token %q: want 40 hex digits", token)
	}
	stderr := s.stderr.String()
	if n := strings.Count(stderr, "generated an access token"); n != 1 {
		t.Errorf("stderr tells of a generated token %d times, want once:\n%s", n, stderr)
	}
	if strings.Contains(stderr, token) {
		t.Errorf("stderr shows the generated token:\n%s", stderr)
	}
	mustContain(t, "stderr", stderr, "stored in "+tokenPath)
	mustContain(t, "stderr", stderr, "butler: dashboard at "+s.url("/web")+"\n")
	mustContain(t, "stderr", stderr, "butler: data directory "+dataDir+"\n")
	if _, err := os.Stat(filepath.Join(dataDir, "butler.db")); err == nil {
		t.Errorf("a database was made in the data directory although --database points elsewhere")
	}

	resp, body := do(t, http.MethodGet, s.url("/healthz"), "")
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz without token: %d %q, want 200 \"ok\\n\"", resp.StatusCode, body)
	}
	if resp, _ := do(t, http.MethodGet, s.url("/identity"), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /identity without token: %d, want 200", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodGet, s.url("/butler"), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /butler without token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodGet, s.url("/butler"), "wrong-token-0000"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /butler with a wrong token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodPost, s.url("/butler/BackupDatabase?force=1"), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /butler/BackupDatabase without token: %d, want 401", resp.StatusCode)
	}
	resp, body = do(t, http.MethodGet, s.url("/butler"), token)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "BackupDatabase") {
		t.Errorf("GET /butler with the stored token: %d, want 200 listing BackupDatabase; body:\n%s", resp.StatusCode, body)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("run returned %d after cancel, want 0; stderr:\n%s", code, s.stderr)
	}
	mustContain(t, "stderr", s.stderr.String(), "butler: stopped")
	checkNoRunsRunning(t, dbPath)

	// Second start: the stored token is used and not printed again.
	s = startInProc(t, nil, args...)
	if strings.Contains(s.stderr.String(), "generated an access token") || strings.Contains(s.stderr.String(), token) {
		t.Errorf("second start printed a token again:\n%s", s.stderr)
	}
	if resp, _ := do(t, http.MethodGet, s.url("/butler"), token); resp.StatusCode != http.StatusOK {
		t.Errorf("second start: GET /butler with the stored token: %d, want 200", resp.StatusCode)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("second start: run returned %d after cancel, want 0; stderr:\n%s", code, s.stderr)
	}

	// Third start: BUTLER_TOKEN replaces the stored token, which stays.
	const envToken = "env-token-12345"
	s = startInProc(t, map[string]string{"BUTLER_TOKEN": envToken}, args...)
	if resp, _ := do(t, http.MethodGet, s.url("/butler"), envToken); resp.StatusCode != http.StatusOK {
		t.Errorf("BUTLER_TOKEN: GET /butler with it: %d, want 200", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodGet, s.url("/butler"), token); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("BUTLER_TOKEN: GET /butler with the stored token: %d, want 401", resp.StatusCode)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("third start: run returned %d after cancel, want 0; stderr:\n%s", code, s.stderr)
	}
	if raw2, err := os.ReadFile(tokenPath); err != nil || !bytes.Equal(raw, raw2) {
		t.Errorf("the stored token changed (err %v): was %q, now %q", err, raw, raw2)
	}
}

// TestServeTwoServersOneDataDir checks the data directory lock.
func TestServeTwoServersOneDataDir(t *testing.T) {
	dataDir := newDataDir(t)
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "first-token-123"}
	first := startInProc(t, nil, args...)

	code, _, stderr := runCmd(t, nil, append([]string{"serve"}, args...)...)
	if code != 2 {
		t.Fatalf("second server on the same data dir: exit code %d, want 2; stderr:\n%s", code, stderr)
	}
	mustContain(t, "stderr", stderr, "in use by another butler serve")
	mustContain(t, "stderr", stderr, dataDir)

	if resp, _ := do(t, http.MethodGet, first.url("/butler"), "first-token-123"); resp.StatusCode != http.StatusOK {
		t.Errorf("the first server no longer answers after the second was refused: %d", resp.StatusCode)
	}
	if code := first.stop(t); code != 0 {
		t.Errorf("first server: run returned %d, want 0; stderr:\n%s", code, first.stderr)
	}
	// The lock goes with the server: a new one starts.
	again := startInProc(t, nil, args...)
	if code := again.stop(t); code != 0 {
		t.Errorf("server started after the first stopped: run returned %d, want 0; stderr:\n%s", code, again.stderr)
	}
}

// checkNoRunsRunning opens the database and fails the test if it is damaged
// or a run is still marked running.
func checkNoRunsRunning(t *testing.T, dbPath string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("open the database after the server stopped: %v", err)
	}
	defer db.Close()
	var check string
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check after stop: %q, %v", check, err)
	}
	active, err := db.ActiveRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range active {
		if r.State == butler.StateRunning {
			t.Errorf("run %d of %s is still marked running after the server stopped", r.ID, r.Task)
		}
	}
}

func TestServeUnreachablePostgres(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"BUTLER_DATABASE": "postgresql://butler@127.0.0.1:1/butler?connect_timeout=2"}
	dataDir := filepath.Join(t.TempDir(), "data")
	code := run(t.Context(), []string{"serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &stdout, &stderr)
	// Exit code 1, not 2: PostgreSQL may still be starting, and a service
	// manager should try again (RestartPreventExitStatus=2).
	if code != 1 || !strings.Contains(stderr.String(), "cannot reach PostgreSQL at 127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %q; want 1 and a connection error", code, stderr.String())
	}
	// Nothing was created: not the data directory, not a token.
	if _, err := os.Stat(dataDir); err == nil {
		t.Errorf("the data directory %s was created although PostgreSQL could not be reached", dataDir)
	}
}

// TestServeTokenFile starts the server with --token-file and with
// BUTLER_TOKEN_FILE: the file's token is the access token, the data
// directory gets none, and a short or missing file is refused before
// anything is created.
func TestServeTokenFile(t *testing.T) {
	tmp := t.TempDir()
	tokenFile := filepath.Join(tmp, "token.txt")
	if err := os.WriteFile(tokenFile, []byte("file-token-123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--token-file", tokenFile}, nil},
		{"env", nil, map[string]string{"BUTLER_TOKEN_FILE": tokenFile}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			s := startInProc(t, c.env, append([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir}, c.args...)...)
			if resp, _ := do(t, http.MethodGet, s.url("/butler"), "file-token-123456"); resp.StatusCode != http.StatusOK {
				t.Errorf("GET /butler with the file's token: %d, want 200", resp.StatusCode)
			}
			if code := s.stop(t); code != 0 {
				t.Errorf("run returned %d; stderr:\n%s", code, s.stderr)
			}
			if _, err := os.Stat(filepath.Join(dataDir, "token")); err == nil {
				t.Error("a token was generated although --token-file gave one")
			}
			if strings.Contains(s.stderr.String(), "file-token-123456") {
				t.Errorf("stderr shows the token:\n%s", s.stderr)
			}
			mustContain(t, "stderr", s.stderr.String(), "access token from "+tokenFile)
		})
	}
	short := filepath.Join(tmp, "short.txt")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{
		{short, "the token file " + short + ": is shorter than 8 characters"},
		{filepath.Join(tmp, "absent"), "token file " + filepath.Join(tmp, "absent") + " (--token-file)"},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		code, _, stderr := runCmd(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token-file", c.file)
		if code != 2 {
			t.Errorf("--token-file %s: exit %d, want 2; stderr:\n%s", c.file, code, stderr)
		}
		mustContain(t, "stderr", stderr, c.want)
		if _, err := os.Stat(dataDir); err == nil {
			t.Errorf("--token-file %s: the data directory was created", c.file)
		}
	}
	if code, _, stderr := runCmd(t, nil, "serve", "--token", "abcdefghij", "--token-file", tokenFile); code != 2 || !strings.Contains(stderr, "both given") {
		t.Errorf("--token and --token-file: exit %d, stderr %q; want 2, both given", code, stderr)
	}
}

// TestServeDatabaseFilesPrivate starts the server on a data directory that
// exists with mode 0755 under a umask of 022: the database and its -wal
// and -shm files are 0600 all the same, and so is a database an older
// version left 0644.
func TestServeDatabaseFilesPrivate(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startInProc(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "private-token-1")
	db := filepath.Join(dataDir, "butler.db")
	for _, p := range []string{db, db + "-wal", db + "-shm", filepath.Join(dataDir, "machine-id")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", p, perm)
		}
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("run returned %d; stderr:\n%s", code, s.stderr)
	}
	// An older server's 0644 database is made private at the next start.
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	s = startInProc(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "private-token-1")
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a 0644 database after a start: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("run returned %d; stderr:\n%s", code, s.stderr)
	}
}

// TestServeFixedSettings starts the server with a config file that fixes
// the window's start hour: GET /:/prefs shows the file's value over the
// stored one, PUT /:/prefs of it answers 409 naming the file and the
// setting, and a setting the file leaves alone still changes. A missing
// program of the file is a warning, not a refusal.
func TestServeFixedSettings(t *testing.T) {
	tmp := t.TempDir()
	cfgPath := filepath.Join(tmp, "butler.yaml")
	writeFile(t, cfgPath, "settings:\n  ButlerStartHour: 1\ntasks:\n  Nightly:\n    exec: {argv: [/usr/local/bin/no-such-program-butler]}\n", 0o600)
	dataDir := filepath.Join(tmp, "data")
	const token = "fixed-token-123"
	s := startInProc(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", token, "--config", cfgPath)
	mustContain(t, "stderr", s.stderr.String(), "tasks.Nightly.exec.argv[0]: /usr/local/bin/no-such-program-butler: no such file or directory")

	resp, body := do(t, http.MethodGet, s.url("/:/prefs"), token)
	el := regexp.MustCompile(`<Setting id="ButlerStartHour"[^>]*>`).FindString(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(el, ` value="1"`) || !strings.Contains(el, ` default="2"`) || !strings.Contains(el, ` fixed="1"`) {
		t.Errorf("GET /:/prefs: %d, want 200 with ButlerStartHour 1, fixed, its default the built-in 2: %s\n%s", resp.StatusCode, el, body)
	}
	if el := regexp.MustCompile(`<Setting id="ButlerEndHour"[^>]*>`).FindString(body); strings.Contains(el, "fixed=") {
		t.Errorf("a setting the file leaves alone is marked fixed: %s", el)
	}
	resp, body = do(t, http.MethodPut, s.url("/:/prefs?ButlerStartHour=4"), token)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "ButlerStartHour") || !strings.Contains(body, cfgPath) {
		t.Errorf("PUT /:/prefs?ButlerStartHour=4: %d %s; want 409 naming the setting and %s", resp.StatusCode, body, cfgPath)
	}
	if resp, body := do(t, http.MethodPut, s.url("/:/prefs?ButlerEndHour=6"), token); resp.StatusCode != http.StatusOK {
		t.Errorf("PUT /:/prefs?ButlerEndHour=6: %d %s; want 200", resp.StatusCode, body)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("run returned %d; stderr:\n%s", code, s.stderr)
	}

	// A bad fixed setting stops a first start before anything is created.
	writeFile(t, cfgPath, "settings:\n  ButlerStartHour: 24\n  ButlerTimeZon: UTC\n  ButlerDatabaseBackupPath: backups\n", 0o600)
	fresh := filepath.Join(tmp, "fresh")
	code, _, stderr := runCmd(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", fresh, "--config", cfgPath)
	if code != 2 {
		t.Fatalf("bad fixed settings: exit %d, want 2; stderr:\n%s", code, stderr)
	}
	mustContain(t, "stderr", stderr, cfgPath+":2: settings.ButlerStartHour: 24 is out of range; use 0..23")
	mustContain(t, "stderr", stderr, cfgPath+":3: settings.ButlerTimeZon: unknown setting (did you mean ButlerTimeZone?)")
	mustContain(t, "stderr", stderr, cfgPath+`:4: settings.ButlerDatabaseBackupPath: "backups" is not an absolute path`)
	if _, err := os.Stat(fresh); err == nil {
		t.Error("the data directory was made although the config's settings are wrong")
	}
}

// TestServeDatabasePasswordFile keeps the PostgreSQL password off the
// command line and the environment: --database-password-file and
// BUTLER_DATABASE_PASSWORD_FILE put the file's first line in the URL, the
// password shows in no output, and a URL that holds a password already, an
// empty file or a missing one are refused before anything is created.
func TestServeDatabasePasswordFile(t *testing.T) {
	tmp := t.TempDir()
	pwFile := filepath.Join(tmp, "pw")
	writeFile(t, pwFile, "s3cret-pw\n", 0o600)
	got, err := withPasswordFile("postgres://butler@db.example:5432/butler?sslmode=disable", pwFile)
	if want := "postgres://butler:s3cret-pw@db.example:5432/butler?sslmode=disable"; err != nil || got != want {
		t.Errorf("withPasswordFile = %q, %v; want %q", got, err, want)
	}
	empty := filepath.Join(tmp, "empty")
	writeFile(t, empty, "\n", 0o600)
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"BUTLER_DATABASE": "postgres://butler:inline@127.0.0.1:1/butler"}, []string{"--database-password-file", pwFile}, "holds a password and a password file is given"},
		{map[string]string{"BUTLER_DATABASE": "postgres://butler@127.0.0.1:1/butler", "BUTLER_DATABASE_PASSWORD_FILE": empty}, nil, "database password file " + empty + " is empty"},
		{map[string]string{"BUTLER_DATABASE": "postgres://butler@127.0.0.1:1/butler"}, []string{"--database-password-file", filepath.Join(tmp, "absent")}, "database password file " + filepath.Join(tmp, "absent") + ": no such file"},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		code, _, stderr := runCmd(t, c.env, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 and %q", c.env, c.args, code, stderr, c.want)
		}
		if strings.Contains(stderr, "inline") || strings.Contains(stderr, "s3cret") {
			t.Errorf("stderr shows a password: %q", stderr)
		}
		if _, err := os.Stat(dataDir); err == nil {
			t.Error("the data directory was created")
		}
	}

	// A real server (PostgreSQL's trust authentication takes any password).
	if testing.Short() {
		t.Skip("PostgreSQL part skipped in -short mode")
	}
	url := pgtest.Database(t)
	s := startInProc(t, map[string]string{"BUTLER_DATABASE": url, "BUTLER_DATABASE_PASSWORD_FILE": pwFile},
		"--addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "data"), "--token", "pg-token-1234")
	if resp, _ := do(t, http.MethodGet, s.url("/butler"), "pg-token-1234"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /butler: %d, want 200", resp.StatusCode)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("run returned %d; stderr:\n%s", code, s.stderr)
	}
	if strings.Contains(s.stderr.String(), "s3cret") {
		t.Errorf("the server's output shows the password:\n%s", s.stderr)
	}
}

// TestServeWarnsOfOpenDataDir starts the server on a data directory
// others may write into: it starts, and logs the problem butler check
// reports.
func TestServeWarnsOfOpenDataDir(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o777); err != nil {
		t.Fatal(err)
	}
	s := startInProc(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "open-token-123")
	if code := s.stop(t); code != 0 {
		t.Errorf("run returned %d; stderr:\n%s", code, s.stderr)
	}
	mustContain(t, "stderr", s.stderr.String(), "level=WARN")
	mustContain(t, "stderr", s.stderr.String(), "data directory "+dataDir+" has mode 0777: other users may write into it; chmod 700 it")
}

// TestServeDataDirWithURICharacters: a data directory whose name holds
// '#', '?' or '%' holds the database, and two such directories two
// databases. SQLite reads the path inside a "file:" URI, where '#' and '?'
// end the path and %XX is decoded: written as it was, "srv#1" opened the
// file "srv" beside it, shared by a server on "srv#2" under another lock,
// and the backup, which escaped the path, found no database.
func TestServeDataDirWithURICharacters(t *testing.T) {
	base := t.TempDir()
	one, two := filepath.Join(base, "srv#1?a"), filepath.Join(base, "srv#2%41")
	s1 := startInProc(t, nil, "--addr", "127.0.0.1:0", "--data-dir", one, "--token", "first-token-123")
	s2 := startInProc(t, nil, "--addr", "127.0.0.1:0", "--data-dir", two, "--token", "second-token-12")
	for _, dir := range []string{one, two} {
		if _, err := os.Stat(filepath.Join(dir, "butler.db")); err != nil {
			t.Errorf("no database in the data directory %s: %v", dir, err)
		}
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("%s appeared beside the data directories", e.Name())
		}
	}

	c, err := client.New("http://"+s1.addr, client.WithToken("first-token-123"))
	if err != nil {
		t.Fatal(err)
	}
	start, err := c.StartTask(t.Context(), "BackupDatabase", client.Force())
	if err != nil || start.RunID == 0 {
		t.Fatalf("start BackupDatabase: %+v, %v", start, err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := c.Run(t.Context(), start.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == "finished" {
			if r.Outcome != "succeeded" {
				t.Fatalf("BackupDatabase in %s: %s: %s", one, r.Outcome, r.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BackupDatabase still %s after 60 s", r.State)
		}
	}
	var backups []string
	files, _ := os.ReadDir(filepath.Join(one, "Backups"))
	for _, f := range files {
		if strings.HasPrefix(f.Name(), "butler-") && strings.HasSuffix(f.Name(), ".db") {
			backups = append(backups, f.Name())
		}
	}
	if len(backups) != 1 {
		t.Errorf("backups in %s: %v, want one", one, backups)
	}
	for _, s := range []*inProcServer{s1, s2} {
		if code := s.stop(t); code != 0 {
			t.Errorf("run returned %d, want 0; stderr:\n%s", code, s.stderr)
		}
	}
}

// TestServeRefusesAnUnreadableMachineID: a machine-id the server's user
// cannot read (copied by root from the old machine, as moving a server
// asks) stops the server, exit 2, the file untouched. It used to be
// replaced by a new identifier, and the clients saw a new server.
func TestServeRefusesAnUnreadableMachineID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the server as another user")
	}
	base, own := binaryForOthers(t)
	const nobody = 65534
	dataDir := filepath.Join(base, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dataDir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef01234567"
	idPath := filepath.Join(dataDir, "machine-id")
	if err := os.WriteFile(idPath, []byte(id+"\n"), 0o600); err != nil { // root's
		t.Fatal(err)
	}
	cmd := exec.Command(own, "serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--token", "machine-id-token-1")
	cmd.Dir = base
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + base}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err2 error
	select {
	case err2 = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the server did not refuse to start; output:\n%s", out.String())
	}
	var ee *exec.ExitError
	if !errors.As(err2, &ee) || ee.ExitCode() != 2 {
		t.Errorf("exit: %v, want status 2; output:\n%s", err2, out.String())
	}
	mustContain(t, "output", out.String(), "machine-id")
	if got := strings.TrimSpace(string(readFile(t, idPath))); got != id {
		t.Errorf("machine-id is now %s, was %s", got, id)
	}
}
