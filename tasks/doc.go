// Package tasks provides the actions of Butler's built-in maintenance tasks,
// each a [butler.Action]:
//
//   - [BackupDatabase] copies a live SQLite database with SQLite's online
//     backup API into a backup directory, verifies the copy and keeps the
//     newest few backups.
//   - [OptimizeDatabase] checks a SQLite database's integrity and then runs
//     PRAGMA optimize, ANALYZE and VACUUM on it.
//   - [CleanOldCacheFiles] removes old files from a cache directory without
//     ever following symbolic links or touching anything outside it;
//     [CleanCacheSizeCap] trims a cache to a size, oldest first.
//   - [BackupDatabases], [OptimizeDatabases] and [CleanCaches] do the same
//     over several targets, going on after one fails.
//   - [PostgresBackup] and [PostgresOptimize] maintain a PostgreSQL database
//     (pg_dump, VACUUM (ANALYZE)).
//   - [Exec] runs a command (no shell) in its own process group, and [HTTP]
//     sends a request: the actions of user-defined tasks.
//   - [CheckForUpdates] reads a release feed and compares versions.
//
// The actions work on files directly: they open their own SQLite connections
// (through modernc.org/sqlite) rather than borrowing a server's pool, and
// they know nothing of HTTP or of any store. They report progress and a
// one-line summary through the [butler.Reporter] they are run with, log
// through its logger, and stop promptly, removing any partial output, when
// their context is done.
package tasks
