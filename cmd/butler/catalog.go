package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/config"
	"github.com/plexbutler/butler/internal/mediatool"
	"github.com/plexbutler/butler/loudness"
	"github.com/plexbutler/butler/markers"
	"github.com/plexbutler/butler/mediaframes"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/tasks"
)

// wiring is what buildCatalog needs to know of the server.
type wiring struct {
	// DataDir is Butler's data directory; its own cache is
	// <DataDir>/Cache.
	DataDir string
	// Database is Butler's own database: the path of its SQLite file, or
	// a URL (postgres://...) when OwnBackup and OwnOptimize are given.
	Database string
	// OwnBackup and OwnOptimize back up and optimize Butler's own
	// database; nil means the SQLite actions on Database
	// ([tasks.BackupDatabase] into the backup directory keeping 3,
	// [tasks.OptimizeDatabase]). A PostgreSQL server passes its own.
	OwnBackup, OwnOptimize butler.Action
	// OwnLabel names Butler's own database in the progress, summary and
	// errors of a multi-database run; default Database when it is a path,
	// "Butler's database" when it is a URL (which may hold a password).
	OwnLabel string
	// Version is the running version, which CheckForUpdates compares with
	// the feed's.
	Version string
	// Client, when set, is the HTTP client of CheckForUpdates.
	Client *http.Client
	// Logger, when set, is the media analysis's logger for its warnings
	// about the programs it runs (their priority not lowered).
	Logger *slog.Logger
	// Index is the media index of the library tasks (serve's
	// [mediaIndexLink], which forwards to the store once it is open); nil
	// means a link that is never set, whose calls fail clearly.
	Index butler.MediaIndex
}

// builtinKeep is how many backups of Butler's own database are kept.
const builtinKeep = 3

