package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/internal/config"
	"github.com/plexbutler/butler/internal/pgtest"
)

// writeFile writes content to path with mode perm (whatever the umask).
func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// TestCheckClean checks a config whose every path is there, on a free
// port and a data directory still to be made: exit 0, "no problems
// found", and nothing created.
func TestCheckClean(t *testing.T) {
	tmp := t.TempDir()
	prog := filepath.Join(tmp, "nightly.sh")
	writeFile(t, prog, "#!/bin/sh\nexit 0\n", 0o755)
	db := filepath.Join(tmp, "plex.db")
	seedQuietWindow(t, db) // a real SQLite database
	cache := filepath.Join(tmp, "cache")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(tmp, "butler.yaml")
	writeFile(t, cfgPath, `
settings:
  ButlerStartHour: 1
  ButlerTimeZone: Europe/Berlin
databases:
  - {name: plex, path: `+db+`, backup_dir: `+filepath.Join(tmp, "backups", "plex")+`}
caches:
  - path: `+cache+`
tasks:
  Nightly:
    exec: {argv: [`+prog+`], dir: `+tmp+`}
`, 0o600)
	dataDir := filepath.Join(tmp, "data")
	code, stdout, stderr := runCmd(t, nil, "check", "--config", cfgPath, "--data-dir", dataDir, "--addr", "127.0.0.1:0")
	if code != 0 || stdout != "no problems found\n" {
		t.Fatalf("butler check: exit %d, stdout:\n%s\nstderr:\n%s\nwant 0 and no problems", code, stdout, stderr)
	}
	if _, err := os.Stat(dataDir); err == nil {
		t.Error("butler check created the data directory")
	}
	if _, err := os.Stat(filepath.Join(tmp, "backups")); err == nil {
		t.Error("butler check created a backup directory")
	}
}

// TestCheckFindsProblems checks a config with a missing program, a program
// that is not executable, a missing working directory, a missing database,
// a cache path that is a file, a bad fixed setting, a data directory others
// may write into with a token others may read, and a port another program
// holds: one line each, exit 1.
func TestCheckFindsProblems(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()

	tmp := t.TempDir()
	notExec := filepath.Join(tmp, "notexec.sh")
	writeFile(t, notExec, "#!/bin/sh\n", 0o644)
	aFile := filepath.Join(tmp, "afile")
	writeFile(t, aFile, "x", 0o600)
	dataDir := filepath.Join(tmp, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o777); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dataDir, "token"), "0123456789abcdef\n", 0o644)
	cfgPath := filepath.Join(tmp, "butler.yaml")
	writeFile(t, cfgPath, `settings:
  ButlerStartHour: 25
databases:
  - {name: plex, path: `+filepath.Join(tmp, "missing.db")+`}
caches:
  - path: `+aFile+`
tasks:
  Typo:
    exec: {argv: [/usr/local/bin/no-such-program-butler]}
  NotExec:
    exec:
      argv: [`+notExec+`]
      dir: `+filepath.Join(tmp, "nodir")+`
`, 0o600)

	code, stdout, _ := runCmd(t, nil, "check", "--config", cfgPath, "--data-dir", dataDir, "--addr", busy)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout:\n%s", code, stdout)
	}
	want := []string{
		"cannot listen on " + busy + ": the port is in use",
		cfgPath + ":2: settings.ButlerStartHour: 25 is out of range; use 0..23",
		cfgPath + ":9: tasks.Typo.exec.argv[0]: /usr/local/bin/no-such-program-butler: no such file or directory; the task would fail when it runs",
		cfgPath + ":12: tasks.NotExec.exec.argv[0]: " + notExec + " is not executable by this user (mode -rw-r--r--)",
		cfgPath + ":13: tasks.NotExec.exec.dir: working directory " + filepath.Join(tmp, "nodir") + ": no such file or directory",
		cfgPath + ":4: databases[0].path: " + filepath.Join(tmp, "missing.db") + ": no such file or directory",
		cfgPath + ":6: caches[0].path: cache directory " + aFile + " is not a directory; CleanOldCacheFiles will skip it",
		"data directory " + dataDir + " has mode 0777: other users may write into it; chmod 700 it",
		filepath.Join(dataDir, "token") + " has mode 0644: other users may read it; chmod 600 it",
	}
	got := lines(stdout)
	for _, w := range want {
		found := false
		for _, l := range got {
			found = found || strings.HasPrefix(l, w)
		}
		if !found {
			t.Errorf("no line begins %q; stdout:\n%s", w, stdout)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d lines, want %d (one per problem):\n%s", len(got), len(want), stdout)
	}
}

