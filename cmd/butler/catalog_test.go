package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/bif"
	"github.com/plexbutler/butler/internal/config"
	"github.com/plexbutler/butler/mediaprobe"
	"github.com/plexbutler/butler/store/sqlite"
	"github.com/plexbutler/butler/tasks"
)

// parseTest parses a config file's content; ${PLEX_TOKEN} is "tok123".
func parseTest(t *testing.T, src string) (*config.File, error) {
	t.Helper()
	t.Setenv("PLEX_TOKEN", "tok123")
	return config.Parse([]byte(strings.TrimLeft(src, "\n")), "butler.yaml")
}

func testWiring() wiring {
	return wiring{
		DataDir:  "/data",
		Database: "/data/butler.db",
		Version:  "1.3.0",
	}
}

// task returns the catalog entry named name; the test fails when there is
// none.
func catalogTask(t *testing.T, c []butler.Task, name butler.TaskName) butler.Task {
	t.Helper()
	for _, e := range c {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("catalog has no task %s", name)
	return butler.Task{}
}

func TestCatalogWithoutFile(t *testing.T) {
	f, err := parseTest(t, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildCatalog(f, butler.DefaultCatalog(), testWiring())
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != len(butler.DefaultCatalog()) {
		t.Errorf("catalog has %d tasks, want the default %d", len(c), len(butler.DefaultCatalog()))
	}
	b, ok := catalogTask(t, c, butler.TaskBackupDatabase).Action.(*tasks.BackupDatabase)
	if !ok || b.Source != "/data/butler.db" || b.DirIn("/data/Backups") != "/data/Backups" || b.Keep != 3 {
		t.Errorf("BackupDatabase action = %#v", catalogTask(t, c, butler.TaskBackupDatabase).Action)
	}
	if o, ok := catalogTask(t, c, butler.TaskOptimizeDatabase).Action.(*tasks.OptimizeDatabase); !ok || o.Path != "/data/butler.db" {
		t.Errorf("OptimizeDatabase action = %#v", catalogTask(t, c, butler.TaskOptimizeDatabase).Action)
	}
	if cl, ok := catalogTask(t, c, butler.TaskCleanOldCacheFiles).Action.(*tasks.CleanOldCacheFiles); !ok || cl.Dir != "/data/Cache" || cl.MaxAge != 7*24*time.Hour {
		t.Errorf("CleanOldCacheFiles action = %#v", catalogTask(t, c, butler.TaskCleanOldCacheFiles).Action)
	}
	if a := catalogTask(t, c, butler.TaskCheckForUpdates).Action; a != nil {
		t.Errorf("CheckForUpdates has action %#v without a feed", a)
	}
}

func TestCatalog(t *testing.T) {
	f, err := parseTest(t, `
databases:
  - {name: plex, path: /plex/library.db, keep: 5}
  - {name: blobs, path: /plex/blobs.db, backup_dir: /backups/blobs}
caches:
  - {path: /data/Cache, max_age_days: 2}
  - {path: /var/cache/app, max_size: 1GiB}
update_feed:
  url: https://example.invalid/feed.json
tasks:
  RefreshLibraries:
    http:
      method: POST
      url: http://127.0.0.1:32400/library/sections/all/refresh
      headers: {X-Plex-Token: "${PLEX_TOKEN}"}
      expect: [200]
      time_limit: 10m
    enabled: true
  Nightly:
    exec:
      argv: [/usr/local/bin/nightly.sh, --fast]
      env: {FOO: bar}
      time_limit: 1h
      grace: 3s
    interval: 2
    randomized: true
    title: Nightly job
    description: Runs the nightly job
    stop_at_window_end: true
  Plain:
    exec: {argv: [/bin/true]}
    enabled: false
`)
	if err != nil {
		t.Fatal(err)
	}
	base := butler.DefaultCatalog()
	c, err := buildCatalog(f, base, testWiring())
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != len(base)+2 || c[len(c)-2].Name != "Nightly" || c[len(c)-1].Name != "Plain" {
		t.Fatalf("catalog has %d tasks ending %s, %s; want the default ones, then Nightly and Plain", len(c), c[len(c)-2].Name, c[len(c)-1].Name)
	}

	backups, ok := catalogTask(t, c, butler.TaskBackupDatabase).Action.(*tasks.BackupDatabases)
	if !ok || len(backups.Targets) != 3 {
		t.Fatalf("BackupDatabase action = %#v", catalogTask(t, c, butler.TaskBackupDatabase).Action)
	}
	for i, want := range []struct {
		source, dir string
		keep        int
	}{
		{"/data/butler.db", "/data/Backups", 3},
		{"/plex/library.db", "/data/Backups/plex", 5},
		{"/plex/blobs.db", "/backups/blobs", 3},
	} {
		b := backups.Targets[i]
		if b.Source != want.source || b.DirIn("/data/Backups") != want.dir || b.Keep != want.keep {
			t.Errorf("backup target %d = %s into %s keeping %d, want %+v", i, b.Source, b.DirIn("/data/Backups"), b.Keep, want)
		}
	}
	var _ butler.Recoverer = backups // a crash's partial backups are still removed

	optimizes, ok := catalogTask(t, c, butler.TaskOptimizeDatabase).Action.(*tasks.OptimizeDatabases)
	if !ok || !reflect.DeepEqual(optimizes.Targets, []tasks.OptimizeDatabase{{Path: "/data/butler.db"}, {Path: "/plex/library.db"}, {Path: "/plex/blobs.db"}}) {
		t.Errorf("OptimizeDatabase action = %#v", catalogTask(t, c, butler.TaskOptimizeDatabase).Action)
	}

	cleans, ok := catalogTask(t, c, butler.TaskCleanOldCacheFiles).Action.(*tasks.CleanCaches)
	wantCleans := &tasks.CleanCaches{
		Targets:  []tasks.CleanOldCacheFiles{{Dir: "/data/Cache", MaxAge: 2 * 24 * time.Hour}, {Dir: "/var/cache/app", MaxAge: 7 * 24 * time.Hour}},
		SizeCaps: []tasks.CleanCacheSizeCap{{Dir: "/var/cache/app", MaxBytes: 1 << 30}},
	}
	if !ok || !reflect.DeepEqual(cleans, wantCleans) {
		t.Errorf("CleanOldCacheFiles action = %#v, want %#v", catalogTask(t, c, butler.TaskCleanOldCacheFiles).Action, wantCleans)
	}

	upd, ok := catalogTask(t, c, butler.TaskCheckForUpdates).Action.(*tasks.CheckForUpdates)
	// Notify stays nil: the run announces a newer version through its reporter.
	if !ok || upd.FeedURL != "https://example.invalid/feed.json" || upd.Current != "1.3.0" || upd.Notify != nil {
		t.Errorf("CheckForUpdates action = %#v", catalogTask(t, c, butler.TaskCheckForUpdates).Action)
	}

	refresh := catalogTask(t, c, butler.TaskRefreshLibraries)
	wantHTTP := &tasks.HTTP{Method: "POST", URL: "http://127.0.0.1:32400/library/sections/all/refresh",
		Header: http.Header{"X-Plex-Token": {"tok123"}}, Expect: []int{200}}
	if !reflect.DeepEqual(refresh.Action, wantHTTP) {
		t.Errorf("RefreshLibraries action = %#v, want %#v", refresh.Action, wantHTTP)
	}
	// The Plex task keeps its own fields, except those the file sets.
	def := catalogTask(t, base, butler.TaskRefreshLibraries)
	if refresh.TimeLimit != 10*time.Minute || !refresh.EnabledDefault || refresh.Interval != def.Interval ||
		refresh.Randomized != def.Randomized || refresh.Title != def.Title || refresh.Setting != def.Setting || refresh.SettingLabel != def.SettingLabel {
		t.Errorf("RefreshLibraries = %+v", refresh)
	}

	nightly := catalogTask(t, c, "Nightly")
	wantExec := &tasks.Exec{Argv: []string{"/usr/local/bin/nightly.sh", "--fast"}, Env: []string{"FOO=bar"}, Grace: 3 * time.Second}
	if !reflect.DeepEqual(nightly.Action, wantExec) {
		t.Errorf("Nightly action = %#v, want %#v", nightly.Action, wantExec)
	}
	nightly.Action = nil
	wantNightly := butler.Task{Name: "Nightly", Title: "Nightly job", Description: "Runs the nightly job", Interval: 2,
		Randomized: true, EnabledDefault: true, Setting: "ButlerTaskNightly", SettingLabel: "Nightly job",
		TimeLimit: time.Hour, StopAtWindowEnd: true}
	if !reflect.DeepEqual(nightly, wantNightly) {
		t.Errorf("Nightly =\n%+v\nwant\n%+v", nightly, wantNightly)
	}
	plain := catalogTask(t, c, "Plain")
	plain.Action = nil
	wantPlain := butler.Task{Name: "Plain", Title: "Plain", Interval: 1, Setting: "ButlerTaskPlain", SettingLabel: "Plain",
		TimeLimit: butler.DefaultTimeLimit}
	if !reflect.DeepEqual(plain, wantPlain) {
		t.Errorf("Plain =\n%+v\nwant\n%+v", plain, wantPlain)
	}

	// Every offered task has its own enable setting.
	ids := map[string]bool{}
	for _, d := range butler.SettingDefs(c, "/data", "UTC") {
		if ids[d.ID] {
			t.Errorf("setting %s defined twice", d.ID)
		}
		ids[d.ID] = true
	}
	if !ids["ButlerTaskNightly"] || !ids["ButlerTaskPlain"] {
		t.Error("the new tasks have no enable settings")
	}
}

// TestCatalogReplacesBuiltin binds a program to BackupDatabase.
func TestCatalogReplacesBuiltin(t *testing.T) {
	f, err := parseTest(t, "tasks:\n  BackupDatabase:\n    exec: {argv: [/usr/local/bin/backup]}\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildCatalog(f, butler.DefaultCatalog(), testWiring())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := catalogTask(t, c, butler.TaskBackupDatabase).Action.(*tasks.Exec); !ok {
		t.Errorf("BackupDatabase action = %#v, want the program", catalogTask(t, c, butler.TaskBackupDatabase).Action)
	}
}

func TestCatalogErrors(t *testing.T) {
	for _, c := range []struct {
		name, src, want string
	}{
		{"own database", "databases:\n  - name: me\n    path: /data/butler.db\n",
			`butler.yaml:3: databases[0].path: is Butler's own database, which BackupDatabase and OptimizeDatabase maintain already; remove this entry`},
		{"setting taken", "tasks:\n  Foo:\n    exec: {argv: [/bin/true]}\n  ButlerTaskFoo:\n    exec: {argv: [/bin/true]}\n",
			`butler.yaml:4: tasks.ButlerTaskFoo: its enable setting would be ButlerTaskFoo, which is task Foo's; choose another name`},
		{"setting of a Plex task", "tasks:\n  ButlerTaskBackupDatabase:\n    exec: {argv: [/bin/true]}\n",
			`butler.yaml:2: tasks.ButlerTaskBackupDatabase: its enable setting would be ButlerTaskBackupDatabase, which is task BackupDatabase's; choose another name`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseTest(t, c.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = buildCatalog(f, butler.DefaultCatalog(), testWiring())
			if err == nil || err.Error() != c.want {
				t.Errorf("Catalog error\n got: %v\nwant: %s", err, c.want)
			}
		})
	}
}

// TestCatalogBackupDirUnset leaves the backup directory of a configured
// database empty when the setting is, so that its backup fails clearly.
func TestCatalogBackupDirUnset(t *testing.T) {
	f, err := parseTest(t, "databases:\n  - {name: plex, path: /plex/library.db}\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildCatalog(f, butler.DefaultCatalog(), testWiring())
	if err != nil {
		t.Fatal(err)
	}
	b := catalogTask(t, c, butler.TaskBackupDatabase).Action.(*tasks.BackupDatabases)
	if d := b.Targets[1].DirIn(""); d != "" {
		t.Errorf("backup directory = %q, want none", d)
	}
	if !strings.HasSuffix(filepath.ToSlash(b.Targets[0].Source), "/data/butler.db") {
		t.Errorf("first target = %s", b.Targets[0].Source)
	}
}

// TestCatalogPostgres wires a server whose own database is PostgreSQL.
func TestCatalogPostgres(t *testing.T) {
	pgBackup := &tasks.PostgresBackup{URL: "postgres://u:pw@db/butler"}
	pgOptimize := &tasks.PostgresOptimize{URL: "postgres://u:pw@db/butler"}
	w := testWiring()
	w.Database, w.OwnBackup, w.OwnOptimize = "postgres://u:pw@db/butler", pgBackup, pgOptimize

	// Without databases the server's own actions are bound as they are.
	f, err := parseTest(t, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildCatalog(f, butler.DefaultCatalog(), w)
	if err != nil {
		t.Fatal(err)
	}
	if catalogTask(t, c, butler.TaskBackupDatabase).Action != pgBackup || catalogTask(t, c, butler.TaskOptimizeDatabase).Action != pgOptimize {
		t.Error("the PostgreSQL actions are not bound")
	}

	// With databases they come first in a sequence.
	f, err = parseTest(t, "databases:\n  - {name: plex, path: /plex/library.db}\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err = buildCatalog(f, butler.DefaultCatalog(), w)
	if err != nil {
		t.Fatal(err)
	}
	q, ok := catalogTask(t, c, butler.TaskBackupDatabase).Action.(*tasks.Sequence)
	if !ok || len(q.Steps) != 2 || q.Steps[0].Action != pgBackup || q.Steps[0].Label != "Butler's database" {
		t.Fatalf("BackupDatabase action = %#v", catalogTask(t, c, butler.TaskBackupDatabase).Action)
	}
	// In a cluster the backup directory may be shared: Recover spares
	// another server's backup under way.
	if b, ok := q.Steps[1].Action.(*tasks.BackupDatabase); !ok || b.Source != "/plex/library.db" || b.DirIn("/data/Backups") != "/data/Backups/plex" || q.Steps[1].Label != "/plex/library.db" || !b.SharedDir {
		t.Errorf("second backup step = %#v", q.Steps[1])
	}
	var _ butler.Recoverer = q
	o, ok := catalogTask(t, c, butler.TaskOptimizeDatabase).Action.(*tasks.Sequence)
	if !ok || len(o.Steps) != 2 || o.Steps[0].Action != pgOptimize {
		t.Fatalf("OptimizeDatabase action = %#v", catalogTask(t, c, butler.TaskOptimizeDatabase).Action)
	}
	if op, ok := o.Steps[1].Action.(*tasks.OptimizeDatabase); !ok || op.Path != "/plex/library.db" {
		t.Errorf("second optimize step = %#v", o.Steps[1])
	}
}

// TestCatalogLibraryDefaults checks the library tasks without a config
// file: bound, to actions on the wiring's index (a never-set link
// when it has none), with no library and the media defaults; the enable
// defaults stay the catalog's (RefreshLibraries off, as on a Plex server).
func TestCatalogLibraryDefaults(t *testing.T) {
	f, err := parseTest(t, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildCatalog(f, butler.DefaultCatalog(), testWiring())
	if err != nil {
		t.Fatal(err)
	}
	refresh, ok := catalogTask(t, c, butler.TaskRefreshLibraries).Action.(*tasks.RefreshLibraries)
	if !ok || len(refresh.Libraries) != 0 {
		t.Fatalf("RefreshLibraries action = %#v, want one with no library", catalogTask(t, c, butler.TaskRefreshLibraries).Action)
	}
	link, ok := refresh.Index.(*mediaIndexLink)
	if !ok {
		t.Fatalf("RefreshLibraries index = %T, want a *mediaIndexLink", refresh.Index)
	}
	if _, err := link.LibraryCounts(t.Context()); butler.ErrorCode(err) != butler.EUNAVAILABLE {
		t.Errorf("the never-set link answers %v, want EUNAVAILABLE", err)
	}
	deep, ok := catalogTask(t, c, butler.TaskDeepMediaAnalysis).Action.(*tasks.DeepMediaAnalysis)
	if !ok {
		t.Fatalf("DeepMediaAnalysis action = %#v", catalogTask(t, c, butler.TaskDeepMediaAnalysis).Action)
	}
	upgrade, ok := catalogTask(t, c, butler.TaskUpgradeMediaAnalysis).Action.(*tasks.UpgradeMediaAnalysis)
	if !ok {
		t.Fatalf("UpgradeMediaAnalysis action = %#v", catalogTask(t, c, butler.TaskUpgradeMediaAnalysis).Action)
	}
	gc, ok := catalogTask(t, c, butler.TaskGarbageCollectLibraryMedia).Action.(*tasks.GarbageCollectLibraryMedia)
	if !ok {
		t.Fatalf("GarbageCollectLibraryMedia action = %#v", catalogTask(t, c, butler.TaskGarbageCollectLibraryMedia).Action)
	}
	if deep.Index != refresh.Index || upgrade.Index != refresh.Index || gc.Index != refresh.Index {
		t.Error("the library tasks do not share one index")
	}
	for name, a := range map[string]*tasks.DeepMediaAnalysis{"DeepMediaAnalysis": deep, "UpgradeMediaAnalysis": (*tasks.DeepMediaAnalysis)(upgrade)} {
		p := a.Prober
		if p == nil || p.FFprobe != "ffprobe" || p.Nice != 10 || p.IOClass != "best-effort" || p.Timeout != time.Minute {
			t.Errorf("%s prober = %+v, want ffprobe from PATH at nice 10, best-effort, 1m", name, p)
		}
		if a.Parallel != config.DefaultParallel() {
			t.Errorf("%s parallel = %d, want %d", name, a.Parallel, config.DefaultParallel())
		}
	}
	if gc.Grace != 7*24*time.Hour {
		t.Errorf("GarbageCollectLibraryMedia grace = %v, want 7 days", gc.Grace)
	}
	local, ok := catalogTask(t, c, butler.TaskRefreshLocalMedia).Action.(*tasks.RefreshLocalMedia)
	if !ok || local.Index != refresh.Index || len(local.Libraries) != 0 {
		t.Errorf("RefreshLocalMedia action = %#v, want one on the shared index with no library", catalogTask(t, c, butler.TaskRefreshLocalMedia).Action)
	}
	bundlesRoot, _ := filepath.Abs(filepath.Join(testWiring().DataDir, "Media"))
	bundles, ok := catalogTask(t, c, butler.TaskCleanOldBundles).Action.(*tasks.CleanOldBundles)
	if !ok || bundles.Index != refresh.Index || bundles.Root != bundlesRoot || bundles.Grace != gc.Grace {
		t.Errorf("CleanOldBundles action = %#v, want one on the shared index, under %s, with the library's grace", catalogTask(t, c, butler.TaskCleanOldBundles).Action, bundlesRoot)
	}
	if blobs, ok := catalogTask(t, c, butler.TaskGarbageCollectBlobs).Action.(*tasks.GarbageCollectBlobs); !ok || blobs.Root != bundlesRoot {
		t.Errorf("GarbageCollectBlobs action = %#v, want one under %s", catalogTask(t, c, butler.TaskGarbageCollectBlobs).Action, bundlesRoot)
	}
	for _, want := range []struct {
		name    butler.TaskName
		enabled bool
	}{
		{butler.TaskRefreshLibraries, false}, {butler.TaskDeepMediaAnalysis, true},
		{butler.TaskUpgradeMediaAnalysis, true}, {butler.TaskGarbageCollectLibraryMedia, true},
	} {
		if got := catalogTask(t, c, want.name).EnabledDefault; got != want.enabled {
			t.Errorf("%s enabled by default = %v, want %v", want.name, got, want.enabled)
		}
	}
}

// TestCatalogLibraries checks that the file's libraries and media keys
// reach the actions, and the wiring's index with them.
func TestCatalogLibraries(t *testing.T) {
	f, err := parseTest(t, `
libraries:
  - {name: Movies, kind: movies, folders: [/srv/movies, /mnt/films]}
  - {name: Music, kind: music, folders: [/srv/music]}
media:
  ffprobe: /opt/ffmpeg/ffprobe
  nice: 0
  io_class: idle
  timeout: 2m
  parallel: 3
  grace_days: 0
`)
	if err != nil {
		t.Fatal(err)
	}
	w := testWiring()
	index := &mediaIndexLink{}
	w.Index = index
	c, err := buildCatalog(f, butler.DefaultCatalog(), w)
	if err != nil {
		t.Fatal(err)
	}
	refresh := catalogTask(t, c, butler.TaskRefreshLibraries).Action.(*tasks.RefreshLibraries)
	want := []butler.Library{
		{Name: "Movies", Kind: butler.LibraryMovies, Folders: []string{"/srv/movies", "/mnt/films"}},
		{Name: "Music", Kind: butler.LibraryMusic, Folders: []string{"/srv/music"}},
	}
	if !reflect.DeepEqual(refresh.Libraries, want) || refresh.Index != index {
		t.Errorf("RefreshLibraries = %+v, want the libraries %+v on the wiring's index", refresh, want)
	}
	deep := catalogTask(t, c, butler.TaskDeepMediaAnalysis).Action.(*tasks.DeepMediaAnalysis)
	upgrade := catalogTask(t, c, butler.TaskUpgradeMediaAnalysis).Action.(*tasks.UpgradeMediaAnalysis)
	for name, a := range map[string]*tasks.DeepMediaAnalysis{"DeepMediaAnalysis": deep, "UpgradeMediaAnalysis": (*tasks.DeepMediaAnalysis)(upgrade)} {
		p := a.Prober
		// nice: 0 is Butler's own priority, which mediaprobe spells -1.
		if p.FFprobe != "/opt/ffmpeg/ffprobe" || p.Nice != -1 || p.IOClass != "idle" || p.Timeout != 2*time.Minute || a.Parallel != 3 || a.Index != index {
			t.Errorf("%s = %+v, prober %+v", name, a, p)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s prober does not validate: %v", name, err)
		}
	}
	// grace_days: 0 must not read as the action's default of 7 days.
	if gc := catalogTask(t, c, butler.TaskGarbageCollectLibraryMedia).Action.(*tasks.GarbageCollectLibraryMedia); gc.Grace <= 0 || gc.Grace > time.Second {
		t.Errorf("GarbageCollectLibraryMedia grace = %v, want next to nothing for grace_days: 0", gc.Grace)
	}
}

// TestCatalogLibraryTaskReplaced: a task of the file that names a library
// task replaces its action, as for any built-in one.
func TestCatalogLibraryTaskReplaced(t *testing.T) {
	f, err := parseTest(t, "libraries:\n  - {name: M, kind: movies, folders: [/m]}\ntasks:\n  DeepMediaAnalysis:\n    exec: {argv: [/usr/local/bin/analyse]}\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildCatalog(f, butler.DefaultCatalog(), testWiring())
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := catalogTask(t, c, butler.TaskDeepMediaAnalysis).Action.(*tasks.Exec); !ok || e.Argv[0] != "/usr/local/bin/analyse" {
		t.Errorf("DeepMediaAnalysis action = %#v, want the program", catalogTask(t, c, butler.TaskDeepMediaAnalysis).Action)
	}
	if _, ok := catalogTask(t, c, butler.TaskRefreshLibraries).Action.(*tasks.RefreshLibraries); !ok {
		t.Errorf("RefreshLibraries action = %#v, want the built-in scan", catalogTask(t, c, butler.TaskRefreshLibraries).Action)
	}
}

// requireFFmpeg skips the test without ffmpeg and ffprobe, unless
// BUTLER_TEST_REQUIRE_FFMPEG is set (as CI does).
func requireFFmpeg(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("BUTLER_TEST_REQUIRE_FFMPEG") != "" {
				t.Fatalf("%s not found and BUTLER_TEST_REQUIRE_FFMPEG is set: %v", p, err)
			}
			t.Skipf("%s not found (apt-get install ffmpeg): %v", p, err)
		}
	}
}

// startWait runs `butler start TASK --now --wait` against the server and
// returns its exit code and output; the test fails when the code is not
// wantCode or the output has no line "TASK <outcome> in ...: <want...>".
func startWait(t *testing.T, env map[string]string, task string, wantCode int, want string) string {
	t.Helper()
	code, out, stderr := runCmd(t, env, "start", task, "--now", "--wait")
	if code != wantCode {
		t.Fatalf("start %s --wait: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", task, code, wantCode, out, stderr)
	}
	re := regexp.MustCompile(`(?m)^` + task + ` \w+ in \S+ \(run \d+\): .*` + regexp.QuoteMeta(want))
	if !re.MatchString(out) {
		t.Errorf("start %s --wait printed:\n%s\nwant a line ending with %q", task, out, want)
	}
	return out
}

// TestServeLibraryTasks runs the four library tasks through a real server
// on SQLite, started with a config file whose library has one folder of
// real media (made by ffmpeg) and one folder not there yet: the server
// warns of it at start and offers the four tasks; a scan counts the files
// and fails naming the missing folder, succeeds once it is there; the
// analysis runs the real ffprobe (one file is not media); a file removed
// is marked gone, then garbage collected (grace_days: 0). The index in the
// database shows the result.
func TestServeLibraryTasks(t *testing.T) {
	requireFFmpeg(t)
	tmp := t.TempDir()
	movies := filepath.Join(tmp, "movies")
	filmA := filepath.Join(movies, "Film A (2020)", "Film A (2020).mkv")
	filmB := filepath.Join(movies, "Film B.mkv")
	broken := filepath.Join(movies, "broken.mkv")
	if err := os.MkdirAll(filepath.Dir(filmA), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10",
		"-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", filmA)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filmA)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filmB, string(raw), 0o644)
	writeFile(t, broken, "not a film\n", 0o644)
	writeFile(t, filepath.Join(movies, "notes.txt"), "not media at all\n", 0o644)
	later := filepath.Join(tmp, "usb", "films") // mounted later
	cfgPath := filepath.Join(tmp, "butler.yaml")
	writeFile(t, cfgPath, `libraries:
  - name: Movies
    kind: movies
    folders: [`+movies+`, `+later+`]
media:
  parallel: 2
  nice: 19
  io_class: idle
  grace_days: 0
`, 0o600)

	dataDir := newDataDir(t)
	const token = "library-test-token"
	srv := startInProc(t, map[string]string{"BUTLER_TOKEN": token}, "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--config", cfgPath)
	mustContain(t, "serve's log", srv.stderr.String(), cfgPath+":4: libraries[0].folders[1]: library Movies: folder "+later+
		" does not exist on this server (a disk not mounted?); RefreshLibraries will fail on it, leaving its items as they are. In a cluster every node must have it at this same path")
	env := map[string]string{"BUTLER_URL": srv.addr, "BUTLER_TOKEN": token}
	code, out, stderr := runCmd(t, env, "tasks")
	if code != 0 {
		t.Fatalf("tasks: exit code %d\n%s", code, stderr)
	}
	for _, name := range []string{"RefreshLibraries", "DeepMediaAnalysis", "UpgradeMediaAnalysis", "GarbageCollectLibraryMedia"} {
		mustContain(t, "tasks", out, name)
	}

	out = startWait(t, env, "RefreshLibraries", 1, "1 problem")
	mustContain(t, "the failed scan", out, later)
	if err := os.MkdirAll(later, 0o755); err != nil {
		t.Fatal(err)
	}
	startWait(t, env, "RefreshLibraries", 0, "Movies: 3 files: 0 added, 0 changed, 0 back, 0 gone, 3 unchanged")
	startWait(t, env, "DeepMediaAnalysis", 0, "analysed 2 items, 1 failed, 0 skipped; the first failure: analyse "+broken)
	startWait(t, env, "UpgradeMediaAnalysis", 0, "no older analysis version to upgrade from")
	if err := os.Remove(filmB); err != nil {
		t.Fatal(err)
	}
	startWait(t, env, "RefreshLibraries", 0, "Movies: 2 files: 0 added, 0 changed, 0 back, 1 gone, 2 unchanged")
	startWait(t, env, "GarbageCollectLibraryMedia", 0, "removed 1 item gone (no grace period)")
	// The media outputs of the one film left (the broken file has no
	// analysis: nothing is made for it).
	startWait(t, env, "LoudnessAnalysis", 0, "measured 1 item, 0 failed, 0 skipped")
	startWait(t, env, "GenerateMediaIndexFiles", 0, "made the index files of 1 item, 0 failed, 0 skipped")
	startWait(t, env, "GenerateChapterThumbs", 0, "made the chapter pictures of 1 item, 0 failed, 0 skipped")
	if code := srv.stop(t); code != 0 {
		t.Fatalf("serve exited %d; stderr:\n%s", code, srv.stderr)
	}

	// The index, read from the database the server wrote.
	db, err := sqlite.Open(t.Context(), filepath.Join(dataDir, "butler.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	items, err := db.MediaItems(t.Context(), butler.MediaItemFilter{Library: "Movies"})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Path != filmA || items[1].Path != broken {
		t.Fatalf("index items = %+v, want %s and %s (Film B collected)", items, filmA, broken)
	}
	a, version, err := db.MediaAnalysis(t.Context(), items[0].ID)
	if err != nil || version != mediaprobe.Version || !strings.Contains(a.Container, "matroska") || len(a.Streams) != 2 {
		t.Errorf("analysis of %s = %+v, version %d, %v; want ffprobe's, with a video and an audio stream", filmA, a, version, err)
	}
	if it := items[1]; it.AnalysisVersion != 0 || it.AnalysisFailures != 1 || it.AnalysisError == "" {
		t.Errorf("%s = %+v, want one failed analysis with its reason", broken, it)
	}
	// The film's BIF, in its bundle under the data directory, as a player
	// reads it: one picture for its one second.
	data, err := os.ReadFile(filepath.Join(dataDir, "Media", butler.BundleDir(items[0].ID), "index-files", "320-10.bif"))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := bif.Verify(data, 1); err != nil {
		t.Errorf("the film's BIF: %+v, %v", f, err)
	}
	outs, err := db.MediaOutputs(t.Context(), items[0].ID)
	if err != nil || len(outs) != 3 {
		t.Fatalf("the film's outputs: %+v, %v; want index files, chapter pictures (none: no chapters) and loudness", outs, err)
	}
}

// TestServeLibraryTasksWithoutLibraries runs the library and media output
// tasks on a server without a config file: each is offered, and each run finishes at
// once saying why there is nothing to do.
func TestServeLibraryTasksWithoutLibraries(t *testing.T) {
	dataDir := newDataDir(t)
	const token = "library-test-token"
	srv := startInProc(t, map[string]string{"BUTLER_TOKEN": token}, "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	env := map[string]string{"BUTLER_URL": srv.addr, "BUTLER_TOKEN": token}
	startWait(t, env, "RefreshLibraries", 0, "no library configured")
	startWait(t, env, "DeepMediaAnalysis", 0, "the media index is empty: no library scanned yet")
	startWait(t, env, "UpgradeMediaAnalysis", 0, "no older analysis version to upgrade from")
	startWait(t, env, "GarbageCollectLibraryMedia", 0, "removed 0 items gone for more than 7 days")
	startWait(t, env, "RefreshLocalMedia", 0, "no library configured")
	startWait(t, env, "CleanOldBundles", 0, "no bundles yet ("+filepath.Join(dataDir, "Media")+" does not exist)")
	startWait(t, env, "GarbageCollectBlobs", 0, "no bundles yet ("+filepath.Join(dataDir, "Media")+" does not exist)")
	for _, task := range []string{"LoudnessAnalysis", "GenerateMediaIndexFiles", "GenerateChapterThumbs", "GenerateBlurHashes"} {
		startWait(t, env, task, 0, "nothing to do: every analysed item has its ")
	}
	startWait(t, env, "ButlerTaskGenerateIntroMarkers", 0, "nothing to do: intro-markers is made in shows libraries only, and there is none")
	startWait(t, env, "ButlerTaskGenerateCreditsMarkers", 0, "nothing to do: credits-markers is made in shows libraries only, and there is none")

	// GET /butler lists what the server offers out of the box: every task
	// with real work (the seed's own example, CleanOldBundles, among them).
	resp, body := do(t, http.MethodGet, srv.url("/butler"), token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /butler: %d %s", resp.StatusCode, body)
	}
	var listed []string
	for _, m := range regexp.MustCompile(`<ButlerTask [^>]*name="([A-Za-z]+)"`).FindAllStringSubmatch(body, -1) {
		listed = append(listed, m[1])
	}
	slices.Sort(listed)
	want := []string{"BackupDatabase", "ButlerTaskGenerateCreditsMarkers", "ButlerTaskGenerateIntroMarkers", "CleanOldBundles", "CleanOldCacheFiles", "DeepMediaAnalysis", "GarbageCollectBlobs",
		"GarbageCollectLibraryMedia", "GenerateBlurHashes", "GenerateChapterThumbs", "GenerateMediaIndexFiles", "LoudnessAnalysis", "OptimizeDatabase",
		"RefreshLibraries", "RefreshLocalMedia", "UpgradeMediaAnalysis"}
	if !slices.Equal(listed, want) {
		t.Errorf("GET /butler out of the box lists %v; want %v", listed, want)
	}
}
