package tasks

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/procgroup"
)

// runTool runs cmd, a program an action needs for its work (pg_dump,
// pg_restore), as Exec runs its program: in a process group of its own
// that dies with the server (the parent-death signal; the group recorded
// with the run, for the group guard and the next start), ended when ctx
// ends (SIGTERM to the group, SIGKILL after grace), and only once all of
// its group is gone does it return. Its error is cmd's, or ctx's when the
// program was stopped.
func runTool(ctx context.Context, r butler.Reporter, cmd *exec.Cmd, grace time.Duration, log *slog.Logger) error {
	cmd.SysProcAttr = execSysProcAttr()
	// The kernel's parent-death signal follows the thread that started the
	// program: this goroutine keeps that thread until the program is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	if err := recordGroup(r, pgid); err != nil {
		procgroup.Signal(pgid, syscall.SIGKILL)
		_ = cmd.Wait()
		procgroup.End(pgid, time.Now(), 0, log)
		return fmt.Errorf("%s killed at its start: its process group could not be recorded (%w), and a crash of the server would have left it running", cmd.Path, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		procgroup.End(pgid, time.Time{}, grace, log) // what it left behind
		return err
	case <-ctx.Done():
	}
	procgroup.Signal(pgid, syscall.SIGTERM)
	termSent := time.Now()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-waited:
	case <-timer.C:
		procgroup.Signal(pgid, syscall.SIGKILL)
		<-waited
	}
	procgroup.End(pgid, termSent, grace, log)
	return ctx.Err()
}