// TestCheckConfigErrors reports every problem of a config that does not
// parse, exit 1, and a damaged database.
func TestCheckConfigErrors(t *testing.T) {
	tmp := t.TempDir()
	cfgPath := filepath.Join(tmp, "butler.yaml")
	writeFile(t, cfgPath, "adr: x\nlog_level: loud\n", 0o600)
	code, stdout, _ := runCmd(t, nil, "check", "--config", cfgPath, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "d"))
	if code != 1 || len(lines(stdout)) != 2 {
		t.Fatalf("exit %d, stdout:\n%s\nwant 1 and two lines", code, stdout)
	}
	mustContain(t, "stdout", stdout, cfgPath+":1: adr: unknown key (did you mean addr?)")
	mustContain(t, "stdout", stdout, cfgPath+`:2: log_level: "loud" is not a log level`)

	dataDir := filepath.Join(tmp, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dataDir, "butler.db"), strings.Repeat("not a database ", 300), 0o600)
	code, stdout, _ = runCmd(t, nil, "check", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 1 {
		t.Fatalf("damaged database: exit %d, stdout:\n%s", code, stdout)
	}
	mustContain(t, "stdout", stdout, "database "+filepath.Join(dataDir, "butler.db")+": ")
	mustContain(t, "stdout", stdout, "not a SQLite database")
}

// TestCheckClock reports a clock set before the program was built, and
// a TZ that names no zone.
func TestCheckClock(t *testing.T) {
	built := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cfg := serveConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Database: filepath.Join(t.TempDir(), "b.db"), file: emptyConfigFile()}
	env := checkEnv{getenv: func(string) string { return "" }, now: func() time.Time { return built.Add(-time.Hour) }, built: built}
	problems := runChecks(t.Context(), cfg, env)
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "clock: the system clock says 2026-11-01T11:00:00Z, before this program was built (2026-11-01T12:00:00Z)") {
		t.Errorf("problems = %q, want one about the clock", problems)
	}
	env.now = func() time.Time { return built.Add(time.Hour) }
	if problems := runChecks(t.Context(), cfg, env); len(problems) != 0 {
		t.Errorf("a clock after the build: problems %q", problems)
	}
	env.getenv = func(k string) string { return map[string]string{"TZ": "Mars/Olympus"}[k] }
	if problems := runChecks(t.Context(), cfg, env); len(problems) != 1 || !strings.HasPrefix(problems[0], "time zone: TZ=Mars/Olympus names no zone") {
		t.Errorf("TZ=Mars/Olympus: problems %q, want one about the zone", problems)
	}
}

// TestCheckUnwritable reports a data directory, a database and the backup
// directory that cannot be created: under a file, and (not as root) under
// a read-only directory.
func TestCheckUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "x", 0o600)
	under := filepath.Join(file, "data")
	code, stdout, _ := runCmd(t, nil, "check", "--addr", "127.0.0.1:0", "--data-dir", under)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout:\n%s", code, stdout)
	}
	for _, w := range []string{
		"backup directory (ButlerDatabaseBackupPath) " + filepath.Join(under, "Backups") + ": not a directory",
		"data directory " + under + ": not a directory",
		"database " + filepath.Join(under, "butler.db") + ": not a directory",
	} {
		mustContain(t, "stdout", stdout, w+"\n")
	}

	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	dataDir := filepath.Join(ro, "data")
	code, stdout, _ = runCmd(t, nil, "check", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout:\n%s", code, stdout)
	}
	want := []string{
		"backup directory (ButlerDatabaseBackupPath) " + filepath.Join(dataDir, "Backups") + " does not exist and cannot be created: " + ro + " is not writable by this user",
		"data directory " + dataDir + " does not exist and cannot be created: " + ro + " is not writable by this user",
		"database directory " + dataDir + " does not exist and cannot be created: " + ro + " is not writable by this user",
	}
	if got := lines(stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, strings.Join(want, "\n"))
	}
}

