package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/engine"
	"github.com/plexbutler/butler/internal/atomicfile"
	"github.com/plexbutler/butler/internal/sqliteuri"
	"github.com/plexbutler/butler/internal/sqlstore"
	"github.com/plexbutler/butler/store/sqlite"
)

// newDatabaseFromEnv reads BUTLER_NEW_DATABASE.
func newDatabaseFromEnv(getenv func(string) string) (bool, error) {
	v := getenv("BUTLER_NEW_DATABASE")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, usageErr("BUTLER_NEW_DATABASE %q: want true or false", v)
	}
	return b, nil
}

// needsUpgrade reports whether the SQLite database at path has Butler's
// tables or River's of an older schema than this program's, which opening
// it will migrate; it refuses tables of a newer schema, which the server
// would refuse (isNewerSchema: Butler's, a *sqlstore.NewerSchemaError;
// River's, an *engine.NewerSchemaError). It writes nothing.
func needsUpgrade(ctx context.Context, path string) (bool, error) {
	up, err := sqlite.NeedsUpgrade(ctx, path)
	if err != nil {
		return false, err
	}
	ro, err := sqlite.ReadOnly(path)
	if err != nil {
		return false, err
	}
	defer ro.Close()
	known, has, err := engine.SQLiteSchema(ctx, ro)
	if err != nil {
		return false, err
	}
	if has > known {
		return false, &engine.NewerSchemaError{Version: has, Known: known}
	}
	return up || (has > 0 && has < known), nil
}

// isNewerSchema reports whether err says that a database's tables, Butler's
// or River's, were made by a newer Butler than this one.
func isNewerSchema(err error) bool {
	var butlers *sqlstore.NewerSchemaError
	var rivers *engine.NewerSchemaError
	return errors.As(err, &butlers) || errors.As(err, &rivers)
}

// openSQLite opens the server's SQLite database, whose lock l holds.
//
// A database file that is there but empty, not SQLite, or damaged
// (sqlite.Check) stops the server (exit 2) with a message that names the
// newest backup and the command that restores it. With --new-database the
// damaged file and its -wal, -shm and -journal files are instead moved
// aside, to <name>.damaged-<UTC time>, and a new database is made in their
// place; nothing is deleted. On a sound database --new-database does
// nothing but say so in the log.
func openSQLite(ctx context.Context, cfg serveConfig, l *dbLock, logger *slog.Logger) (*sqlite.DB, error) {
	_, statErr := os.Stat(cfg.Database)
	// A SQLite database (not an empty or foreign file, whose -wal SQLite
	// would delete on opening, and which Open refuses below) of a schema
	// this program will upgrade: a backup first, which the older version
	// can use should the upgrade be undone.
	if statErr == nil && checkSQLiteHeader(cfg.Database) == nil {
		up, err := needsUpgrade(ctx, cfg.Database)
		if isNewerSchema(err) {
			return nil, &exitError{2, fmt.Errorf("database %s: %w", cfg.Database, err)}
		}
		if err == nil && up {
			path, err := backupBeforeUpgrade(ctx, cfg)
			if err != nil {
				return nil, &exitError{2, fmt.Errorf("database %s needs an upgrade of its schema, and the backup made before it failed: %w; nothing was changed", cfg.Database, err)}
			}
			logger.InfoContext(ctx, "butler: backed up the database before upgrading its schema", slog.String("backup", path))
		}
	}
	var fresh absentFiles // a database this start makes: none of its files exists
	if errors.Is(statErr, fs.ErrNotExist) {
		fresh = newFiles(l.path, sqliteFiles)
	}
	db, err := sqlite.Open(ctx, cfg.Database)
	var damaged *sqlite.DamagedError
	if !errors.As(err, &damaged) {
		if err != nil {
			// A database this start was making (a full disk): its files
			// go, so that the next start does not find an empty file and
			// take it for a damaged database. (Those of a database that
			// was there stay, a -wal made now included: it may hold what
			// was committed.)
			if rmErr := fresh.remove(); rmErr != nil {
				err = fmt.Errorf("%w; and the files it began: %v", err, rmErr)
			}
			return nil, &exitError{2, err}
		}
		if cfg.NewDatabase {
			why := "the database is not damaged"
			if errors.Is(statErr, fs.ErrNotExist) {
				why = "there was no database yet"
			}
			logger.InfoContext(ctx, "butler: --new-database ignored: "+why+"; nothing was moved", slog.String("database", cfg.Database))
		}
		logger.InfoContext(ctx, "butler: database opened", slog.String("database", cfg.Database), slog.String("checked", db.Checked()))
		return db, nil
	}
	name := cfg.Database
	if name != l.path {
		name += " (" + l.path + ")"
	}
	if !cfg.NewDatabase {
		return nil, &exitError{2, fmt.Errorf("database %s %s; nothing was changed. %s", name, damaged.Problem, damagedAdvice(ctx, cfg))}
	}
	moved, err := moveAside(l.path, "damaged", time.Now())
	for _, m := range moved {
		logger.WarnContext(ctx, "butler: moved a damaged database file aside (--new-database)", slog.String("from", m[0]), slog.String("to", m[1]))
	}
	if err != nil {
		return nil, &exitError{2, fmt.Errorf("database %s %s, and moving it aside failed: %v; the files already moved are in the log", name, damaged.Problem, err)}
	}
	logger.WarnContext(ctx, "butler: starting with a new, empty database in place of the damaged one",
		slog.String("database", cfg.Database), slog.String("damaged", moved[0][1]), slog.String("problem", damaged.Problem))
	db, err = sqlite.Open(ctx, cfg.Database)
	if err != nil {
		return nil, &exitError{2, err}
	}
	return db, nil
}

