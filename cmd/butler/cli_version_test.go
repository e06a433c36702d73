package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionBuiltBinary builds butler as a release does (version control
// stamping on, a version and build date by -ldflags) and checks that
// `butler version` reports the module version, a commit of this repository
// with its time, and the build date.
func TestVersionBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the butler binary; skipped with -short")
	}
	gitTool, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git: the build has no commit to report")
	}
	if out, err := exec.Command(gitTool, "rev-parse", "--git-dir").CombinedOutput(); err != nil {
		t.Skipf("not in a git checkout (%v: %s): the build has no commit to report", err, out)
	}
	bin := filepath.Join(t.TempDir(), "butler")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin,
		"-ldflags", "-X main.version=v9.8.7 -X main.buildDate=2031-02-03T04:05:06Z", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--output", "json").Output()
	if err != nil {
		t.Fatalf("butler version: %v", err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("butler version --output json: %v\n%s", err, out)
	}
	if v.Version != "v9.8.7" || v.BuildDate != "2031-02-03T04:05:06Z" {
		t.Errorf("version %q, build date %q: want the -ldflags values v9.8.7 and 2031-02-03T04:05:06Z", v.Version, v.BuildDate)
	}
	if v.Module != "github.com/plexbutler/butler" {
		t.Errorf("module %q", v.Module)
	}
	// Built in a checkout, the module version is a pseudo-version naming
	// the commit (or a tag), never empty or "(devel)".
	if v.ModVersion == "" || v.ModVersion == "(devel)" {
		t.Errorf("module version %q: want one derived from the commit", v.ModVersion)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(v.Commit) {
		t.Fatalf("commit %q: want a full git hash", v.Commit)
	}
	if !strings.Contains(v.ModVersion, v.Commit[:12]) && !strings.HasPrefix(v.ModVersion, "v") {
		t.Errorf("module version %q does not name commit %s", v.ModVersion, v.Commit)
	}
	if err := exec.Command(gitTool, "cat-file", "-e", v.Commit+"^{commit}").Run(); err != nil {
		t.Errorf("commit %s is not a commit of this repository: %v", v.Commit, err)
	}
	if v.CommitTime == "" {
		t.Error("no commit time")
	}
	text, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"butler v9.8.7\n", "commit:      " + v.Commit, "built:       2031-02-03T04:05:06Z"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("butler version lacks %q:\n%s", want, text)
		}
	}
}

// TestVersionWithoutBuildInfo: a binary without build information still
// says what it knows, and says what it does not.
func TestVersionWithoutBuildInfo(t *testing.T) {
	var b strings.Builder
	if err := readVersion(nil, false).write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"butler " + version, "commit:      unknown (built without version control information)", "built:       unknown"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m", Version: "v1.0.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"}}}
	v := readVersion(info, true)
	if v.Commit != "abc" || !v.Modified || v.Platform != "linux/arm64" || v.ModVersion != "v1.0.0" {
		t.Errorf("readVersion = %+v", v)
	}
}
