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
	"github.com/plexbutler/butler/internal/groupguard"
	"github.com/plexbutler/butler/metrics"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/tasks"
)

// serveConfig is the server's configuration: flags, then BUTLER_*
// environment variables, then the config file, then defaults.
type serveConfig struct {
	Addr     string
	DataDir  string
	Database string
	Token    string
	// TokenFile names the file the token was read from (--token-file or
	// BUTLER_TOKEN_FILE); "" otherwise.
	TokenFile string
	LogLevel  string
	Name      string
	// Node names this server in a cluster; default <host>-<port>.
	Node string
	// MetricsPublic serves /metrics without the token.
	MetricsPublic bool
	// NewDatabase moves a damaged SQLite database aside and starts with a
	// new one (flag and environment only).
	NewDatabase bool
	// DatabasePasswordFile holds the PostgreSQL password, which is then
	// kept off the URL (flag and environment only).
	DatabasePasswordFile string
	// file is the parsed config file (empty without --config).
	file *config.File
	// getenv reads the environment (TZ for the host's zone).
	getenv func(string) string
}

// defaultAddr is where the server listens by default: loopback, on a port
// that neither Plex Media Server (32400, 32469, 1900, 8324, 32410-32414)
// nor the common self-hosted media apps use, below Linux's ephemeral range
// and Kubernetes' NodePort range (docs/config.md, "The port").
const (
	defaultAddr    = config.ExampleAddr
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
BUTLER_DATA_DIR, BUTLER_DATABASE, BUTLER_TOKEN, BUTLER_TOKEN_FILE,
BUTLER_CONFIG, BUTLER_LOG_LEVEL, BUTLER_NODE, BUTLER_METRICS_PUBLIC,
BUTLER_NEW_DATABASE, BUTLER_DATABASE_PASSWORD_FILE), then the YAML config
file, then defaults.

Before it creates anything (the data directory, the token, the database)
it checks what can fail: the config file, the port, the settings the file
fixes. It then prints the dashboard's URL and the absolute data directory;
a token it generates is stored in <data-dir>/token (0600), never printed
(` + "`butler token`" + ` prints it). Files it creates are private to its user.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" {
				configPath = getenv("BUTLER_CONFIG")
			}
			cfg, err := resolveConfig(cmd, flags, configPath, getenv)
			if err != nil {
				return err
			}
			return serveExit(serve(cmd.Context(), cfg, stderr))
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.Addr, "addr", "", "address to listen on (default "+defaultAddr+", loopback only)")
	f.StringVar(&flags.DataDir, "data-dir", "", "data directory (default ./"+defaultDataDir+")")
	f.StringVar(&flags.Database, "database", "", "database: a SQLite file path, sqlite://PATH, or postgres://... for a cluster (default <data-dir>/butler.db)")
	f.StringVar(&flags.Token, "token", "", "access token (default: generated at first start and stored in the data directory); visible in ps, prefer --token-file")
	f.StringVar(&flags.TokenFile, "token-file", "", "read the access token from this file (env BUTLER_TOKEN_FILE)")
	f.StringVar(&flags.LogLevel, "log-level", "", "log level: debug, info, warn or error (default info)")
	f.StringVar(&configPath, "config", "", "YAML config file")
	f.StringVar(&flags.Node, "node", "", "this server's name in a cluster (default <host>-<port>)")
	f.BoolVar(&flags.MetricsPublic, "metrics-public", false, "serve /metrics without the token")
	f.StringVar(&flags.DatabasePasswordFile, "database-password-file", "", "read the PostgreSQL password from this file, so that it is on no command line (env BUTLER_DATABASE_PASSWORD_FILE)")
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
		Addr:     pick("addr", "BUTLER_ADDR", string(file.Addr), defaultAddr),
		DataDir:  pick("data-dir", "BUTLER_DATA_DIR", file.DataDir.Value, defaultDataDir),
		Database: pick("database", "BUTLER_DATABASE", string(file.Database), ""),
		LogLevel: pick("log-level", "BUTLER_LOG_LEVEL", string(file.LogLevel), "info"),
		Node:     pick("node", "BUTLER_NODE", string(file.Node), ""),
		Name:     string(file.FriendlyName),
		file:     file,
		getenv:   getenv,
	}
	token, tokenFile, err := resolveToken(cmd, flags, getenv, string(file.Token))
	if err != nil {
		return cfg, err
	}
	cfg.Token, cfg.TokenFile = token, tokenFile
	cfg.MetricsPublic = bool(file.MetricsPublic)
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
		return cfg, usageErr("listen address %q (--addr, BUTLER_ADDR or addr): want HOST:PORT, such as %s", cfg.Addr, defaultAddr)
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
		pwFile := getenv("BUTLER_DATABASE_PASSWORD_FILE")
		if cmd.Flags().Changed("database-password-file") {
			pwFile = flags.DatabasePasswordFile
		}
		if pwFile != "" {
			if cfg.Database, err = withPasswordFile(cfg.Database, pwFile); err != nil {
				return cfg, err
			}
		}
	case strings.HasPrefix(cfg.Database, "sqlite://"):
		cfg.Database = strings.TrimPrefix(cfg.Database, "sqlite://")
	case strings.Contains(cfg.Database, "://"):
		return cfg, usageErr("--database %q: want a SQLite file (a path such as /var/lib/butler/butler.db, or sqlite:///var/lib/butler/butler.db) or a PostgreSQL URL (postgres://USER@HOST:5432/DATABASE)", redact(cfg.Database))
	}
	return cfg, nil
}

