// Command butler is the Butler: `butler serve` runs the server; the other
// subcommands talk to a running server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // zones resolve on hosts without a zone database

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit code: 1 a refusal or failure, 2 a usage or
// configuration error, 3 the server cannot be reached.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// run runs the command line and returns the exit code. Tests call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	root := newRoot(getenv, stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command ") {
		err = errors.New(unknownCommand(msg))
	}
	fmt.Fprintln(stderr, "butler:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Errors cobra reports itself (unknown flag or command) are usage errors.
	return 2
}

func newRoot(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "butler",
		Short:         "Butler, the maintenance-task manager of a Plex-compatible server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(newServeCmd(getenv, stderr), newCheckCmd(getenv, stdout), newRestoreCmd(getenv, stdout), newVersionCmd(stdout), newGroupGuardCmd(stderr))
	addClientCommands(root, getenv)
	return root
}

// unknownCommand puts cobra's unknown-command error, with its suggestions
// ("Did you mean this?" and a name a line), on one line that says where
// the commands, or what the command takes, are listed.
func unknownCommand(msg string) string {
	first, rest, _ := strings.Cut(msg, "\n")
	// `unknown command "extra" for "butler tasks"`: the command's path,
	// read before the suggestions are added to the line.
	_, path, _ := strings.Cut(first, ` for "`)
	path = strings.TrimSuffix(path, `"`)
	var names []string
	for _, l := range strings.Split(rest, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, "?") {
			names = append(names, l)
		}
	}
	if len(names) > 0 {
		first += " (did you mean " + strings.Join(names, " or ") + "?)"
	}
	// An argument a command (not butler itself) does not take.
	if path != "" && path != "butler" {
		return first + "; `" + path + " --help` says what it takes"
	}
	return first + "; `butler --help` lists the commands"
}

// flagError says where a command's flags are listed, and that the client
// commands find the server without its config file.
func flagError(cmd *cobra.Command, err error) error {
	hint := fmt.Sprintf("`%s --help` lists its flags", cmd.CommandPath())
	if strings.Contains(err.Error(), "--config") && cmd.Flags().Lookup("url") != nil {
		hint = "the client commands find the server with --url and --data-dir (or BUTLER_URL and BUTLER_DATA_DIR), not with its config file; " + hint
	}
	return usageErr("%v; %s", err, hint)
}
