package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexbutler/butler/client"
)

// defaultURL is where `butler serve` listens by default.
const defaultURL = "http://" + defaultAddr

// cli is what the client commands share: the environment, and the flags
// every client command takes (--url, --token, --data-dir, --output).
type cli struct {
	getenv    func(string) string
	url       string
	token     string
	tokenFile string
	dataDir   string
	output    string
}

// addClientCommands adds the commands that talk to a running server.
func addClientCommands(root *cobra.Command, getenv func(string) string) {
	c := &cli{getenv: getenv}
	root.AddCommand(
		c.tasksCmd(), c.startCmd(), c.stopCmd(), c.historyCmd(), c.logCmd(), c.planCmd(),
		c.settingsCmd(), c.activitiesCmd(), c.watchCmd(), c.tokenCmd(), c.healthCmd(), c.libraryCmd(),
	)
}

// clientFlags registers the client flags on cmd (and its subcommands).
func (c *cli) clientFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.url, "url", "", "the server's URL (env BUTLER_URL; default "+defaultURL+")")
	pf.StringVar(&c.token, "token", "", "access token (env BUTLER_TOKEN; default: the token file in the data directory); visible in ps, prefer --token-file")
	pf.StringVar(&c.tokenFile, "token-file", "", "read the access token from this file (env BUTLER_TOKEN_FILE; default: <data-dir>/token)")
	c.dataDirFlag(cmd)
	pf.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

func (c *cli) dataDirFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&c.dataDir, "data-dir", "", "the server's data directory, which holds its token file (env BUTLER_DATA_DIR; default ./"+defaultDataDir+")")
}

// conn is a resolved connection to the server.
type conn struct {
	*client.Client
	url string
	// tokenFrom says where the token came from, for the 401 message.
	tokenFrom string
	json      bool
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// runWhy says why a run did not succeed, from its reason and its error:
// "reason: error", or the reason alone when it already ends with the error
// (a stopped run's reason says how its work stopped).
func runWhy(reason, errText string) string {
	switch {
	case reason == "" || errText == "":
		return firstSet(errText, reason)
	case reason == errText || strings.HasSuffix(reason, "; "+errText):
		return reason
	}
	return reason + ": " + errText
}

// tokenPath returns the token file of the data directory.
func (c *cli) tokenPath() string {
	return filepath.Join(firstSet(c.dataDir, c.getenv("BUTLER_DATA_DIR"), defaultDataDir), "token")
}

// readToken reads the data directory's token file; "" without error when
// there is none.
func (c *cli) readToken() (token, path string, err error) {
	path = c.tokenPath()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", path, nil
	}
	if err != nil {
		return "", path, &exitError{1, fmt.Errorf("read the token file: %v", err)}
	}
	return strings.TrimSpace(string(b)), path, nil
}

// readTokenFile reads a token file named by --token-file or
// BUTLER_TOKEN_FILE (what); a missing, unreadable or empty file is a usage
// error that names it.
func readTokenFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageErr("token file %s (%s): %v; give the file that holds the server's token (`butler token` prints it on the server)", path, what, errors.Unwrap(err))
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, "\r\n") {
		return "", usageErr("token file %s (%s) is empty or holds more than one line; want the token alone", path, what)
	}
	return t, nil
}

// connect resolves the flags and environment into a client.
func (c *cli) connect() (*conn, error) {
	switch c.output {
	case "table", "json":
	default:
		return nil, usageErr("--output %q: want table or json", c.output)
	}
	raw := firstSet(c.url, c.getenv("BUTLER_URL"), defaultURL)
	u := raw
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if c.token != "" && c.tokenFile != "" {
		return nil, usageErr("--token and --token-file both given: give one")
	}
	token, from := c.token, "the token of --token"
	if token == "" && c.tokenFile != "" {
		t, err := readTokenFile(c.tokenFile, "--token-file")
		if err != nil {
			return nil, err
		}
		token, from = t, "the token of "+c.tokenFile+" (--token-file)"
	}
	if token == "" {
		token, from = c.getenv("BUTLER_TOKEN"), "the token of BUTLER_TOKEN"
	}
	if f := c.getenv("BUTLER_TOKEN_FILE"); token == "" && f != "" {
		t, err := readTokenFile(f, "BUTLER_TOKEN_FILE")
		if err != nil {
			return nil, err
		}
		token, from = t, "the token of "+f+" (BUTLER_TOKEN_FILE)"
	}
	if token == "" {
		t, path, err := c.readToken()
		if err != nil {
			return nil, err
		}
		token, from = t, "the token of "+path
		if t == "" {
			from = "the request without a token (no --token or --token-file, no BUTLER_TOKEN or BUTLER_TOKEN_FILE, no " + path + ")"
		}
	}
	cl, err := client.New(u, client.WithToken(token), client.WithClientIdentifier("butler-cli"),
		client.WithUserAgent("butler-cli/"+version))
	if err != nil {
		return nil, usageErr("server URL %q (--url, BUTLER_URL): want http://HOST:PORT", raw)
	}
	return &conn{Client: cl, url: cl.URL(), tokenFrom: from, json: c.output == "json"}, nil
}

// fail turns an error of the client into the command's error: exit 3 when
// the server cannot be reached, 1 when it refused (with its message).
func (cn *conn) fail(err error) error {
	var ce *client.Error
	var ue *url.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		if ce.StatusCode == 401 {
			return &exitError{1, fmt.Errorf("the server at %s refused %s (401 Unauthorized); give its token with --token-file or BUTLER_TOKEN_FILE (or --token, BUTLER_TOKEN), or point --data-dir at its data directory (`butler token` prints it there)", cn.url, cn.tokenFrom)}
		}
		return &exitError{1, errors.New(ce.Message)}
	case errors.Is(err, context.Canceled):
		return &exitError{1, errors.New("interrupted")}
	case errors.As(err, &ue):
		return &exitError{3, fmt.Errorf("cannot reach %s: %s; is `butler serve` running? (--url, BUTLER_URL)", cn.url, unreachable(ue))}
	}
	return &exitError{1, err}
}

// unreachable says in a few words why a request did not get an answer.
func unreachable(ue *url.Error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(ue, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(ue, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(ue, context.DeadlineExceeded), ue.Timeout():
		return "no answer in time"
	case errors.As(ue, &dns):
		return "unknown host " + dns.Name
	}
	return ue.Err.Error()
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// completeTasks completes task names from the server (the first argument
// only).
func (c *cli) completeTasks(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cn, err := c.connect()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(ctxOf(cmd), 5*time.Second)
	defer cancel()
	res, err := cn.GetButlerTasks(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, t := range res.Tasks {
		if strings.HasPrefix(t.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(t.Name, t.Title))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// printCompact writes v as JSON on one line.
func printCompact(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// nArgs wants between min and max arguments (max < 0: no bound), and
// otherwise says how to call the command (exit code 2).
func nArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			path := cmd.CommandPath()
			if cmd.HasParent() {
				path = cmd.Parent().CommandPath()
			}
			return usageErr("usage: %s %s (got %d arguments; --help says more)", path, cmd.Use, len(args))
		}
		return nil
	}
}
