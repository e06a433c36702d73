// Package clienttest runs a real Butler server in the test's process, for
// tests of code that talks to a Butler through package client (the SDK's own
// tests and the butler command's). The server is the whole stack — a SQLite
// file, the River engine, the manager and the HTTP API on a real loopback
// listener — with the tasks' work replaced by Actions the test controls.
//
// Unlike package client, it imports the server, so only tests should import
// it.
package clienttest

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/store/sqlite"
)

// Token is the access token of every test server.
const Token = "clienttest-token-0123456789"

// Config configures a test server; its zero value is the default.
type Config struct {
	// Tasks are the catalog tasks the server offers, each with an Action.
	// Default: BackupDatabase, OptimizeDatabase, CleanOldCacheFiles
	// (disabled in the settings) and RefreshLocalMedia (randomized).
	Tasks []butler.TaskName
	// Settings are stored before the server starts, over the defaults: the
	// window in UTC, opening twelve hours from now for one hour (so that the
	// planner starts nothing while a test runs), CleanOldCacheFiles disabled.
	Settings map[string]string
	// WindowOpen opens the window now (for three hours) instead.
	WindowOpen bool
	// Bind offers more tasks, each with its real action (a tasks.Exec,
	// say) instead of an Action the test controls; Server.Action does not
	// know them.
	Bind map[butler.TaskName]butler.Action
	// Fixed are settings fixed as a config file fixes them (by id): the
	// API shows them fixed and refuses to change them (409).
	Fixed map[string]string
}

// Server is a running test server. It is stopped when the test ends.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Token is the access token (the constant Token).
	Token string
	// DataDir is the server's data directory; its file "token" holds the
	// token, as `butler serve` keeps it.
	DataDir string
	// Manager is the server's task manager.
	Manager *butler.Manager

	http    *httptest.Server
	db      *sqlite.DB
	eng     *engine.Engine
	actions map[butler.TaskName]*Action
	once    sync.Once
}

// DefaultTasks are the tasks a server offers unless Config.Tasks says
// otherwise.
var DefaultTasks = []butler.TaskName{butler.TaskBackupDatabase, butler.TaskOptimizeDatabase, butler.TaskCleanOldCacheFiles, butler.TaskRefreshLocalMedia}

// New starts a server; it fails the test if it cannot.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	start := (time.Now().UTC().Hour() + 12) % 24
	end := (start + 1) % 24
	if cfg.WindowOpen {
		start = time.Now().UTC().Hour()
		end = (start + 3) % 24
	}
	settings := map[string]string{
		butler.SettingTimeZone:         "UTC",
		butler.SettingStartHour:        fmt.Sprint(start),
		butler.SettingEndHour:          fmt.Sprint(end),
		"ButlerTaskCleanOldCacheFiles": "false",
	}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	if err := db.SaveSettings(ctx, settings); err != nil {
		db.Close()
		t.Fatal(err)
	}
	eng, err := engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: "test"})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	names := cfg.Tasks
	if names == nil {
		names = DefaultTasks
	}
	actions := map[butler.TaskName]*Action{}
	catalog := butler.DefaultCatalog()
	for _, name := range names {
		actions[name] = newAction()
		catalog = butler.Bind(catalog, name, actions[name])
	}
	for name, a := range cfg.Bind {
		catalog = butler.Bind(catalog, name, a)
	}
	m, err := butler.NewManager(ctx, butler.Config{Catalog: catalog, Store: db, Queue: eng, HostZone: "UTC", DataDir: dir, Node: "test",
		FixedSettings: cfg.Fixed, FixedBy: "/etc/butler/butler.yaml"})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	s := &Server{Token: Token, DataDir: dir, Manager: m, db: db, eng: eng, actions: actions}
	if err := eng.Start(ctx, m); err != nil {
		db.Close()
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		s.Close()
		t.Fatal(err)
	}
	h, err := api.NewHandler(api.Config{Manager: m, Token: Token, Version: "1.2.3", MachineIdentifier: "clienttest", FriendlyName: "test"})
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	s.http = httptest.NewServer(h)
	s.URL = s.http.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server: the listener (and open streams), the runs, the
// engine and the database. It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		if s.http != nil {
			s.http.CloseClientConnections()
			s.http.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = s.Manager.Stop(ctx)
		_ = s.eng.Stop(ctx)
		_ = s.db.Close()
	})
}

// Action returns the action of an offered task; it panics for another.
func (s *Server) Action(name butler.TaskName) *Action {
	a, ok := s.actions[name]
	if !ok {
		panic("clienttest: the server does not offer " + string(name))
	}
	return a
}

// Action is the work of a test task: each run reports progress 10 with the
// step "working" (once, so that its events are the same every time),
// announces that it started, and then waits until the test finishes it
// (Finish; a success records the summary "did its work") or it is stopped.
type Action struct {
	started chan struct{}
	finish  chan error
}

func newAction() *Action {
	return &Action{started: make(chan struct{}, 100), finish: make(chan error)}
}

// Step is the step every run of an Action reports.
const Step = "working"

// Run implements butler.Action.
func (a *Action) Run(ctx context.Context, r butler.Reporter) error {
	r.Progress(10, Step)
	a.started <- struct{}{}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-a.finish:
		if err == nil {
			r.Summary("did its work")
		}
		return err
	}
}

// WaitStarted waits up to 20 s for a run of the task to start; it fails the
// test otherwise.
func (a *Action) WaitStarted(t testing.TB) {
	t.Helper()
	select {
	case <-a.started:
	case <-time.After(20 * time.Second):
		t.Fatal("clienttest: no run of the task started within 20s")
	}
}

// Finish ends the running run with err (nil: it succeeds). It waits up to
// 20 s for a run to take it and fails the test otherwise.
func (a *Action) Finish(t testing.TB, err error) {
	t.Helper()
	select {
	case a.finish <- err:
	case <-time.After(20 * time.Second):
		t.Fatal("clienttest: no running run of the task took Finish within 20s")
	}
}

// ErrTaskFailed is an error for Finish, to make a run fail.
var ErrTaskFailed = errors.New("the disk is full")