// buildCatalog returns base (normally [butler.DefaultCatalog]) with the
// built-in actions bound and the file's tasks applied:
//
//   - BackupDatabase backs up Butler's own database (w.OwnBackup, or into
//     the backup directory keeping 3), and then each of f.Databases (into
//     its BackupDir, or <backup directory>/<name>): a
//     [tasks.BackupDatabases], or a [tasks.Sequence] when w.OwnBackup is
//     set, when there are any.
//   - OptimizeDatabase optimizes Butler's own database (w.OwnOptimize, or
//     the SQLite file) and each of f.Databases, the same way.
//   - CleanOldCacheFiles cleans <DataDir>/Cache (files older than 7 days)
//     and each of f.Caches, then applies their size caps. An entry of
//     caches whose path is <DataDir>/Cache replaces the built-in rule.
//   - CheckForUpdates reads f.UpdateFeed when it is set.
//   - RefreshLibraries scans f.Libraries into w.Index;
//     DeepMediaAnalysis and UpgradeMediaAnalysis analyse the index's
//     items with ffprobe as f.Media says; GarbageCollectLibraryMedia
//     removes the items gone for longer than f.Media's grace period. All
//     four are bound, with or without libraries (a run with none finishes
//     at once and says so).
//   - Each of f.Tasks binds its action to its name: a Plex task of base
//     takes the action and the fields the file sets (an action the steps
//     above bound is replaced); a new name is added at the end of the
//     catalog, due every day unless interval is set, enabled by default
//     unless enabled is false, titled by its name unless title is set.
//
// An error is a [config.Errors] pointing into the file: a database that is
// Butler's own SQLite file, or a new task whose enable setting would be
// another's.
func buildCatalog(f *config.File, base []butler.Task, w wiring) ([]butler.Task, error) {
	c := append([]butler.Task(nil), base...)
	ownLabel := w.OwnLabel

	// Databases.
	if !strings.Contains(w.Database, "://") {
		own, err := filepath.Abs(w.Database)
		if err != nil {
			return nil, fmt.Errorf("butler database %s: %w", w.Database, err)
		}
		own = filepath.Clean(own)
		for i, d := range f.Databases {
			if d.Path.Value == own {
				return nil, config.Errors{{File: f.Path, Line: d.Path.Line, Key: fmt.Sprintf("databases[%d].path", i),
					Msg: "is Butler's own database, which BackupDatabase and OptimizeDatabase maintain already; remove this entry"}}
			}
		}
		if ownLabel == "" {
			ownLabel = w.Database
		}
	} else if ownLabel == "" {
		ownLabel = "Butler's database"
	}
	// The backup directory is the ButlerDatabaseBackupPath setting, which
	// each run reads through its reporter.
	ownBackup := tasks.BackupDatabase{Source: w.Database, Keep: builtinKeep}
	ownOptimize := tasks.OptimizeDatabase{Path: w.Database}
	var backupAction, optimizeAction butler.Action
	switch {
	case len(f.Databases) == 0 && w.OwnBackup != nil:
		backupAction = w.OwnBackup
	case len(f.Databases) == 0:
		backupAction = &ownBackup
	case w.OwnBackup != nil:
		q := &tasks.Sequence{One: "database", Many: "databases", Op: "backup of databases",
			Steps: []tasks.Step{{Label: ownLabel, Action: w.OwnBackup}}}
		for _, d := range f.Databases {
			q.Steps = append(q.Steps, tasks.Step{Label: d.Path.Value, Action: databaseBackup(d, true)})
		}
		backupAction = q
	default:
		b := &tasks.BackupDatabases{Targets: []tasks.BackupDatabase{ownBackup}}
		for _, d := range f.Databases {
			b.Targets = append(b.Targets, *databaseBackup(d, false))
		}
		backupAction = b
	}
	switch {
	case len(f.Databases) == 0 && w.OwnOptimize != nil:
		optimizeAction = w.OwnOptimize
	case len(f.Databases) == 0:
		optimizeAction = &ownOptimize
	case w.OwnOptimize != nil:
		q := &tasks.Sequence{One: "database", Many: "databases", Op: "optimization of databases",
			Steps: []tasks.Step{{Label: ownLabel, Action: w.OwnOptimize}}}
		for _, d := range f.Databases {
			q.Steps = append(q.Steps, tasks.Step{Label: d.Path.Value, Action: &tasks.OptimizeDatabase{Path: d.Path.Value, LockTimeout: d.LockTimeout.Duration}})
		}
		optimizeAction = q
	default:
		o := &tasks.OptimizeDatabases{Targets: []tasks.OptimizeDatabase{ownOptimize}}
		for _, d := range f.Databases {
			o.Targets = append(o.Targets, tasks.OptimizeDatabase{Path: d.Path.Value, LockTimeout: d.LockTimeout.Duration})
		}
		optimizeAction = o
	}
	c = butler.Bind(c, butler.TaskBackupDatabase, backupAction)
	c = butler.Bind(c, butler.TaskOptimizeDatabase, optimizeAction)

	// Caches.
	ownCache := filepath.Join(w.DataDir, "Cache")
	if abs, err := filepath.Abs(ownCache); err == nil {
		ownCache = abs
	}
	cleans := []tasks.CleanOldCacheFiles{{Dir: ownCache, MaxAge: config.DefaultMaxAgeDays * 24 * time.Hour}}
	var caps []tasks.CleanCacheSizeCap
	for _, cc := range f.Caches {
		rule := tasks.CleanOldCacheFiles{Dir: cc.Path.Value, MaxAge: time.Duration(cc.MaxAgeDays) * 24 * time.Hour}
		if cc.Path.Value == ownCache {
			cleans[0] = rule
		} else {
			cleans = append(cleans, rule)
		}
		if cc.MaxSize.Bytes > 0 {
			caps = append(caps, tasks.CleanCacheSizeCap{Dir: cc.Path.Value, MaxBytes: cc.MaxSize.Bytes})
		}
	}
	if len(cleans) == 1 && len(caps) == 0 {
		c = butler.Bind(c, butler.TaskCleanOldCacheFiles, &cleans[0])
	} else {
		c = butler.Bind(c, butler.TaskCleanOldCacheFiles, &tasks.CleanCaches{Targets: cleans, SizeCaps: caps})
	}

	// Update feed.
	if f.UpdateFeed != nil {
		c = butler.Bind(c, butler.TaskCheckForUpdates, &tasks.CheckForUpdates{
			FeedURL: f.UpdateFeed.URL.Value, Current: w.Version, Client: w.Client,
		})
	}

	// The media library.
	c = bindLibrary(c, f, w.Index, filepath.Join(w.DataDir, "Media"), w.Logger)

	// Tasks.
	settings := map[string]butler.TaskName{}
	index := map[butler.TaskName]int{}
	for i, t := range c {
		settings[t.Setting] = t.Name
		index[t.Name] = i
	}
	for _, t := range f.Tasks {
		name := butler.TaskName(t.Name)
		i, known := index[name]
		if !known {
			setting := butler.EnableSetting(name)
			if other, taken := settings[setting]; taken {
				return nil, config.Errors{{File: f.Path, Line: t.Line, Key: "tasks." + t.Name,
					Msg: fmt.Sprintf("its enable setting would be %s, which is task %s's; choose another name", setting, other)}}
			}
			settings[setting] = name
			c = append(c, butler.Task{
				Name: name, Title: t.Name, Interval: 1, EnabledDefault: true,
				Setting: setting, SettingLabel: t.Name, TimeLimit: butler.DefaultTimeLimit,
			})
			i = len(c) - 1
			index[name] = i
		}
		bt := &c[i]
		bt.Action = taskAction(t)
		if d := t.TimeLimit(); d > 0 {
			bt.TimeLimit = d
		}
		if t.Interval > 0 {
			bt.Interval = int(t.Interval)
		}
		if t.Randomized != nil {
			bt.Randomized = bool(*t.Randomized)
		}
		if t.Enabled != nil {
			bt.EnabledDefault = bool(*t.Enabled)
		}
		if t.StopAtWindowEnd != nil {
			bt.StopAtWindowEnd = bool(*t.StopAtWindowEnd)
		}
		if t.Title != "" {
			bt.Title = string(t.Title)
			if !known {
				bt.SettingLabel = string(t.Title)
			}
		}
		if t.Description != "" {
			bt.Description = string(t.Description)
		}
	}
	return c, nil
}