// TestCheckPostgres reports a PostgreSQL server that cannot be reached,
// with the URL's password hidden, and none for one that can.
func TestCheckPostgres(t *testing.T) {
	env := map[string]string{"BUTLER_DATABASE": "postgres://butler:hunter22@127.0.0.1:1/butler?connect_timeout=2"}
	code, stdout, _ := runCmd(t, env, "check", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"))
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout:\n%s", code, stdout)
	}
	mustContain(t, "stdout", stdout, "database postgres://butler:xxxxx@127.0.0.1:1/butler?connect_timeout=2: cannot reach PostgreSQL at 127.0.0.1:1")
	if strings.Contains(stdout, "hunter22") {
		t.Errorf("stdout shows the password:\n%s", stdout)
	}
	if testing.Short() {
		t.Skip("PostgreSQL part skipped in -short mode")
	}
	env["BUTLER_DATABASE"] = pgtest.Database(t)
	if code, stdout, _ := runCmd(t, env, "check", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data")); code != 0 {
		t.Errorf("a reachable PostgreSQL: exit %d, stdout:\n%s", code, stdout)
	}
	// The password file, as serve takes it: the flag exists, and the
	// password goes with the URL.
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("not-needed-with-trust\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCmd(t, env, "check", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"), "--database-password-file", pw); code != 0 {
		t.Errorf("--database-password-file: exit %d, stdout:\n%s%s", code, stdout, stderr)
	}
}

