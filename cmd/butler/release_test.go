package main

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plexbutler/butler/tasks"
)

// TestReleaseScript runs scripts/release.sh into a temporary directory and
// checks what it made: a static Linux binary for amd64 and one for arm64,
// named for the version, whose SHA-256 sums are in SHA256SUMS; the amd64
// one (run here when this machine is amd64) reports the version.
func TestReleaseScript(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds butler twice; skipped with -short")
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "release.sh"))
	cmd.Env = append(os.Environ(), "OUT="+out, "VERSION=v0.0.0-releasetest")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release.sh: %v\n%s", err, b)
	}
	sums, err := os.Open(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	want := map[string]elf.Machine{
		"butler-v0.0.0-releasetest-linux-amd64": elf.EM_X86_64,
		"butler-v0.0.0-releasetest-linux-arm64": elf.EM_AARCH64,
	}
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		machine, known := want[name]
		if !ok || !known {
			t.Errorf("SHA256SUMS line %q: not one of %v", sc.Text(), want)
			continue
		}
		delete(want, name)
		path := filepath.Join(out, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file's is %x", name, sum, h)
		}
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		libs, _ := f.ImportedLibraries()
		var interp bool
		for _, p := range f.Progs {
			interp = interp || p.Type == elf.PT_INTERP
		}
		if f.Machine != machine || len(libs) > 0 || interp {
			t.Errorf("%s: machine %v (want %v), libraries %v, interpreter %v: want a static binary", name, f.Machine, machine, libs, interp)
		}
		f.Close()
	}
	if len(want) > 0 {
		t.Errorf("SHA256SUMS lacks %v", want)
	}
	amd64 := filepath.Join(out, "butler-v0.0.0-releasetest-linux-amd64")
	b, err := exec.Command(amd64, "version", "-o", "json").Output()
	if err != nil {
		t.Skipf("cannot run the amd64 binary here (%v)", err)
	}
	var v versionInfo
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != "v0.0.0-releasetest" || v.BuildDate == "" || v.Platform != "linux/amd64" {
		t.Errorf("the release binary reports %+v", v)
	}
}

// TestReleaseVersion: the version scripts/release.sh gives a build is a
// semantic version CheckForUpdates can compare, in a repository without a
// tag, on a tag, after one, and with uncommitted changes.
func TestReleaseVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "release.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "scripts", "release.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "VERSION=")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = repo, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	version := func() string {
		t.Helper()
		cmd := exec.Command("bash", "scripts/release.sh", "--print-version")
		cmd.Dir, cmd.Env = repo, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("release.sh --print-version: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, "f"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("1")
	git("add", ".")
	git("commit", "-q", "-m", "one")
	sha := git("rev-parse", "--short", "HEAD")
	check := func(what, want, sameAs string) {
		t.Helper()
		got := version()
		if got != want {
			t.Errorf("%s: version %q; want %q", what, got, want)
		}
		if c, err := tasks.CompareVersions(got, sameAs); err != nil || c != 0 {
			t.Errorf("%s: %q compared with %q: %d, %v; want a semantic version equal to it", what, got, sameAs, c, err)
		}
	}
	check("no tag", "0.1.0-dev+g"+sha, "0.1.0-dev")
	write("2")
	check("no tag, changed", "0.1.0-dev+g"+sha+".dirty", "0.1.0-dev")
	git("commit", "-q", "-am", "two")
	git("tag", "v1.2.0")
	check("on a tag", "v1.2.0", "v1.2.0")
	write("3")
	git("commit", "-q", "-am", "three")
	sha = git("rev-parse", "--short", "HEAD")
	check("a commit after the tag", "v1.2.0+1.g"+sha, "v1.2.0")
	write("4")
	check("after the tag, changed", "v1.2.0+1.g"+sha+".dirty", "v1.2.0")
}
