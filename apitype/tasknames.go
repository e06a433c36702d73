package apitype

// TaskName is the wire name of a Butler task, spelled exactly as Plex spells
// it ("BackupDatabase"). Names are case-sensitive. The server (package
// butler) and the Go SDK (package client) use this type under their own
// names.
type TaskName string

// The task names of both generations of the Plex Media Server API
// description, as the SDKs generated from it carry them (such as
// github.com/LukeHagar/plexjs): the 14 of the older (its TaskName enum) and
// the 22 of the newer (its ButlerTask enum), 25 in all, plus ReverseGeocode,
// which real servers have an enable setting for. This is the one list of
// them: packages butler and client name the same constants.
const (
	TaskAutomaticUpdates                 TaskName = "AutomaticUpdates"
	TaskBackupDatabase                   TaskName = "BackupDatabase"
	TaskBuildGracenoteCollections        TaskName = "BuildGracenoteCollections"
	TaskButlerTaskGenerateAdMarkers      TaskName = "ButlerTaskGenerateAdMarkers"
	TaskButlerTaskGenerateCreditsMarkers TaskName = "ButlerTaskGenerateCreditsMarkers"
	TaskButlerTaskGenerateIntroMarkers   TaskName = "ButlerTaskGenerateIntroMarkers"
	TaskButlerTaskGenerateVoiceActivity  TaskName = "ButlerTaskGenerateVoiceActivity"
	TaskCheckForUpdates                  TaskName = "CheckForUpdates"
	TaskCleanOldBundles                  TaskName = "CleanOldBundles"
	TaskCleanOldCacheFiles               TaskName = "CleanOldCacheFiles"
	TaskDeepMediaAnalysis                TaskName = "DeepMediaAnalysis"
	TaskGarbageCollectBlobs              TaskName = "GarbageCollectBlobs"
	TaskGarbageCollectLibraryMedia       TaskName = "GarbageCollectLibraryMedia"
	TaskGenerateAutoTags                 TaskName = "GenerateAutoTags"
	TaskGenerateBlurHashes               TaskName = "GenerateBlurHashes"
	TaskGenerateChapterThumbs            TaskName = "GenerateChapterThumbs"
	TaskGenerateMediaIndexFiles          TaskName = "GenerateMediaIndexFiles"
	TaskLoudnessAnalysis                 TaskName = "LoudnessAnalysis"
	TaskMusicAnalysis                    TaskName = "MusicAnalysis"
	TaskOptimizeDatabase                 TaskName = "OptimizeDatabase"
	TaskRefreshEpgGuides                 TaskName = "RefreshEpgGuides"
	TaskRefreshLibraries                 TaskName = "RefreshLibraries"
	TaskRefreshLocalMedia                TaskName = "RefreshLocalMedia"
	TaskRefreshPeriodicMetadata          TaskName = "RefreshPeriodicMetadata"
	TaskReverseGeocode                   TaskName = "ReverseGeocode"
	TaskUpgradeMediaAnalysis             TaskName = "UpgradeMediaAnalysis"
)

// TaskNames returns every named task, in alphabetical order.
func TaskNames() []TaskName {
	return []TaskName{
		TaskAutomaticUpdates, TaskBackupDatabase, TaskBuildGracenoteCollections, TaskButlerTaskGenerateAdMarkers, TaskButlerTaskGenerateCreditsMarkers, TaskButlerTaskGenerateIntroMarkers, TaskButlerTaskGenerateVoiceActivity, TaskCheckForUpdates, TaskCleanOldBundles, TaskCleanOldCacheFiles, TaskDeepMediaAnalysis, TaskGarbageCollectBlobs, TaskGarbageCollectLibraryMedia, TaskGenerateAutoTags, TaskGenerateBlurHashes, TaskGenerateChapterThumbs, TaskGenerateMediaIndexFiles, TaskLoudnessAnalysis, TaskMusicAnalysis, TaskOptimizeDatabase, TaskRefreshEpgGuides, TaskRefreshLibraries, TaskRefreshLocalMedia, TaskRefreshPeriodicMetadata, TaskReverseGeocode, TaskUpgradeMediaAnalysis,
	}
}