// TestProcessCheckNextToServer: check run beside a server on the same data
// directory does not count the server's own port as a problem, and says
// that a server runs there.
func TestProcessCheckNextToServer(t *testing.T) {
	dataDir := newDataDir(t)
	p := startProc(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token", "check-token-123456")
	code, stdout, _ := runCmd(t, nil, "check", "--data-dir", dataDir, "--addr", p.addr)
	if code != 0 {
		t.Fatalf("check beside a running server: exit %d:\n%s", code, stdout)
	}
	mustContain(t, "stdout", stdout, fmt.Sprintf("a server runs on this data directory (pid %d", p.cmd.Process.Pid))
	// Another data directory, the same port: the port is a problem.
	if code, stdout, _ := runCmd(t, nil, "check", "--data-dir", newDataDir(t), "--addr", p.addr); code != 1 || !strings.Contains(stdout, "the port is in use") {
		t.Errorf("check of another data directory on the server's port: exit %d:\n%s", code, stdout)
	}
}

// TestCheckLibraries reports each library folder that is missing (saying
// that a cluster's nodes need it at the same path), not a directory, or
// unreadable, and an ffprobe that is not found, not executable, or does
// not run; a readable folder and a working ffprobe pass.
func TestCheckLibraries(t *testing.T) {
	tmp := t.TempDir()
	good := filepath.Join(tmp, "movies")
	if err := os.Mkdir(good, 0o755); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(tmp, "afile")
	writeFile(t, aFile, "x", 0o600)
	missing := filepath.Join(tmp, "usb", "films")
	check := func(t *testing.T, yaml string) []string {
		t.Helper()
		cfgPath := filepath.Join(t.TempDir(), "butler.yaml")
		writeFile(t, cfgPath, yaml, 0o600)
		f, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		return checkTasks(f, checkEnv{})
	}

	// Folders.
	problems := check(t, `libraries:
  - name: Movies
    kind: movies
    folders:
      - `+good+`
      - `+missing+`
  - {name: Shows, kind: shows, folders: [`+aFile+`]}
media:
  ffprobe: /bin/true
`)
	want := []string{
		":6: libraries[0].folders[1]: library Movies: folder " + missing + " does not exist on this server (a disk not mounted?); RefreshLibraries will fail on it, leaving its items as they are. In a cluster every node must have it at this same path",
		":7: libraries[1].folders[0]: library Shows: folder " + aFile + " is not a directory; give the directory that holds the library's files",
	}
	if len(problems) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(problems, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.HasSuffix(problems[i], w) || !strings.Contains(problems[i], "butler.yaml:") {
			t.Errorf("problem %d = %s\nwant it to end %s", i, problems[i], w)
		}
	}

	// butler check prints the same lines and exits 1.
	cfgPath := filepath.Join(tmp, "butler.yaml")
	writeFile(t, cfgPath, "libraries:\n  - {name: Movies, kind: movies, folders: ["+missing+"]}\nmedia: {ffprobe: /bin/true}\n", 0o600)
	code, stdout, _ := runCmd(t, nil, "check", "--config", cfgPath, "--data-dir", filepath.Join(tmp, "data"), "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stdout, cfgPath+":2: libraries[0].folders[0]: library Movies: folder "+missing+" does not exist on this server") {
		t.Errorf("butler check: exit %d, stdout:\n%s\nwant 1 and the missing folder", code, stdout)
	}

	// ffprobe: missing, not executable, failing, and the real one.
	notExec := filepath.Join(tmp, "ffprobe-noexec")
	writeFile(t, notExec, "#!/bin/sh\nexit 0\n", 0o644)
	failing := filepath.Join(tmp, "ffprobe-broken")
	writeFile(t, failing, "#!/bin/sh\necho 'error while loading shared libraries: libavformat.so.61' >&2\nexit 127\n", 0o755)
	for _, c := range []struct {
		name, ffprobe, want string
	}{
		{"not found", "ffprobe-no-such-butler", `:4: media.ffprobe: ffprobe "ffprobe-no-such-butler" is not found in PATH`},
		{"absent path", filepath.Join(tmp, "nope", "ffprobe"), ":4: media.ffprobe: ffprobe " + filepath.Join(tmp, "nope", "ffprobe") + " cannot be run by this user (no such file or directory)"},
		{"not executable", notExec, ":4: media.ffprobe: ffprobe " + notExec + " cannot be run by this user (permission denied)"},
		{"failing", failing, ":4: media.ffprobe: ffprobe " + failing + " does not run (exit status 127: error while loading shared libraries: libavformat.so.61)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// media.ffmpeg set to the real one (or /bin/true): ffprobe's problem alone.
			problems := check(t, "libraries:\n  - {name: M, kind: movies, folders: ["+good+"]}\nmedia:\n  ffprobe: "+c.ffprobe+"\n  ffmpeg: /bin/true\n")
			if len(problems) != 1 || !strings.Contains(problems[0], c.want) || !strings.Contains(problems[0], "install FFmpeg") {
				t.Errorf("problems:\n%s\nwant one containing %q and how to install FFmpeg", strings.Join(problems, "\n"), c.want)
			}
		})
	}
	if _, err := exec.LookPath("ffprobe"); err == nil {
		if problems := check(t, "libraries:\n  - {name: M, kind: movies, folders: ["+good+"]}\n"); len(problems) != 0 {
			t.Errorf("a readable folder and the installed ffprobe: problems\n%s", strings.Join(problems, "\n"))
		}
	}
	// No library and no ffprobe given: ffprobe is not looked for.
	t.Setenv("PATH", tmp)
	if problems := check(t, "media:\n  nice: 5\n"); len(problems) != 0 {
		t.Errorf("without libraries: problems\n%s", strings.Join(problems, "\n"))
	}
	if problems := check(t, "libraries:\n  - {name: M, kind: movies, folders: ["+good+"]}\n"); len(problems) != 2 ||
		!strings.Contains(problems[0], `media.ffprobe: ffprobe "ffprobe" is not found in PATH (`+tmp+`)`) ||
		!strings.Contains(problems[1], `media.ffmpeg: ffmpeg "ffmpeg" is not found in PATH (`+tmp+`)`) ||
		!strings.Contains(problems[1], "LoudnessAnalysis, GenerateMediaIndexFiles, GenerateChapterThumbs and the intro and credits markers will fail without it") {
		t.Errorf("a library and no ffprobe or ffmpeg in PATH: problems\n%s", strings.Join(problems, "\n"))
	}
	// An ffprobe given as a path: ffmpeg is looked for beside it.
	alone := filepath.Join(tmp, "ffprobe-alone", "ffprobe")
	if err := os.MkdirAll(filepath.Dir(alone), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, alone, "#!/bin/sh\nexit 0\n", 0o755)
	if problems := check(t, "libraries:\n  - {name: M, kind: movies, folders: ["+good+"]}\nmedia: {ffprobe: "+alone+"}\n"); len(problems) != 1 ||
		!strings.Contains(problems[0], "media.ffmpeg: ffmpeg "+filepath.Join(filepath.Dir(alone), "ffmpeg")+" cannot be run by this user (no such file or directory)") {
		t.Errorf("ffprobe in /bin, no ffmpeg there: problems\n%s", strings.Join(problems, "\n"))
	}

	t.Run("unreadable folder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads every folder")
		}
		locked := filepath.Join(tmp, "locked")
		if err := os.Mkdir(locked, 0o000); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(locked, 0o700) })
		problems := check(t, "libraries:\n  - {name: M, kind: movies, folders: ["+locked+"]}\nmedia: {ffprobe: /bin/true}\n")
		if len(problems) != 1 || !strings.Contains(problems[0], "folder "+locked+" cannot be read by this user (mode ----------)") {
			t.Errorf("an unreadable folder: problems\n%s", strings.Join(problems, "\n"))
		}
	})
}