// withPasswordFile returns the PostgreSQL URL dsn with the password read
// from file (its first line), which must not hold one already.
func withPasswordFile(dsn, file string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", usageErr("--database: %q is not a URL", redact(dsn))
	}
	if _, has := u.User.Password(); has {
		return "", usageErr("--database %s holds a password and a password file is given (%s): give the password in one place, the file", redact(dsn), file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usageErr("database password file %s: %v", file, errors.Unwrap(err))
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", usageErr("database password file %s is empty; want the password on its first line", file)
	}
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, pw)
	return u.String(), nil
}

// resolveToken returns the token given by --token, --token-file,
// BUTLER_TOKEN, BUTLER_TOKEN_FILE or the config file, in that order, and
// the file it was read from; "" when none is given (serve then uses the
// data directory's). A token shorter than config.MinTokenLen is refused.
func resolveToken(cmd *cobra.Command, flags serveConfig, getenv func(string) string, fileToken string) (token, from string, err error) {
	changed := cmd.Flags().Changed
	what := "the token"
	switch {
	case changed("token") && changed("token-file"):
		return "", "", usageErr("--token and --token-file both given: give one")
	case changed("token"):
		token, what = flags.Token, "--token"
	case changed("token-file"):
		if token, err = readTokenFile(flags.TokenFile, "--token-file"); err != nil {
			return "", "", err
		}
		from, what = flags.TokenFile, "the token file "+flags.TokenFile
	case getenv("BUTLER_TOKEN") != "":
		token, what = getenv("BUTLER_TOKEN"), "BUTLER_TOKEN"
	case getenv("BUTLER_TOKEN_FILE") != "":
		f := getenv("BUTLER_TOKEN_FILE")
		if token, err = readTokenFile(f, "BUTLER_TOKEN_FILE"); err != nil {
			return "", "", err
		}
		from, what = f, "the token file "+f
	default:
		return fileToken, "", nil // checked by config.Parse
	}
	if err := config.CheckToken(token); err != nil {
		return "", "", usageErr("%s: %v", what, err)
	}
	return token, from, nil
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
//
// It builds in dependency order, and checks what can fail before it
// creates anything: the port (held from then on), the catalog the config
// file describes and the settings it fixes, a PostgreSQL server; then the
// data directory and its lock, a SQLite database; then the token and the
// machine id; then the Manager and the API.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	level, _ := parseLevel(cfg.LogLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Everything the server creates (the database and its -wal and -shm
	// files, the token, backups) is its user's alone, whatever the mode of
	// the directories it lands in.
	defer syscall.Umask(syscall.Umask(0o077))

	if w := noInitWarning(os.Getpid()); w != "" {
		logger.WarnContext(ctx, w)
	}

	// What can fail without touching anything.
	ln, err := listen(cfg.Addr)
	if err != nil {
		return &exitError{2, err}
	}
	defer ln.Close()
	host, _ := os.Hostname()
	node := cfg.Node
	if node == "" {
		_, port, _ := net.SplitHostPort(cfg.Addr)
		node = firstNonEmpty(host, "butler") + "-" + port
	}
	if err := butler.ValidNodeName(node); err != nil {
		return &exitError{2, fmt.Errorf("node %q (--node, BUTLER_NODE or node: in the config file): %w", node, err)}
	}
	libIndex := &mediaIndexLink{} // the store's media index, once it is open
	wiring := wiring{
		DataDir: cfg.DataDir, Database: cfg.Database, Version: version, Index: libIndex, Logger: logger,
	}
	if isPostgres(cfg.Database) {
		wiring.OwnBackup = &tasks.PostgresBackup{URL: cfg.Database, Keep: builtinKeep}
		wiring.OwnOptimize = &tasks.PostgresOptimize{URL: cfg.Database}
	}
	catalog, err := buildCatalog(cfg.file, butler.DefaultCatalog(), wiring)
	if err != nil {
		return &exitError{2, err}
	}
	zone := hostZone(cfg.getenv)
	fixed, err := fixedSettings(cfg.file, catalog, cfg.DataDir, zone)
	if err != nil {
		return &exitError{2, err}
	}
	for _, p := range checkTasks(cfg.file, checkEnv{}) {
		logger.WarnContext(ctx, "butler: config: "+p)
	}

	busy, busyEvery, err := busyProbe(cfg.file)
	if err != nil {
		return &exitError{2, err}
	}
	// Each server works media.parallel item jobs at once.
	engineConfig := engine.Config{Node: node, Logger: logger, ItemWorkers: cfg.file.Media.Workers()}
	var (
		store butler.Store
		index butler.MediaIndex
		eng   *engine.Engine
	)
	// A PostgreSQL server is reached before anything is created here.
	if isPostgres(cfg.Database) {
		pg, err := postgres.Open(ctx, cfg.Database)
		if err != nil {
			return &exitError{2, err}
		}
		defer pg.Close()
		if err := pg.Migrate(ctx, func(ctx context.Context) error { return engine.MigratePostgres(ctx, pg.Pool()) }); err != nil {
			return &exitError{2, err}
		}
		if eng, err = engine.NewPostgres(ctx, pg.Pool(), pg.Store.DB, engineConfig); err != nil {
			return &exitError{2, err}
		}
		store, index = pg, pg
		libIndex.set(pg)
	}

	// The data directory and its lock.
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return &exitError{2, err}
	}
	for _, p := range checkDataDir(cfg.DataDir) {
		logger.WarnContext(ctx, "butler: "+p)
	}
	if built := buildTime(); !built.IsZero() && time.Now().Before(built) {
		logger.WarnContext(ctx, "butler: the system clock is earlier than this program's build; the maintenance window and the history follow it: set the clock",
			slog.Time("clock", time.Now()), slog.Time("built", built))
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return &exitError{2, err}
	}
	defer unlock()

	// A SQLite database: locked, checked, opened.
	if !isPostgres(cfg.Database) {
		dbl, err := lockDatabase(cfg.Database)
		if err != nil {
			if le := (*lockedError)(nil); errors.As(err, &le) {
				err = fmt.Errorf("%w; stop it, or point --database at another file", err)
			}
			return &exitError{2, err}
		}
		defer dbl.unlock()
		for _, did := range dbl.stopped {
			logger.WarnContext(ctx, "butler: a butler restore was stopped part-way: undone, the database is the one it was before it", slog.String("undone", did))
		}
		db, err := openSQLite(ctx, cfg, dbl, logger)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := privateDatabaseFiles(db.Path()); err != nil {
			return &exitError{2, err}
		}
		if eng, err = engine.NewSQLite(ctx, db.SQL(), engineConfig); err != nil {
			return &exitError{2, err}
		}
		if n, err := eng.RecoverSingleNode(ctx); err != nil {
			return err
		} else if n > 0 {
			logger.InfoContext(ctx, "butler: ended jobs orphaned by the previous process", slog.Int("jobs", n))
		}
		store, index = db, db
		libIndex.set(db)
	}

	// The token and the machine id, once the database is known good.
	token, generated, err := loadToken(cfg.DataDir, cfg.Token)
	if err != nil {
		return &exitError{2, err}
	}
	machineID, err := loadMachineID(cfg.DataDir)
	if err != nil {
		return &exitError{2, err}
	}

	// The guard of the tasks' process groups, should this process die.
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program, to start its group guard: %w", err)
	}
	guard, err := groupguard.Start(self, []string{groupGuardCmd}, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := guard.Stop(); err != nil {
			logger.Warn("butler: group guard", slog.String("error", err.Error()))
		}
	}()

	// The Manager and the API.
	mt := metrics.New()
	m, err := butler.NewManager(ctx, butler.Config{
		Catalog: catalog, Store: store, Queue: eng, Logger: logger, Node: node, Reaper: tasks.GroupReaper{}, GroupGuard: guard,
		DataDir: cfg.DataDir, HostZone: zone, Observer: mt,
		FixedSettings: fixed, FixedBy: cfg.file.Path, Busy: busy, BusyEvery: busyEvery,
	})
	if err != nil {
		return err
	}
	mt.Watch(m)
	handler, err := api.NewHandler(api.Config{
		Manager: m, Token: token, Logger: logger, Version: version,
		MachineIdentifier: machineID, FriendlyName: firstNonEmpty(cfg.Name, host, "Butler"),
		Metrics: mt.Handler(), MetricsPublic: cfg.MetricsPublic, Library: index,
	})
	if err != nil {
		return err
	}
	// River cancels its running jobs when the context given to Start is
	// done; the shutdown below stops them itself (m.Stop, so that they end
	// interrupted), so the engine must not see the signal first.
	if err := eng.Start(context.WithoutCancel(ctx), m); err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
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
	fmt.Fprintf(stderr, "butler: dashboard at %s\nbutler: data directory %s\n", dashboardURL(ln.Addr()), cfg.DataDir)
	switch {
	case generated:
		fmt.Fprintf(stderr, "butler: generated an access token, stored in %s (0600); `butler token --data-dir %s` prints it\n",
			filepath.Join(cfg.DataDir, "token"), shellQuote(cfg.DataDir))
	case cfg.TokenFile != "":
		fmt.Fprintf(stderr, "butler: access token from %s\n", cfg.TokenFile)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case <-m.Superseded():
		// It can take no more work: a person must give each server its
		// own name (status 2, which systemd does not restart).
		runErr = &exitError{2, fmt.Errorf("a server started later runs under this server's name, %s, and took it over; this one stopped its runs and exits: give each server its own --node (BUTLER_NODE)", node)}
	}
	// Running tasks get their whole grace to stop (a command: SIGTERM, then
	// SIGKILL after its grace), and the rest of the shutdown its own time.
	// They are told at once, while the requests under way finish: the
	// notification streams (a dashboard, a Plex client's websocket) end
	// when the Manager has stopped, after the events of the runs it
	// stopped, so the HTTP shutdown cannot wait for them first.
	shutdownWait := shutdownBase + m.MaxStopGrace()
	logger.Info("butler: shutting down", slog.Duration("wait_at_most", shutdownWait))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(sctx) }()
	if err := m.Stop(sctx); err != nil {
		logger.Warn("butler: stop runs", slog.String("error", err.Error()))
	}
	if err := <-httpDone; err != nil {
		logger.Warn("butler: http shutdown", slog.String("error", err.Error()))
	}
	if err := eng.Stop(sctx); err != nil {
		logger.Warn("butler: stop engine", slog.String("error", err.Error()))
	}
	logger.Info("butler: stopped")
	return runErr
}

