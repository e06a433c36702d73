package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/config"
	"github.com/plexbutler/butler/store/postgres"
	"github.com/plexbutler/butler/store/sqlite"
)

func newCheckCmd(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var flags serveConfig
	var configPath string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the server's config, data directory, database, clock and port",
		Long: `Check what ` + "`butler serve`" + ` would use, as the user who runs it, without
starting it or creating anything: the config file (every exec program exists
and is executable, every working directory, database, backup and cache path
is reachable, every library folder is a readable directory, ffprobe and ffmpeg run,
every URL parses), the data directory's owner and modes, the
database (it opens and is sound), the clock and the time zone, and whether
the port is free (not checked when a server runs on the data directory: the
port is its own).

It takes the flags and BUTLER_* variables serve takes for these. It prints
one line per problem and exits 1, or prints "no problems found" and exits 0.
Run it as the service's user, such as:
  sudo -u butler butler check --config /etc/butler/butler.yaml --data-dir /var/lib/butler
For the packaged systemd unit (DynamicUser=yes), whose data directory only
the service's own user can reach, run it as a service of the same kind:
  sudo systemd-run --pipe --wait -p DynamicUser=yes -p User=butler \
    -p StateDirectory=butler -p EnvironmentFile=-/etc/butler/butler.env \
    /usr/local/bin/butler check --config /etc/butler/butler.yaml --data-dir /var/lib/butler
(docs/config.md, "Checking a config: butler check").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" {
				configPath = getenv("BUTLER_CONFIG")
			}
			var problems []string
			running := ""
			cfg, err := resolveConfig(cmd, flags, configPath, getenv)
			if err != nil {
				problems = strings.Split(err.Error(), "\n")
			} else {
				running = serverOn(cfg.DataDir)
				problems = runChecks(cmd.Context(), cfg, checkEnv{getenv: getenv, serverRunning: running != ""})
			}
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			if len(problems) > 0 {
				return &exitError{1, fmt.Errorf("check: %d problem(s) found", len(problems))}
			}
			if running != "" {
				fmt.Fprintf(stdout, "no problems found; a server runs on this data directory%s, so its port was not checked\n", running)
				return nil
			}
			fmt.Fprintln(stdout, "no problems found")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML config file (env BUTLER_CONFIG)")
	f.StringVar(&flags.Addr, "addr", "", "address serve would listen on (default "+defaultAddr+")")
	f.StringVar(&flags.DataDir, "data-dir", "", "data directory (default ./"+defaultDataDir+")")
	f.StringVar(&flags.Database, "database", "", "database (default <data-dir>/butler.db)")
	f.StringVar(&flags.DatabasePasswordFile, "database-password-file", "", "read the PostgreSQL password from this file (env BUTLER_DATABASE_PASSWORD_FILE)")
	return cmd
}

// serverOn tells whether a process (a butler serve) holds the lock of the
// data directory dir: "" when none does, else " (pid N, butler serve)".
// It reads /proc/locks (Linux) rather than take the lock, even for a
// moment, which a server starting then would find taken; elsewhere it
// tells nothing. It creates nothing.
func serverOn(dir string) string {
	f, err := os.Open(filepath.Join(dir, "butler.lock"))
	if err != nil {
		return ""
	}
	defer f.Close()
	return lockHolder(f)
}

// checkEnv is what the checks read of the system besides files.
type checkEnv struct {
	// getenv reads the environment (TZ); nil means os.Getenv.
	getenv func(string) string
	// now is the current time; nil means time.Now.
	now func() time.Time
	// built is when this program was built; zero means buildTime().
	built time.Time
	// serverRunning: a server runs on the data directory, and holds the
	// port, which is then not checked.
	serverRunning bool
}

// runChecks returns every problem butler check finds with cfg, one line
// each.
func runChecks(ctx context.Context, cfg serveConfig, env checkEnv) []string {
	if env.getenv == nil {
		env.getenv = os.Getenv
	}
	if env.now == nil {
		env.now = time.Now
	}
	if env.built.IsZero() {
		env.built = buildTime()
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// The port, unless a server runs here and holds it.
	if !env.serverRunning {
		if ln, err := listen(cfg.Addr); err != nil {
			add("%v", err)
		} else {
			ln.Close()
		}
	}

	// The config file, against this server.
	backups := filepath.Join(cfg.DataDir, "Backups") // the setting's default
	catalog, err := buildCatalog(cfg.file, butler.DefaultCatalog(), wiring{DataDir: cfg.DataDir, Database: cfg.Database})
	if err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	} else if fixed, err := fixedSettings(cfg.file, catalog, cfg.DataDir, hostZone(env.getenv)); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	} else if p, ok := fixed[butler.SettingBackupPath]; ok {
		backups = p
	}
	if msg := checkCreatable(backups, "backup directory ("+butler.SettingBackupPath+")"); msg != "" {
		add("%s", msg)
	}
	problems = append(problems, checkTasks(cfg.file, env)...)
	if _, _, err := busyProbe(cfg.file); err != nil {
		add("%v", err)
	}

	// The data directory and what is in it.
	problems = append(problems, checkDataDir(cfg.DataDir)...)

	// The database.
	if isPostgres(cfg.Database) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pg, err := postgres.Open(pctx, cfg.Database)
		cancel()
		if err != nil {
			add("database %s: %v", redact(cfg.Database), err)
		} else {
			pg.Close()
		}
	} else {
		problems = append(problems, checkSQLite(ctx, cfg.Database)...)
	}

	// The clock and the zone.
	if zone := env.getenv("TZ"); zone != "" {
		if _, err := time.LoadLocation(strings.TrimPrefix(zone, ":")); err != nil {
			add("time zone: TZ=%s names no zone; give an IANA name such as Europe/Berlin, or unset TZ", zone)
		}
	}
	if built := env.built; !built.IsZero() && env.now().Before(built) {
		add("clock: the system clock says %s, before this program was built (%s); set the clock (timedatectl, NTP): the maintenance window and the history follow it",
			env.now().UTC().Format(time.RFC3339), built.UTC().Format(time.RFC3339))
	}
	return problems
}

// checkTasks returns the problems of the file's paths on this system, as
// its user sees them: exec programs that do not exist or are not
// executable, working and cache directories that are not directories,
// databases that are not files, backup directories that cannot be made,
// library folders that are missing, not directories or unreadable, and an
// ffprobe that cannot be found or run (when a library is configured or
// media.ffprobe given).
// serve logs them as warnings; butler check reports them.
func checkTasks(f *config.File, _ checkEnv) []string {
	var problems []string
	at := func(line int, key, format string, args ...any) {
		problems = append(problems, (&config.Error{File: f.Path, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}).Error())
	}
	for _, t := range f.Tasks {
		if t.Exec == nil {
			continue
		}
		key := "tasks." + t.Name + ".exec"
		if len(t.Exec.Argv) > 0 {
			if msg := checkProgram(t.Exec.Argv[0]); msg != "" {
				at(t.Exec.ArgvLine, key+".argv[0]", "%s", msg)
			}
		}
		if d := t.Exec.Dir; d.Value != "" {
			if msg := checkDir(d.Value, "working directory"); msg != "" {
				at(d.Line, key+".dir", "%s", msg)
			}
		}
	}
	for i, d := range f.Databases {
		key := fmt.Sprintf("databases[%d]", i)
		fi, err := os.Stat(d.Path.Value)
		switch {
		case err != nil:
			at(d.Path.Line, key+".path", "%s: %s; BackupDatabase and OptimizeDatabase will fail on it", d.Path.Value, reason(err))
		case !fi.Mode().IsRegular():
			at(d.Path.Line, key+".path", "%s is not a file; give the SQLite database file", d.Path.Value)
		default:
			if err := syscall.Access(d.Path.Value, 4|2); err != nil { // R_OK|W_OK
				at(d.Path.Line, key+".path", "%s is not readable and writable by this user (%v); its backup and optimization need both", d.Path.Value, err)
			}
		}
		if b := d.BackupDir; b.Value != "" {
			if msg := checkCreatable(b.Value, "backup directory"); msg != "" {
				at(b.Line, key+".backup_dir", "%s", msg)
			}
		}
	}
	for i, c := range f.Caches {
		if msg := checkDir(c.Path.Value, "cache directory"); msg != "" {
			at(c.Path.Line, fmt.Sprintf("caches[%d].path", i), "%s; CleanOldCacheFiles will skip it", msg)
		}
	}
	for i, l := range f.Libraries {
		for j, folder := range l.Folders {
			if msg := checkFolder(folder.Value); msg != "" {
				at(folder.Line, fmt.Sprintf("libraries[%d].folders[%d]", i, j), "library %s: %s", l.Name, msg)
			}
		}
	}
	if len(f.Libraries) > 0 || f.Media != nil && f.Media.FFprobe.Value != "" {
		if msg := checkFFmpegTool("ffprobe", f.Media.FFprobeProgram(), "DeepMediaAnalysis and UpgradeMediaAnalysis"); msg != "" {
			line := 0
			if f.Media != nil {
				line = f.Media.FFprobe.Line
			}
			at(line, "media.ffprobe", "%s", msg)
		}
	}
	if len(f.Libraries) > 0 || f.Media != nil && f.Media.FFmpeg.Value != "" {
		if msg := checkFFmpegTool("ffmpeg", f.Media.FFmpegProgram(), "LoudnessAnalysis, GenerateMediaIndexFiles, GenerateChapterThumbs and the intro and credits markers"); msg != "" {
			line := 0
			if f.Media != nil {
				line = f.Media.FFmpeg.Line
			}
			at(line, "media.ffmpeg", "%s", msg)
		}
	}
	return problems
}

// checkFolder says what is wrong with path as a library folder that
// RefreshLibraries lists; "" when nothing is.
func checkFolder(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("folder %s does not exist on this server (a disk not mounted?); RefreshLibraries will fail on it, leaving its items as they are. In a cluster every node must have it at this same path", path)
	case err != nil:
		return fmt.Sprintf("folder %s: %s; RefreshLibraries will fail on it", path, reason(err))
	case !fi.IsDir():
		return fmt.Sprintf("folder %s is not a directory; give the directory that holds the library's files", path)
	case syscall.Access(path, 4|1) != nil: // R_OK|X_OK
		return fmt.Sprintf("folder %s cannot be read by this user (mode %v); RefreshLibraries needs to list it: make it readable, or run Butler as a user who may", path, fi.Mode().Perm())
	}
	return ""
}

// toolCheckTimeout bounds checkFFmpegTool's run of the program's -version.
const toolCheckTimeout = 10 * time.Second

// checkFFmpegTool says what is wrong with program as FFmpeg's tool name
// ("ffprobe", "ffmpeg") that the tasks users run (an absolute path, or a
// name looked up in PATH): not found, not executable, or failing to run
// with -version; "" when nothing is.
func checkFFmpegTool(name, program, users string) string {
	install := "install FFmpeg (on Debian: apt-get install ffmpeg) or give the program's path in media." + name
	path, err := exec.LookPath(program)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Sprintf("%s %q is not found in PATH (%s); %s: %s will fail without it", name, program, os.Getenv("PATH"), install, users)
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = ee.Err
		}
		return fmt.Sprintf("%s %s cannot be run by this user (%s); %s: %s will fail without it", name, program, reason(err), install, users)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolCheckTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-version")
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if len(first) > 200 {
			first = first[:200] + "..."
		}
		if first != "" {
			first = ": " + first
		}
		return fmt.Sprintf("%s %s does not run (%v%s); %s", name, path, err, first, install)
	}
	return ""
}

// checkProgram says what is wrong with path as a program to run; "" when
// nothing is.
func checkProgram(path string) string {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %s; the task would fail when it runs", path, reason(err))
	case fi.IsDir():
		return fmt.Sprintf("%s is a directory, not a program", path)
	case syscall.Access(path, 1) != nil: // X_OK
		return fmt.Sprintf("%s is not executable by this user (mode %v); chmod +x it or run Butler as a user who may run it", path, fi.Mode().Perm())
	}
	return ""
}

// checkDir says what is wrong with path as an existing directory; "" when
// nothing is.
func checkDir(path, what string) string {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Sprintf("%s %s: %s", what, path, reason(err))
	case !fi.IsDir():
		return fmt.Sprintf("%s %s is not a directory", what, path)
	case syscall.Access(path, 1) != nil:
		return fmt.Sprintf("%s %s cannot be entered by this user", what, path)
	}
	return ""
}

// checkCreatable says what is wrong with path as a directory Butler writes
// into, creating it if need be; "" when nothing is.
func checkCreatable(path, what string) string {
	p := path
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Sprintf("%s %s: %s is not a directory", what, path, p)
			}
			if syscall.Access(p, 2|1) != nil { // W_OK|X_OK
				if p == path {
					return fmt.Sprintf("%s %s is not writable by this user", what, path)
				}
				return fmt.Sprintf("%s %s does not exist and cannot be created: %s is not writable by this user", what, path, p)
			}
			return ""
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("%s %s: %s", what, path, reason(err))
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Sprintf("%s %s cannot be created", what, path)
		}
		p = parent
	}
}

// checkDataDir returns the problems of the data directory: not creatable,
// not owned by this user, writable by others; a token file or database
// readable by others.
func checkDataDir(dir string) []string {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if msg := checkCreatable(dir, "data directory"); msg != "" {
			return []string{msg}
		}
		return nil
	}
	if err != nil {
		return []string{fmt.Sprintf("data directory %s: %s", dir, reason(err))}
	}
	if !fi.IsDir() {
		return []string{fmt.Sprintf("data directory %s is not a directory", dir)}
	}
	var problems []string
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		problems = append(problems, fmt.Sprintf("data directory %s belongs to uid %d, not to this user (uid %d); chown it to the user that runs butler serve", dir, st.Uid, os.Geteuid()))
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		problems = append(problems, fmt.Sprintf("data directory %s has mode %04o: other users may write into it; chmod 700 it", dir, perm))
	}
	if syscall.Access(dir, 2|1) != nil {
		problems = append(problems, fmt.Sprintf("data directory %s is not writable by this user", dir))
	}
	for _, name := range []string{"token", "machine-id"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			problems = append(problems, fmt.Sprintf("%s has mode %04o: other users may read it; chmod 600 it", p, fi.Mode().Perm()))
		}
	}
	return problems
}

// checkSQLite returns the problems of a SQLite database: damaged, not
// private, or (when it does not exist yet) not creatable. It writes
// nothing.
func checkSQLite(ctx context.Context, path string) []string {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if msg := checkCreatable(filepath.Dir(path), "database directory"); msg != "" {
			return []string{msg}
		}
		return nil
	}
	if err != nil {
		return []string{fmt.Sprintf("database %s: %s", path, reason(err))}
	}
	var problems []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			problems = append(problems, fmt.Sprintf("database file %s has mode %04o: other users may read it; chmod 600 it (butler serve does)", p, fi.Mode().Perm()))
		}
	}
	if !fi.Mode().IsRegular() {
		return append(problems, fmt.Sprintf("database %s is not a file", path))
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sqlite.Check(cctx, path); err != nil {
		problems = append(problems, fmt.Sprintf("database %s: %v", path, err))
	}
	return problems
}

// reason is the short cause of a file system error: "no such file or
// directory", "permission denied".
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// buildTime is when this program's source was committed, from its build
// information; zero when unknown.
func buildTime() time.Time {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return time.Time{}
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.time" {
			t, _ := time.Parse(time.RFC3339, s.Value)
			return t
		}
	}
	return time.Time{}
}

// emptyConfigFile is the config of a server started without --config.
func emptyConfigFile() *config.File { return &config.File{} }
