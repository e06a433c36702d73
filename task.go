package butler

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// TaskName is the wire name of a Butler task, spelled exactly as Plex spells
// it ("BackupDatabase"). Names are case-sensitive. It is the wire type
// apitype.TaskName, which the Go SDK shares.
type TaskName = apitype.TaskName

// The task names of both generations of the Plex Media Server API
// description, 25 in all, plus ReverseGeocode, which real servers have a
// setting for: the constants of package apitype, which holds their one list.
const (
	TaskAutomaticUpdates                 = apitype.TaskAutomaticUpdates
	TaskBackupDatabase                   = apitype.TaskBackupDatabase
	TaskBuildGracenoteCollections        = apitype.TaskBuildGracenoteCollections
	TaskButlerTaskGenerateAdMarkers      = apitype.TaskButlerTaskGenerateAdMarkers
	TaskButlerTaskGenerateCreditsMarkers = apitype.TaskButlerTaskGenerateCreditsMarkers
	TaskButlerTaskGenerateIntroMarkers   = apitype.TaskButlerTaskGenerateIntroMarkers
	TaskButlerTaskGenerateVoiceActivity  = apitype.TaskButlerTaskGenerateVoiceActivity
	TaskCheckForUpdates                  = apitype.TaskCheckForUpdates
	TaskCleanOldBundles                  = apitype.TaskCleanOldBundles
	TaskCleanOldCacheFiles               = apitype.TaskCleanOldCacheFiles
	TaskDeepMediaAnalysis                = apitype.TaskDeepMediaAnalysis
	TaskGarbageCollectBlobs              = apitype.TaskGarbageCollectBlobs
	TaskGarbageCollectLibraryMedia       = apitype.TaskGarbageCollectLibraryMedia
	TaskGenerateAutoTags                 = apitype.TaskGenerateAutoTags
	TaskGenerateBlurHashes               = apitype.TaskGenerateBlurHashes
	TaskGenerateChapterThumbs            = apitype.TaskGenerateChapterThumbs
	TaskGenerateMediaIndexFiles          = apitype.TaskGenerateMediaIndexFiles
	TaskLoudnessAnalysis                 = apitype.TaskLoudnessAnalysis
	TaskMusicAnalysis                    = apitype.TaskMusicAnalysis
	TaskOptimizeDatabase                 = apitype.TaskOptimizeDatabase
	TaskRefreshEpgGuides                 = apitype.TaskRefreshEpgGuides
	TaskRefreshLibraries                 = apitype.TaskRefreshLibraries
	TaskRefreshLocalMedia                = apitype.TaskRefreshLocalMedia
	TaskRefreshPeriodicMetadata          = apitype.TaskRefreshPeriodicMetadata
	TaskReverseGeocode                   = apitype.TaskReverseGeocode
	TaskUpgradeMediaAnalysis             = apitype.TaskUpgradeMediaAnalysis
)

// Reporter is what a running task sees of its run: where to report
// progress, a one-line summary of what it did, its output, and a logger.
// Its methods are safe for concurrent use.
type Reporter interface {
	// Progress sets the run's progress, percent in 0..100 or -1 when unknown,
	// and the step it is on ("copying pages").
	Progress(percent int, step string)
	// Summary records the run's one-line result ("removed 3 files, 12 KiB").
	Summary(text string)
	// Output adds what an action produced to the run's log: the output of
	// a program, the status and body of an HTTP answer. An action that has
	// output calls it once, at its end whatever its outcome, with the
	// output already bounded. Where the action left out bytes of it, text
	// holds a line "[... N bytes omitted ...]" between line breaks that
	// are not the output's, N the number of bytes missing there; the run's
	// log, bounded too, then counts them with the bytes it drops itself.
	Output(text string)
	// Logger returns a logger that tags every line with the task and run.
	Logger() *slog.Logger
}

// NothingYet is the error of an action that found nothing to work on
// because what it works on is not there yet: no library configured, a
// media index no scan has filled. Its run ends succeeded, with the
// action's summary, but is not recorded as the task's success, so the task
// stays due: the next window, or a start of the task that is not forced,
// runs it in full once there is something to work on, instead of finding
// it "not due" until its next day.
type NothingYet struct {
	// Reason says what is missing ("no library configured").
	Reason string
}

// Error returns the reason.
func (e *NothingYet) Error() string { return e.Reason }

// Action is the work a task does. Run must return promptly once ctx is done,
// with ctx's error or an error wrapping it; a nil error means the work is
// complete.
type Action interface {
	Run(ctx context.Context, r Reporter) error
}