// serveExit gives err, why butler serve ended, the exit code that tells a
// service manager whether to try again: 1 when it may pass by itself (the
// database cannot be reached yet, a full disk), which systemd's
// Restart=on-failure retries; otherwise err's own code (2: a person must
// act, RestartPreventExitStatus=2).
func serveExit(err error) error {
	if err == nil || !transient(err) {
		return err
	}
	if ee := (*exitError)(nil); errors.As(err, &ee) {
		err = ee.err
	}
	return &exitError{code: 1, err: err}
}

// transient reports whether err may pass by itself.
func transient(err error) bool {
	var coded interface{ Code() int }
	return postgres.Transient(err) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		(errors.As(err, &coded) && coded.Code()&0xff == sqliteFull)
}

// sqliteFull is SQLite's SQLITE_FULL: the disk is full.
const sqliteFull = 13

// groupGuardCmd is the hidden command that runs the group guard.
const groupGuardCmd = "__group-guard"

// newGroupGuardCmd runs the group guard (package groupguard) that butler
// serve starts: it reads the process groups of the server's tasks from
// its standard input and kills those left when the server is gone.
func newGroupGuardCmd(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    groupGuardCmd,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := groupguard.Main(cmd.InOrStdin(), stderr)
			if n > 0 {
				fmt.Fprintf(stderr, "butler: the server ended without stopping its tasks: SIGKILL to %d process groups it left\n", n)
			}
			return err
		},
	}
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
		return fmt.Errorf("data directory %s cannot be created: %v; create it (owned by the user that runs butler serve, mode 0700), or choose another with --data-dir", dir, err)
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
		if config.CheckToken(t) != nil {
			return "", false, fmt.Errorf("token file %s is empty or shorter than %d characters; delete it to have a new token made", path, config.MinTokenLen)
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

// loadMachineID returns the server's stable identifier, made at first start
// (or when the file is empty). A file that exists but cannot be read is an
// error: a new id would make the server a new one to its clients (a file
// copied from another machine by root, say, which this user cannot read).
func loadMachineID(dir string) (string, error) {
	path := filepath.Join(dir, "machine-id")
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(strings.TrimSpace(string(b))) > 0:
		return strings.TrimSpace(string(b)), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read the server's identifier: %v; give the file to the server's user (mode 0600), or delete it to have the server take a new identifier, which its clients see as a new server", err)
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

// hostZone returns the host's zone name: $TZ (read with getenv), else /etc/timezone, else the
// target of /etc/localtime, else UTC.
func hostZone(getenv func(string) string) string {
	if tz := strings.TrimPrefix(getenv("TZ"), ":"); tz != "" {
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

// listen listens on addr; a port in use is said plainly.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("cannot listen on %s: the port is in use; stop the other server or choose another --addr", addr)
		}
		return nil, fmt.Errorf("cannot listen on %s: %v; give --addr (or BUTLER_ADDR, or addr: in the config file) as HOST:PORT with a free port number, such as 127.0.0.1:28400", addr, err)
	}
	return ln, nil
}

// dashboardURL is the dashboard's address on the listener: an unspecified
// host (0.0.0.0, ::) is shown as the loopback address.
func dashboardURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/web"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/web"
}