// backupBeforeUpgrade copies the database of cfg, as it is, into its
// backup directory under a backup's name (butler restore lists it), and
// returns the copy's path.
func backupBeforeUpgrade(ctx context.Context, cfg serveConfig) (string, error) {
	dir, _ := restoreBackupDir(ctx, cfg)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, backupStem(cfg.Database)+"-"+time.Now().UTC().Format(backupStampLayout)+".db")
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+"-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	f.Close()
	if err := vacuumInto(ctx, cfg.Database, tmp); err != nil {
		removeQuietly(tmp, tmp+"-journal")
		return "", err
	}
	if err := syncFile(tmp); err != nil {
		removeQuietly(tmp)
		return "", err
	}
	if _, err := os.Lstat(dst); err == nil {
		removeQuietly(tmp)
		return "", fmt.Errorf("%s exists already", dst)
	}
	if err := atomicfile.Rename(tmp, dst); err != nil {
		removeQuietly(tmp)
		return "", err
	}
	return dst, nil
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// sqliteFiles are the suffixes of a SQLite database's files.
var sqliteFiles = []string{"", "-wal", "-shm", "-journal"}

// absentFiles are files that did not exist when they were listed.
type absentFiles []string

// newFiles lists the files path+suffix that do not exist now.
func newFiles(path string, suffixes []string) absentFiles {
	var out absentFiles
	for _, s := range suffixes {
		if _, err := os.Lstat(path + s); errors.Is(err, fs.ErrNotExist) {
			out = append(out, path+s)
		}
	}
	return out
}

// remove removes those of the files that exist now.
func (a absentFiles) remove() error {
	var errs []error
	for _, p := range a {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// damagedAdvice is what to do about the damaged database of cfg: restore
// the newest backup (named, with the command), or start with
// --new-database. When the backup directory setting could not be read from
// the damaged file, it says so: the default directory it looked in may
// hold only older backups than the one the setting names.
func damagedAdvice(ctx context.Context, cfg serveConfig) string {
	dir, read := restoreBackupDir(ctx, cfg)
	cmd := restoreCommand(cfg, dir)
	const fresh = "or start with --new-database to move the damaged files aside and begin with an empty database"
	unread := ""
	if !read {
		unread = fmt.Sprintf("Butler could not read the backup directory setting (%s) from the damaged database, so it looked in the default directory, %s; if that setting named another directory, the newest backups are there: point restore at it with --backup-dir (%s --backup-dir DIR lists them). ",
			butler.SettingBackupPath, dir, "butler restore --data-dir "+shellQuote(cfg.DataDir))
	}
	backups, err := listBackups(dir, cfg.Database)
	if err != nil || len(backups) == 0 {
		return fmt.Sprintf("%sNo backup of it is in %s; to restore one from elsewhere run: %s FILE; %s", unread, dir, cmd, fresh)
	}
	b := backups[0]
	newest := "the newest backup"
	if !read {
		newest = "the newest backup there"
	}
	return fmt.Sprintf("%sTo restore %s, %s (made %s UTC), run: %s %s; %s",
		unread, newest, b.path, b.time.Format("2006-01-02 15:04:05"), cmd, shellQuote(b.name), fresh)
}

// backupDirOf is where the backups of cfg's database are: the
// ButlerDatabaseBackupPath setting when it can still be read from the
// database file, else <data-dir>/Backups. read is false when the database
// file is there but the setting could not be read from it (a damaged or
// foreign file): the setting may name another directory then.
func backupDirOf(ctx context.Context, cfg serveConfig) (dir string, read bool) {
	def := filepath.Join(cfg.DataDir, "Backups")
	if _, err := os.Stat(cfg.Database); errors.Is(err, fs.ErrNotExist) {
		return def, true
	}
	if err := checkSQLiteHeader(cfg.Database); err != nil {
		return def, false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// immutable: the read touches neither the database nor its -wal and
	// -shm files (a restore must change nothing before it puts the backup
	// in place); a setting changed since the last checkpoint, still in the
	// -wal file, is not seen.
	uri, err := sqliteuri.File(cfg.Database, "mode=ro&immutable=1")
	if err != nil {
		return def, false
	}
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return def, false
	}
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx, `SELECT value FROM butler_setting WHERE id = ?`, butler.SettingBackupPath).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return def, true
	}
	if err != nil {
		return def, false
	}
	if !filepath.IsAbs(v) {
		return def, true
	}
	return v, true
}