// databaseBackup returns the backup action of d: into its backup_dir, or
// a folder named after it in the backup directory setting.
func databaseBackup(d config.Database, shared bool) *tasks.BackupDatabase {
	b := &tasks.BackupDatabase{Source: d.Path.Value, Keep: int(d.Keep), LockTimeout: d.LockTimeout.Duration, SharedDir: shared}
	if d.BackupDir.Value != "" {
		dir := d.BackupDir.Value
		b.Dir = func() string { return dir }
		return b
	}
	b.Subdir = string(d.Name)
	return b
}

// taskAction returns the action of a task of the file: a [*tasks.Exec] or
// a [*tasks.HTTP].
func taskAction(t config.Task) butler.Action {
	switch {
	case t.Exec != nil:
		return &tasks.Exec{
			Argv:  append([]string(nil), t.Exec.Argv...),
			Dir:   t.Exec.Dir.Value,
			Env:   append([]string(nil), t.Exec.Env...),
			Grace: t.Exec.Grace.Duration,
		}
	case t.HTTP != nil:
		return &tasks.HTTP{
			Method: string(t.HTTP.Method),
			URL:    t.HTTP.URL.Value,
			Header: http.Header(t.HTTP.Header).Clone(),
			Body:   string(t.HTTP.Body),
			Expect: append([]int(nil), t.HTTP.Expect...),
		}
	}
	return nil
}

