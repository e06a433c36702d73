package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/api"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/internal/atomicfile"
	"github.com/plexbutler/butler/internal/config"
	"github.com/plexbutler/butler/metrics"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/tasks"
)

// serveConfig is the server's configuration: flags, then BUTLER_*
// environment variables, then the config file, then defaults.
type serveConfig struct {
	Addr     string `yaml:"addr"`
	DataDir  string `yaml:"data_dir"`
	Database string `yaml:"database"`
	Token    string `yaml:"token"`
	LogLevel string `yaml:"log_level"`
	Name     string `yaml:"friendly_name"`
	// Node names this server in a cluster; default <host>-<port>.
	Node string `yaml:"node"`
	// MetricsPublic serves /metrics without the token.
	MetricsPublic bool `yaml:"metrics_public"`
	// NewDatabase moves a damaged SQLite database aside and starts with a
	// new one (flag and environment only).
	NewDatabase bool `yaml:"-"`
	// file is the parsed config file (empty without --config).
	file *config.File
}

const (
	defaultAddr    = "127.0.0.1:32400"
	defaultDataDir = "butler-data"
)

func newServeCmd(getenv func(string) string, stderr io.Writer) *cobra.Command {
	var flags serveConfig
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Butler server",
		Long: `Run the Butler server: the task manager with the Plex-compatible HTTP API.

Settings come from flags, then BUTLER_* environment variables (BUTLER_ADDR,
BUTLER_DATA_DIR, BUTLER_DATABASE, BUTLER_TOKEN, BUTLER_CONFIG,
BUTLER_LOG_LEVEL, BUTLER_NODE, BUTLER_METRICS_PUBLIC, BUTLER_NEW_DATABASE),
then the YAML config file, then defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" {
				configPath = getenv("BUTLER_CONFIG")
			}
			cfg, err := resolveConfig(cmd, flags, configPath, getenv)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.Addr, "addr", "", "address to listen on (default "+defaultAddr+", loopback only)")
	f.StringVar(&flags.DataDir, "data-dir", "", "data directory (default ./"+defaultDataDir+")")
	f.StringVar(&flags.Database, "database", "", "database: a SQLite file path, sqlite://PATH, or postgres://... for a cluster (default <data-dir>/butler.db)")
	f.StringVar(&flags.Token, "token", "", "access token (default: generated at first start and stored in the data directory)")
	f.StringVar(&flags.LogLevel, "log-level", "", "log level: debug, info, warn or error (default info)")
	f.StringVar(&configPath, "config", "", "YAML config file")
	f.StringVar(&flags.Node, "node", "", "this server's name in a cluster (default <host>-<port>)")
	f.BoolVar(&flags.MetricsPublic, "metrics-public", false, "serve /metrics without the token")
	f.BoolVar(&flags.NewDatabase, "new-database", false, "when the SQLite database is damaged, move it aside (<name>.damaged-<time>) and start with a new one (env BUTLER_NEW_DATABASE)")
	return cmd
}

// resolveConfig merges flags, environment, file and defaults, and validates.
func resolveConfig(cmd *cobra.Command, flags serveConfig, configPath string, getenv func(string) string) (serveConfig, error) {
	file := &config.File{}
	if configPath != "" {
		f, err := config.Load(configPath)
		if err != nil {
			return serveConfig{}, usageErr("%v", err)
		}
		file = f
	}
	pick := func(flag, env, fileVal, def string) string {
		if cmd.Flags().Changed(flag) {
			return flags.fieldByFlag(flag)
		}
		if v := getenv(env); v != "" {
			return v
		}
		if fileVal != "" {
			return fileVal
		}
		return def
	}
	cfg := serveConfig{
		Addr:     pick("addr", "BUTLER_ADDR", file.Addr, defaultAddr),
		DataDir:  pick("data-dir", "BUTLER_DATA_DIR", file.DataDir, defaultDataDir),
		Database: pick("database", "BUTLER_DATABASE", file.Database, ""),
		Token:    pick("token", "BUTLER_TOKEN", file.Token, ""),
		LogLevel: pick("log-level", "BUTLER_LOG_LEVEL", file.LogLevel, "info"),
		Node:     pick("node", "BUTLER_NODE", file.Node, ""),
		Name:     file.FriendlyName,
		file:     file,
	}
	cfg.MetricsPublic = file.MetricsPublic
	if v := getenv("BUTLER_METRICS_PUBLIC"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, usageErr("BUTLER_METRICS_PUBLIC %q: want true or false", v)
		}
		cfg.MetricsPublic = b
	}
	if cmd.Flags().Changed("metrics-public") {
		cfg.MetricsPublic = flags.MetricsPublic
	}
	newDB, err := newDatabaseFromEnv(getenv)
	if err != nil {
		return cfg, err
	}
	cfg.NewDatabase = newDB
	if cmd.Flags().Changed("new-database") {
		cfg.NewDatabase = flags.NewDatabase
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return cfg, usageErr("listen address %q (--addr, BUTLER_ADDR or addr): want HOST:PORT, such as 127.0.0.1:32400", cfg.Addr)
	}
	if cfg.Token != "" && len(cfg.Token) < 8 {
		return cfg, usageErr("the token is too short: use at least 8 characters")
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return cfg, usageErr("%v", err)
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return cfg, usageErr("--data-dir: %v", err)
	}
	cfg.DataDir = abs
	switch {
	case cfg.Database == "":
		cfg.Database = filepath.Join(cfg.DataDir, "butler.db")
	case isPostgres(cfg.Database):
	case strings.HasPrefix(cfg.Database, "sqlite://"):
		cfg.Database = strings.TrimPrefix(cfg.Database, "sqlite://")
	case strings.Contains(cfg.Database, "://"):
		return cfg, usageErr("--database %q: want a SQLite file (a path such as /var/lib/butler/butler.db, or sqlite:///var/lib/butler/butler.db) or a PostgreSQL URL (postgres://USER@HOST:5432/DATABASE)", redact(cfg.Database))
	}
	// The file's tasks, databases and caches are checked against the
	// server now, before anything is touched.
	if _, err := file.Catalog(butler.DefaultCatalog(), config.Wiring{DataDir: cfg.DataDir, Database: cfg.Database}); err != nil {
		return cfg, usageErr("%v", err)
	}
	return cfg, nil
}

// redact hides the password of a database URL, for the log.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func (c serveConfig) fieldByFlag(flag string) string {
	switch flag {
	case "addr":
		return c.Addr
	case "data-dir":
		return c.DataDir
	case "database":
		return c.Database
	case "token":
		return c.Token
	case "log-level":
		return c.LogLevel
	case "node":
		return c.Node
	}
	return ""
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// serve runs the server until ctx is done (SIGINT or SIGTERM), then stops
// accepting, stops running tasks (recorded as interrupted), and closes the
// database.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	level, _ := parseLevel(cfg.LogLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if err := prepareDataDir(cfg.DataDir); err != nil {
		return &exitError{2, err}
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return &exitError{2, err}
	}
	defer unlock()
	var dbl *dbLock
	if !isPostgres(cfg.Database) {
		if dbl, err = lockDatabase(cfg.Database); err != nil {
			if le := (*lockedError)(nil); errors.As(err, &le) {
				err = fmt.Errorf("%w; stop it, or point --database at another file", err)
			}
			return &exitError{2, err}
		}
		defer dbl.unlock()
	}
	token, generated, err := loadToken(cfg.DataDir, cfg.Token)
	if err != nil {
		return &exitError{2, err}
	}
	if generated {
		fmt.Fprintf(stderr, "butler: generated an access token (stored in %s): %s\n", filepath.Join(cfg.DataDir, "token"), token)
	}
	machineID, err := loadMachineID(cfg.DataDir)
	if err != nil {
		return &exitError{2, err}
	}

	host, _ := os.Hostname()
	node := cfg.Node
	if node == "" {
		_, port, _ := net.SplitHostPort(cfg.Addr)
		node = firstNonEmpty(host, "butler") + "-" + port
	}
	var m *butler.Manager
	backupDir := func() string { return m.Settings().BackupPath() }
	var (
		store butler.Store
		eng   *engine.Engine
	)
	wiring := config.Wiring{
		DataDir: cfg.DataDir, Database: cfg.Database, BackupDir: backupDir, Version: version,
		NotifyUpdate: func(r tasks.Release) {
			m.AnnounceUpdate(butler.Update{Version: r.Version, NotesURL: r.NotesURL})
		},
	}
	if isPostgres(cfg.Database) {
		pg, err := postgres.Open(ctx, cfg.Database)
		if err != nil {
			return &exitError{2, err}
		}
		defer pg.Close()
		if err := pg.Migrate(ctx, func(ctx context.Context) error { return engine.MigratePostgres(ctx, pg.Pool()) }); err != nil {
			return &exitError{2, err}
		}
		if eng, err = engine.NewPostgres(pg.Pool(), pg.Store.DB, engine.Config{Node: node, Logger: logger}); err != nil {
			return &exitError{2, err}
		}
		store = pg
		wiring.OwnBackup = &tasks.PostgresBackup{URL: cfg.Database, Dir: backupDir, Keep: 3}
		wiring.OwnOptimize = &tasks.PostgresOptimize{URL: cfg.Database}
	} else {
		db, err := openSQLite(ctx, cfg, dbl, logger)
		if err != nil {
			return err
		}
		defer db.Close()
		if eng, err = engine.NewSQLite(ctx, db.SQL(), engine.Config{Node: node, Logger: logger}); err != nil {
			return &exitError{2, err}
		}
		if n, err := eng.RecoverSingleNode(ctx); err != nil {
			return err
		} else if n > 0 {
			logger.InfoContext(ctx, "butler: ended jobs orphaned by the previous process", slog.Int("jobs", n))
		}
		store = db
		wiring.Database = db.Path()
	}
	catalog, err := cfg.file.Catalog(butler.DefaultCatalog(), wiring)
	if err != nil {
		return &exitError{2, err}
	}
	mt := metrics.New()
	m, err = butler.NewManager(ctx, butler.Config{
		Catalog: catalog, Store: store, Queue: eng, Logger: logger, Node: node, Reaper: tasks.GroupReaper{},
		DataDir: cfg.DataDir, HostZone: hostZone(), Observer: mt,
	})
	if err != nil {
		return err
	}
	mt.Watch(m)
	handler, err := api.NewHandler(api.Config{
		Manager: m, Token: token, Logger: logger, Version: version,
		MachineIdentifier: machineID, FriendlyName: firstNonEmpty(cfg.Name, host, "Butler"),
		Metrics: mt.Handler(), MetricsPublic: cfg.MetricsPublic,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &exitError{2, fmt.Errorf("cannot listen on %s: the port is in use; stop the other server or choose another --addr", cfg.Addr)}
		}
		return &exitError{2, fmt.Errorf("cannot listen on %s: %v", cfg.Addr, err)}
	}
	// River cancels its running jobs when the context given to Start is
	// done; the shutdown below stops them itself (m.Stop, so that they end
	// interrupted), so the engine must not see the signal first.
	if err := eng.Start(context.WithoutCancel(ctx), m); err != nil {
		ln.Close()
		return err
	}
	if err := m.Start(ctx); err != nil {
		ln.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = eng.Stop(sctx) // its context no longer stops it
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.InfoContext(ctx, "butler: serving", slog.String("addr", ln.Addr().String()), slog.String("data_dir", cfg.DataDir),
		slog.String("database", redact(cfg.Database)), slog.String("node", node), slog.String("version", version))

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	// Running tasks get their whole grace to stop (a command: SIGTERM, then
	// SIGKILL after its grace), and the rest of the shutdown its own time.
	shutdownWait := shutdownBase + m.MaxStopGrace()
	logger.Info("butler: shutting down", slog.Duration("wait_at_most", shutdownWait))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("butler: http shutdown", slog.String("error", err.Error()))
	}
	if err := m.Stop(sctx); err != nil {
		logger.Warn("butler: stop runs", slog.String("error", err.Error()))
	}
	if err := eng.Stop(sctx); err != nil {
		logger.Warn("butler: stop engine", slog.String("error", err.Error()))
	}
	logger.Info("butler: stopped")
	return runErr
}

// shutdownBase is how long a shutdown waits for requests, the database and
// the engine, beyond the longest grace of the tasks.
const shutdownBase = 15 * time.Second

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// prepareDataDir creates the data directory (0700) and checks it is writable.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %v", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %v; choose another with --data-dir", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// lockDataDir takes an exclusive lock on the data directory, so that two
// servers never share its token, machine id, backups and caches. (The
// SQLite database has a lock of its own: lockDatabase.)
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, "butler.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := lockHolder(f)
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another butler serve%s; stop it or choose another --data-dir", dir, holder)
	}
	return func() { f.Close() }, nil
}

// loadToken returns the token to use: the given one, the stored one, or a new
// one that it stores (0600). generated says a new one was made.
func loadToken(dir, given string) (token string, generated bool, err error) {
	if given != "" {
		return given, false, nil
	}
	path := filepath.Join(dir, "token")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		t := strings.TrimSpace(string(b))
		if len(t) < 8 {
			return "", false, fmt.Errorf("token file %s is empty or too short; delete it to have a new token made", path)
		}
		return t, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("read token file: %v", err)
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return "", false, err
	}
	t := hex.EncodeToString(raw)
	if err := atomicfile.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("store token: %v", err)
	}
	return t, true, nil
}

// loadMachineID returns the server's stable identifier, made at first start.
func loadMachineID(dir string) (string, error) {
	path := filepath.Join(dir, "machine-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw)
	if err := atomicfile.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store machine id: %v", err)
	}
	return id, nil
}

// hostZone returns the host's zone name: $TZ, else /etc/timezone, else the
// target of /etc/localtime, else UTC.
func hostZone() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" {
		if _, err := time.LoadLocation(tz); err == nil {
			return tz
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if tz := strings.TrimSpace(string(b)); tz != "" {
			if _, err := time.LoadLocation(tz); err == nil {
				return tz
			}
		}
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if i := strings.Index(target, "zoneinfo/"); i >= 0 {
			tz := target[i+len("zoneinfo/"):]
			if _, err := time.LoadLocation(tz); err == nil {
				return tz
			}
		}
	}
	return "UTC"
}
