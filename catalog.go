package butler

import (
	"strings"
	"time"
)

// DefaultCatalog returns the catalog of every task name the Butler knows, in
// the order GET /butler lists them, with intervals, randomization, titles,
// descriptions and enable settings. Entries have no Action: the server binds
// actions to the tasks it can really do, and offers only those.
//
// Intervals and setting defaults follow real servers where they are known;
// the rest are decisions recorded in docs/tasks.md.
func DefaultCatalog() []Task {
	type row struct {
		name       TaskName
		interval   int
		randomized bool
		enabled    bool
		title      string
		desc       string
		label      string
	}
	rows := []row{
		{TaskBackupDatabase, 3, false, true, "Backup Database",
			"Create a backup copy of the server's database in the configured backup directory",
			"Backup database every three days"},
		{TaskOptimizeDatabase, 7, false, true, "Optimize Database",
			"Optimize the server's database: check it, update the query planner's statistics and reclaim unused space",
			"Optimize database every week"},
		{TaskCleanOldBundles, 7, false, true, "Clean Old Bundles",
			"Remove old bundles and the media files that no longer belong to any library item",
			"Remove old bundles every week"},
		{TaskCleanOldCacheFiles, 7, false, true, "Clean Old Cache Files",
			"Remove cache files older than seven days",
			"Remove old cache files every week"},
		{TaskRefreshLocalMedia, 3, true, true, "Refresh Local Media",
			"Refresh local metadata of the libraries",
			"Refresh local metadata every three days"},
		{TaskRefreshLibraries, 1, true, false, "Refresh Libraries",
			"Scan every library for new, changed and removed media",
			"Update all libraries during maintenance"},
		{TaskUpgradeMediaAnalysis, 1, true, true, "Upgrade Media Analysis",
			"Upgrade the analysis of media analysed by older versions",
			"Upgrade media analysis during maintenance"},
		{TaskDeepMediaAnalysis, 1, true, true, "Deep Media Analysis",
			"Perform extensive media analysis of new media",
			"Perform extensive media analysis during maintenance"},
		{TaskRefreshPeriodicMetadata, 1, true, true, "Refresh Periodic Metadata",
			"Refresh the library metadata that changes over time",
			"Refresh library metadata periodically"},
		{TaskGarbageCollectBlobs, 7, false, true, "Garbage Collect Blobs",
			"Remove blobs that nothing refers to any more",
			"Perform cleanup on blobs database"},
		{TaskGarbageCollectLibraryMedia, 7, false, true, "Garbage Collect Library Media",
			"Remove media files of deleted library items",
			"Clean up library media of deleted items"},
		{TaskRefreshEpgGuides, 1, true, true, "Refresh EPG Guides",
			"Refresh program guide data",
			"Perform refresh of program guide data."},
		{TaskReverseGeocode, 7, true, true, "Reverse Geocode",
			"Fetch missing location names for items in photo sections",
			"Fetch missing location names for items in photo sections"},
		{TaskGenerateAutoTags, 7, true, true, "Generate Auto Tags",
			"Analyze and tag photos",
			"Analyze and tag photos"},
		{TaskGenerateMediaIndexFiles, 1, true, false, "Generate Media Index Files",
			"Generate video preview thumbnails",
			"Generate video preview thumbnails"},
		{TaskGenerateChapterThumbs, 1, true, true, "Generate Chapter Thumbs",
			"Generate chapter thumbnails",
			"Generate chapter thumbnails"},
		{TaskLoudnessAnalysis, 1, true, true, "Loudness Analysis",
			"Analyze audio tracks for loudness",
			"Analyze audio tracks for loudness"},
		{TaskMusicAnalysis, 1, true, true, "Music Analysis",
			"Analyze audio tracks for sonic features",
			"Analyze audio tracks for sonic features"},
		{TaskButlerTaskGenerateIntroMarkers, 1, true, true, "Generate Intro Markers",
			"Generate intro video markers",
			"Generate intro video markers"},
		{TaskButlerTaskGenerateCreditsMarkers, 1, true, true, "Generate Credits Markers",
			"Generate credits video markers",
			"Generate credits video markers"},
		{TaskButlerTaskGenerateAdMarkers, 1, true, true, "Generate Ad Markers",
			"Generate advertisement markers in recordings",
			"Generate ad markers"},
		{TaskButlerTaskGenerateVoiceActivity, 1, true, true, "Generate Voice Activity",
			"Detect voice activity in audio tracks",
			"Generate voice activity data"},
		{TaskGenerateBlurHashes, 7, true, true, "Generate Blur Hashes",
			"Generate blur hashes of artwork",
			"Generate blur hashes"},
		{TaskBuildGracenoteCollections, 7, true, true, "Build Gracenote Collections",
			"Build collections from Gracenote data",
			"Build Gracenote collections"},
		{TaskCheckForUpdates, 1, false, true, "Check For Updates",
			"Check whether a newer version of the server is available",
			"Check for updates"},
		{TaskAutomaticUpdates, 1, false, true, "Automatic Updates",
			"Check for a newer version of the server and report it",
			"Server version updates"},
	}
	out := make([]Task, 0, len(rows))
	for _, r := range rows {
		out = append(out, Task{
			Name: r.name, Title: r.title, Description: r.desc,
			Interval: r.interval, Randomized: r.randomized,
			EnabledDefault: r.enabled, Setting: EnableSetting(r.name),
			SettingLabel: r.label, TimeLimit: DefaultTimeLimit,
		})
	}
	return out
}

// EnableSetting returns the id of the bool setting that enables the task
// named name, as real servers name them: "ButlerTask" and the name
// ("ButlerTaskBackupDatabase"), the name alone when it starts with
// "ButlerTask" already ("ButlerTaskGenerateIntroMarkers"). It is the one
// rule, for the catalog's tasks and for tasks a config file adds.
func EnableSetting(name TaskName) string {
	const p = "ButlerTask"
	if n := string(name); len(n) > len(p) && strings.HasPrefix(n, p) {
		return n
	}
	return p + string(name)
}

// Bind returns a copy of catalog in which the named task has the action.
// It returns the catalog unchanged when no entry has that name.
func Bind(catalog []Task, name TaskName, a Action, opts ...func(*Task)) []Task {
	out := make([]Task, len(catalog))
	copy(out, catalog)
	for i := range out {
		if out[i].Name == name {
			out[i].Action = a
			for _, o := range opts {
				o(&out[i])
			}
		}
	}
	return out
}

// WithTimeLimit is a Bind option that sets the task's time limit.
func WithTimeLimit(d time.Duration) func(*Task) {
	return func(t *Task) { t.TimeLimit = d }
}