// ProcessReporter is implemented by the Reporter of a run: an action that
// starts a process group tells it so as soon as the group exists, before it
// waits for it. ProcessStarted records the group durably, so that if the
// server dies while the group lives, its next start kills what is left
// (see [Reaper]); when it returns an error the action must end the group
// and fail, as nothing would clean up after it. An action that runs
// several programs one after the other tells of each: the group it tells
// of replaces the one before, which must have ended.
type ProcessReporter interface {
	ProcessStarted(p ProcessGroup) error
}

// CompletionReporter is implemented by the Reporter of a run: an action
// whose work ended by itself, in full, as a stop came (a program that had
// exited before it was signalled) calls Completed and returns nil, and the
// run ends succeeded rather than stopped: a run is stopped when its work
// was stopped, not when a stop arrived after the work was done.
type CompletionReporter interface {
	Completed()
}

// OutputStreamer is implemented by the Reporter of a run: an action whose
// output comes while it runs (a program's) writes it to OutputStream as it
// comes, so that the run's log shows it live, instead of calling Output at
// its end; it closes the stream when the output has ended (Close ends the
// last line). The log keeps its bounds (MaxRunLog): past them its middle
// is dropped and counted.
type OutputStreamer interface {
	OutputStream() io.WriteCloser
}

// SettingsReporter is implemented by the Reporter of a run: Settings
// returns the server's settings as they are when the action asks (the
// backup directory is one of them, and can change between runs).
type SettingsReporter interface {
	Settings() Settings
}

// UpdateAnnouncer is implemented by the Reporter of a run: AnnounceUpdate
// tells the server's clients that a newer version is available (the
// notification stream), as CheckForUpdates does when it finds one.
type UpdateAnnouncer interface {
	AnnounceUpdate(u Update)
}

// Graceful is implemented by actions that give their work time to end
// after they are told to stop (a command gets SIGTERM, then SIGKILL after
// its grace). StopGrace is that time; a server shutting down waits for it,
// and a stop waits for the action to return at least that long before it
// counts the action as stuck.
type Graceful interface {
	StopGrace() time.Duration
}

// GroupGuard kills, should this server die without stopping its runs, the
// process groups their actions started (package internal/groupguard,
// which butler serve starts): the kernel's parent-death signal reaches
// only a group's first process, and in a cluster another server takes a
// dead server's tasks over. The Manager tells it of each group an action
// records (ProcessReporter) and forgets the group once the action has
// returned (an exec action returns when its whole group is gone).
//
// In a cluster the Manager also renews the guard's lease after each
// heartbeat it wrote (Renew): a server that is alive but frozen (SIGSTOP,
// a paused container) is counted dead by the others all the same, and the
// guard then kills its groups before another server takes their tasks
// over.
type GroupGuard interface {
	Watch(pgid int)
	Forget(pgid int)
	// Renew lets the watched groups live for d more: unless renewed again
	// within d, the guard kills them, and any group it is told of until
	// the next Renew.
	Renew(d time.Duration)
}

// Reaper ends process groups that a server which died left behind
// (package tasks: GroupReaper). The manager calls it at start, before
// anything runs, for each run of this server that was left running or
// stopping with a recorded process group.
type Reaper interface {
	// Reap ends group p if it is still there and is still the group that
	// was recorded (a process id may have been reused since): SIGTERM to the
	// group, SIGKILL to what is left after grace, and it returns once
	// nothing of the group is alive. found reports whether anything of the
	// group was alive.
	Reap(ctx context.Context, p ProcessGroup, grace time.Duration) (found bool, err error)
}

// ActionFunc adapts a function to the Action interface.
type ActionFunc func(ctx context.Context, r Reporter) error

// Run calls f(ctx, r).
func (f ActionFunc) Run(ctx context.Context, r Reporter) error { return f(ctx, r) }

// Task is one entry of the catalog: what GET /butler lists and what the
// scheduler plans.
type Task struct {
	// Name is the wire name.
	Name TaskName
	// Title and Description are shown to people.
	Title       string
	Description string
	// Interval is how often the task is due, in whole days (at least 1).
	Interval int
	// Randomized tasks start at a random instant inside the window.
	Randomized bool
	// EnabledDefault is the default value of the task's enable setting.
	EnabledDefault bool
	// Setting is the id of the bool setting that enables the task
	// ("ButlerTaskBackupDatabase").
	Setting string
	// SettingLabel is the label of that setting, as real servers word it.
	SettingLabel string
	// TimeLimit bounds one run; past it the run ends timed_out.
	TimeLimit time.Duration
	// StopAtWindowEnd stops a run that belongs to a window when the window
	// closes.
	StopAtWindowEnd bool
	// Action is the work. A catalog entry without an action is not offered.
	Action Action
}

// DefaultTimeLimit is a run's time limit when its task sets none.
const DefaultTimeLimit = 4 * time.Hour
