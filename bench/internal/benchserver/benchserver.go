// Package benchserver is what the benchmark programs share: building the
// butler binary, running `butler serve` as a child process until it serves,
// and writing a program's markdown section.
package benchserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Binary returns bin, or, when bin is "", builds cmd/butler
// (CGO_ENABLED=0) into dir and returns its path.
func Binary(bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "butler")
	if err := Build(context.Background(), bin, true); err != nil {
		return "", err
	}
	return bin, nil
}

// Build builds cmd/butler of the main module (the working tree this module
// sits in, through its replace directive) into bin, with the main module's
// own go.mod, as `go build ./cmd/butler` at the repository root does.
// static sets CGO_ENABLED=0, as the release binary is built.
func Build(ctx context.Context, bin string, static bool) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/plexbutler/butler").Output()
	root := strings.TrimSpace(string(out))
	if err != nil || root == "" {
		return fmt.Errorf("find the butler module (go list -m github.com/plexbutler/butler): %v; run this inside the repository's bench/ directory", err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/butler")
	build.Dir = root
	if static {
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build butler (go build ./cmd/butler in %s): %v\n%s", root, err, b)
	}
	return nil
}

var servingRE = regexp.MustCompile(`msg="butler: serving" addr=(\S+)`)

// Server is a `butler serve` child process. The kernel kills it should the
// benchmark die first.
type Server struct {
	// URL is the server's base URL, http://ADDR.
	URL string
	cmd *exec.Cmd
}

// Start runs `bin serve args...` and returns once it logs the address it
// serves on (within 60 s). The caller must call Stop.
func Start(bin string, args ...string) (*Server, error) {
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() { // ends when the process closes its standard error
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
	}()
	s := &Server{cmd: cmd}
	select {
	case a := <-addr:
		s.URL = "http://" + a
		return s, nil
	case <-time.After(60 * time.Second):
		s.Stop()
		return nil, errors.New("butler serve did not start within 60 s")
	}
}

// Stop sends SIGTERM and waits for the process to end.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// Output writes a program's section to path, or to standard output when
// path is "", and exits 1 with the program's name when err is not nil.
func Output(program, path, text string, err error) {
	if err == nil && path != "" {
		err = os.WriteFile(path, []byte(text), 0o644)
	} else if err == nil {
		fmt.Print(text)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(1)
	}
}