// bindLibrary binds the library tasks of c to their actions on index (a
// never-set [mediaIndexLink] when nil), with f's libraries and media
// settings; the items' bundles are under bundles (<data-dir>/Media).
// RefreshLocalMedia is bound when index keeps sidecars (both stores do).
func bindLibrary(c []butler.Task, f *config.File, index butler.MediaIndex, bundles string, logger *slog.Logger) []butler.Task {
	if index == nil {
		index = &mediaIndexLink{}
	}
	libs := f.Libraries.Domain()
	m := f.Media
	nice := m.Niceness()
	if nice == 0 {
		nice = -1 // Butler's own priority; mediaprobe reads 0 as its default
	}
	prober := &mediaprobe.Prober{FFprobe: m.FFprobeProgram(), Nice: nice, IOClass: m.IO(), Timeout: m.ProbeTimeout(), Logger: logger}
	grace := m.Grace()
	if grace == 0 {
		// grace_days: 0 removes an item at the first run after it is gone;
		// the action reads a zero Grace as its default (7 days).
		grace = time.Nanosecond
	}
	c = butler.Bind(c, butler.TaskRefreshLibraries, &tasks.RefreshLibraries{Index: index, Libraries: libs})
	c = butler.Bind(c, butler.TaskDeepMediaAnalysis, &tasks.DeepMediaAnalysis{Index: index, Prober: prober, Parallel: m.Workers()})
	c = butler.Bind(c, butler.TaskUpgradeMediaAnalysis, &tasks.UpgradeMediaAnalysis{Index: index, Prober: prober, Parallel: m.Workers()})
	c = butler.Bind(c, butler.TaskGarbageCollectLibraryMedia, &tasks.GarbageCollectLibraryMedia{Index: index, Grace: grace})
	if si, ok := index.(butler.SidecarIndex); ok {
		c = butler.Bind(c, butler.TaskRefreshLocalMedia, &tasks.RefreshLocalMedia{Index: si, Libraries: libs})
	}
	if abs, err := filepath.Abs(bundles); err == nil {
		bundles = abs
	}
	c = butler.Bind(c, butler.TaskCleanOldBundles, &tasks.CleanOldBundles{Index: index, Root: bundles, Grace: grace})
	c = butler.Bind(c, butler.TaskGarbageCollectBlobs, &tasks.GarbageCollectBlobs{Root: bundles})

	// The media outputs, when the index records them (both stores do):
	// ffmpeg at the priority ffprobe runs at, one bundle writer for all.
	oi, ok := index.(butler.OutputIndex)
	if !ok {
		return c
	}
	ffmpeg := &mediatool.Tool{Program: m.FFmpegProgram(), Nice: nice, IOClass: m.IO(), Logger: logger}
	writer := &tasks.BundleWriter{Bundles: butler.Bundles{Root: bundles}}
	frames := &mediaframes.Extractor{FFmpeg: ffmpeg, Width: m.PreviewWidth(), Interval: m.PreviewInterval(), Logger: logger}
	c = butler.Bind(c, butler.TaskLoudnessAnalysis, &tasks.LoudnessAnalysis{Index: oi,
		Analyzer: &loudness.Analyzer{FFmpeg: ffmpeg, Logger: logger}, Parallel: m.Workers()})
	c = butler.Bind(c, butler.TaskGenerateMediaIndexFiles, &tasks.GenerateMediaIndexFiles{Index: oi, Bundles: writer, Extractor: frames,
		Trickplay: m.TrickplayOn(), BesideMedia: m.BesideMedia(), Parallel: m.Workers()})
	c = butler.Bind(c, butler.TaskGenerateChapterThumbs, &tasks.GenerateChapterThumbs{Index: oi, Bundles: writer, Extractor: frames, Parallel: m.Workers()})
	finder := &markers.Finder{FFmpeg: ffmpeg, Logger: logger}
	c = butler.Bind(c, butler.TaskButlerTaskGenerateIntroMarkers, &tasks.GenerateMarkers{Kind: markers.Intro, Index: oi, Finder: finder, Libraries: libs, Parallel: m.Workers()})
	c = butler.Bind(c, butler.TaskButlerTaskGenerateCreditsMarkers, &tasks.GenerateMarkers{Kind: markers.Credits, Index: oi, Finder: finder, Libraries: libs, Parallel: m.Workers()})
	if both, ok := index.(interface {
		butler.OutputIndex
		butler.SidecarIndex
	}); ok {
		c = butler.Bind(c, butler.TaskGenerateBlurHashes, &tasks.GenerateBlurHashes{Index: both, Parallel: m.Workers()})
	}
	return c
}
