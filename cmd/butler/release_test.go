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
