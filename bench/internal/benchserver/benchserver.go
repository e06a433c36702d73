// Package benchserver is what the benchmark programs share: building the
// butler binary, running `butler serve` as a child process until it serves
// and stopping it, and writing a program's markdown section.
package benchserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
	// Addr is the address it serves on, HOST:PORT.
	Addr string

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has ended
	waitErr error         // what Wait returned; read after done
	log     *output
}

// output is the process's standard output and error, as far as read.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) add(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.WriteString(line)
	o.b.WriteByte('\n')
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Start runs `bin serve args...` and returns once it logs the address it
// serves on (within 60 s). The caller must call Stop or Kill.
func Start(bin string, args ...string) (*Server, error) {
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), log: &output{}}
	addr := make(chan string, 1)
	go func() { // ends when the process has ended and its output is read
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			s.log.add(sc.Text())
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() { // ends with the process
		s.waitErr = cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	select {
	case a := <-addr:
		s.Addr, s.URL = a, "http://"+a
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("butler serve exited before serving (%v):\n%s", s.waitErr, s.log)
	case <-time.After(60 * time.Second):
		s.Kill()
		return nil, fmt.Errorf("butler serve did not start within 60 s:\n%s", s.log)
	}
}

// Log returns what the process has written on its standard output and
// error so far.
func (s *Server) Log() string { return s.log.String() }

// Stop sends SIGTERM and waits for the process to end: for as long as it
// takes when grace is 0, else for grace, then it kills it. It returns how
// the process ended (nil for exit status 0; an *exec.ExitError for another
// status), or an error when grace ran out. It does nothing but return that
// when the process has already ended.
func (s *Server) Stop(grace time.Duration) error {
	select {
	case <-s.done:
		return s.waitErr
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if grace == 0 {
		<-s.done
		return s.waitErr
	}
	select {
	case <-s.done:
		return s.waitErr
	case <-time.After(grace):
		s.Kill()
		return fmt.Errorf("butler serve did not exit within %v of SIGTERM:\n%s", grace, s.log)
	}
}

// Kill sends SIGKILL and waits for the process to end; it does nothing when
// the process has already ended.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
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
