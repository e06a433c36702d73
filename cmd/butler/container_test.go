package main

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// dockerfilePath is the shipped container file, from the package's
// directory; the build context is the repository's root.
const (
	dockerfilePath = "../../packaging/Dockerfile"
	repoRoot       = "../.."
)

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		more := strings.HasSuffix(line, "\\")
		cur.WriteString(strings.TrimSuffix(line, "\\"))
		cur.WriteString(" ")
		if more {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfile checks the container file: a Go build stage of the
// module's Go version and a separate run stage, a non-root user, the data
// directory a volume, listening beyond the container's loopback on the
// exposed port, and a HEALTHCHECK through `butler health`. It then runs the
// build stage's command here and checks that it makes a static binary that
// reports the build's version; with a Docker daemon it builds the image.
func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)
	var froms []string
	env := map[string]string{}
	var user, volume, expose, health, buildRun, entry, install string
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "USER":
			user = in.args
		case "VOLUME":
			volume = in.args
		case "EXPOSE":
			expose = in.args
		case "HEALTHCHECK":
			health = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "RUN":
			if strings.Contains(in.args, "go build") {
				buildRun = in.args
			}
			if strings.Contains(in.args, "apt-get install") {
				install = in.args
			}
		}
	}
	if len(froms) != 2 || !strings.HasSuffix(froms[0], " AS build") || !strings.HasPrefix(froms[0], "golang:") {
		t.Fatalf("FROM %q: want a golang build stage (AS build), then the run stage", froms)
	}
	if strings.HasPrefix(froms[1], "golang:") {
		t.Errorf("the run stage is %q: it should not carry the Go toolchain", froms[1])
	}
	// The builder's Go is the module's.
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil || !strings.HasPrefix(froms[0], "golang:"+string(goVer[1])+"-") {
		t.Errorf("build stage %q: want golang:%s (go.mod's go line)", froms[0], goVer[1])
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("USER %q: want a user other than root", user)
	}
	if dir := env["BUTLER_DATA_DIR"]; dir == "" || !strings.Contains(volume, `"`+dir+`"`) {
		t.Errorf("VOLUME %s does not hold BUTLER_DATA_DIR %q", volume, dir)
	}
	host, port, err := net.SplitHostPort(env["BUTLER_ADDR"])
	if err != nil || host != "0.0.0.0" {
		t.Errorf("BUTLER_ADDR %q: want 0.0.0.0:PORT, reachable through the published port", env["BUTLER_ADDR"])
	}
	if _, def, _ := net.SplitHostPort(defaultAddr); port != def {
		t.Errorf("the container listens on port %s, not Butler's default %s", port, def)
	}
	if expose != port {
		t.Errorf("EXPOSE %q, but BUTLER_ADDR listens on port %q", expose, port)
	}
	if u, err := url.Parse(env["BUTLER_URL"]); err != nil || u.Port() != port || u.Hostname() != "127.0.0.1" {
		t.Errorf("BUTLER_URL %q: want http://127.0.0.1:%s, where the health check and the CLI find the server", env["BUTLER_URL"], port)
	}
	// Butler is not an init: process 1 must reap the orphans that tasks
	// leave (each zombie holds a process id, which a container's pids
	// limit counts).
	if entry != `["/usr/bin/tini", "--", "butler"]` || !regexp.MustCompile(`install .*\btini\b`).MatchString(install) {
		t.Errorf("ENTRYPOINT %s (installing: %q): want tini as process 1, [\"/usr/bin/tini\", \"--\", \"butler\"], installed from Debian", entry, install)
	}
	if !strings.Contains(health, `CMD ["butler", "health"`) {
		t.Errorf("HEALTHCHECK %q: want CMD [\"butler\", \"health\", ...]", health)
	}
	if !strings.Contains(buildRun, "CGO_ENABLED=0") || !strings.Contains(buildRun, "-o /out/butler ./cmd/butler") {
		t.Fatalf("build RUN %q: want CGO_ENABLED=0 go build ... -o /out/butler ./cmd/butler", buildRun)
	}

	if testing.Short() {
		t.Skip("the build stage's command builds butler; skipped with -short")
	}
	out := t.TempDir()
	sh := exec.Command("sh", "-ec", strings.ReplaceAll(buildRun, "/out/", out+"/"))
	sh.Dir = repoRoot
	sh.Env = append(os.Environ(), "VERSION=v1.2.3-test", "COMMIT=0123456789abcdef0123456789abcdef01234567", "BUILD_DATE=2030-01-02T03:04:05Z")
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the build stage's command: %v\n%s", err, b)
	}
	bin := filepath.Join(out, "butler")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	interp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	f.Close()
	if len(libs) > 0 || interp {
		t.Errorf("the binary is not static: libraries %v, interpreter %v", libs, interp)
	}
	b, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != "v1.2.3-test" || v.Commit != "0123456789abcdef0123456789abcdef01234567" || v.BuildDate != "2030-01-02T03:04:05Z" {
		t.Errorf("butler version in the image would say %+v: want the build args", v)
	}

	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Log("no docker: the image itself was not built")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, docker, "info").Run(); err != nil {
		t.Logf("docker cannot reach a daemon (%v): the image itself was not built", err)
		return
	}
	build := exec.Command(docker, "build", "-q", "-f", "packaging/Dockerfile", "-t", "butler-test:latest", ".")
	build.Dir = repoRoot
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, b)
	}
	if b, err := exec.Command(docker, "run", "--rm", "butler-test:latest", "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "butler ") {
		t.Fatalf("docker run butler-test version: %v\n%s", err, b)
	}
}

func TestNoInitWarning(t *testing.T) {
	if w := noInitWarning(1); !strings.Contains(w, "process 1") || !strings.Contains(w, "--init") {
		t.Errorf("as process 1: %q; want a warning that names an init", w)
	}
	if w := noInitWarning(4242); w != "" {
		t.Errorf("as process 4242: %q; want none", w)
	}
}