// privateDatabaseFiles makes a SQLite database and its -wal and -shm files
// readable by their owner only (an older Butler, or another umask, may
// have made them 0644).
func privateDatabaseFiles(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file %s: %v", p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("make database file %s private (0600): %v", p, err)
			}
		}
	}
	return nil
}

// fixedSettings returns the settings the config file fixes, by id, each
// checked as the API checks it against the definitions of catalog; every
// problem is a config.Error on the setting's line.
func fixedSettings(f *config.File, catalog []butler.Task, dataDir, zone string) (map[string]string, error) {
	if len(f.Settings) == 0 {
		return nil, nil
	}
	defs := map[string]butler.SettingDef{}
	var ids []string
	for _, d := range butler.SettingDefs(catalog, dataDir, zone) {
		defs[d.ID] = d
		ids = append(ids, d.ID)
	}
	out := map[string]string{}
	var errs config.Errors
	for _, s := range f.Settings {
		key := "settings." + s.ID
		d, ok := defs[s.ID]
		if !ok {
			msg := "unknown setting"
			if near := nearestName(s.ID, ids); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			}
			errs = append(errs, &config.Error{File: f.Path, Line: s.Line, Key: key,
				Msg: msg + "; the settings are those GET /:/prefs lists: " + strings.Join(ids, ", ")})
			continue
		}
		v, err := d.Canonical(s.Value)
		if err != nil {
			errs = append(errs, &config.Error{File: f.Path, Line: s.Line, Key: key, Msg: strings.TrimPrefix(err.Error(), s.ID+": ")})
			continue
		}
		out[s.ID] = v
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// noInitWarning is what serve says when it runs as process 1 (pid): the
// processes that tasks leave behind, which Butler ends, go to process 1
// when their parent dies, and Butler does not reap them: each stays a
// zombie, holding a process id that a container's pids limit counts.
func noInitWarning(pid int) string {
	if pid != 1 {
		return ""
	}
	return "butler: running as process 1 with no init: the processes that tasks leave behind stay zombies once ended; run it under an init (the shipped image's tini, docker run --init, or tini -- butler serve)"
}
