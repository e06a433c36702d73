package api_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/plexbutler/butler"
)

// Every name of both task lists (the older SDKs' 14 and the newer spec's
// 22), once the server offers it, behaves on the wire as a Plex Media
// Server's task does: listed by GET /butler with its attributes; a start
// answers 200 "started", a second start 202 "already running", a stop 200,
// a second stop 404; names are case-sensitive.
func TestEveryTaskNameOnTheWire(t *testing.T) {
	// The TaskName enum of the older Plex API spec (v0.0.3) and the
	// ButlerTask enum of the newer one (v1.1.1), as the Speakeasy SDKs
	// generated from them carry them.
	older := []butler.TaskName{"BackupDatabase", "BuildGracenoteCollections", "CheckForUpdates", "CleanOldBundles",
		"CleanOldCacheFiles", "DeepMediaAnalysis", "GenerateAutoTags", "GenerateChapterThumbs", "GenerateMediaIndexFiles",
		"OptimizeDatabase", "RefreshLibraries", "RefreshLocalMedia", "RefreshPeriodicMetadata", "UpgradeMediaAnalysis"}
	newer := []butler.TaskName{"AutomaticUpdates", "BackupDatabase", "ButlerTaskGenerateAdMarkers",
		"ButlerTaskGenerateCreditsMarkers", "ButlerTaskGenerateIntroMarkers", "ButlerTaskGenerateVoiceActivity",
		"CleanOldBundles", "CleanOldCacheFiles", "DeepMediaAnalysis", "GarbageCollectBlobs", "GarbageCollectLibraryMedia",
		"GenerateBlurHashes", "GenerateChapterThumbs", "GenerateMediaIndexFiles", "LoudnessAnalysis", "MusicAnalysis",
		"OptimizeDatabase", "RefreshEpgGuides", "RefreshLibraries", "RefreshLocalMedia", "RefreshPeriodicMetadata",
		"UpgradeMediaAnalysis"}
	catalog := butler.DefaultCatalog()
	var names []butler.TaskName
	for _, task := range catalog {
		names = append(names, task.Name)
	}
	for _, n := range append(older, newer...) {
		if !slices.Contains(names, n) {
			t.Errorf("the catalog lacks %s", n)
		}
	}
	s := newServerBinding(t, names...)

	resp, body := s.do(t, req{method: "GET", path: "/butler", header: acceptJSON})
	if resp.StatusCode != 200 {
		t.Fatalf("GET /butler: %d %s", resp.StatusCode, body)
	}
	var list struct {
		ButlerTasks struct {
			ButlerTask []struct {
				Name               string `json:"name"`
				Interval           int    `json:"interval"`
				ScheduleRandomized bool   `json:"scheduleRandomized"`
				Enabled            bool   `json:"enabled"`
				Title              string `json:"title"`
				Description        string `json:"description"`
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /butler: %v in %s", err, body)
	}
	got := list.ButlerTasks.ButlerTask
	if len(got) != len(catalog) {
		t.Fatalf("GET /butler lists %d tasks, want the %d offered", len(got), len(catalog))
	}
	for i, want := range catalog {
		g := got[i]
		// newServerBinding turns CleanOldCacheFiles off in the settings.
		enabled := want.EnabledDefault && want.Name != butler.TaskCleanOldCacheFiles
		if g.Name != string(want.Name) || g.Interval != want.Interval || g.ScheduleRandomized != want.Randomized ||
			g.Enabled != enabled || g.Title != want.Title || g.Description != want.Description {
			t.Errorf("GET /butler task %d: %+v; want %s as the catalog has it", i, g, want.Name)
		}
	}

	for _, name := range names {
		path := "/butler/" + string(name)
		steps := []struct {
			method  string
			status  int
			outcome string
		}{{"POST", 200, "started"}, {"POST", 202, "running"}, {"DELETE", 200, "stopped"}, {"DELETE", 404, ""}}
		for i, st := range steps {
			resp, body := s.do(t, req{method: st.method, path: path})
			if resp.StatusCode != st.status || resp.Header.Get("X-Butler-Outcome") != st.outcome {
				t.Errorf("%s %s (step %d): %d %q %s; want %d %q", st.method, path, i+1, resp.StatusCode,
					resp.Header.Get("X-Butler-Outcome"), body, st.status, st.outcome)
			}
			if i == 0 {
				wait(t, s.actions[name].entered, string(name))
			}
		}
		if err := <-s.actions[name].ended; err == nil {
			t.Errorf("%s: its work ended without being stopped", name)
		}
	}
	for _, path := range []string{"/butler/backupdatabase", "/butler/BACKUPDATABASE", "/butler/BackupDatabase%20"} {
		if resp, body := s.do(t, req{method: "POST", path: path}); resp.StatusCode != 404 {
			t.Errorf("POST %s: %d %s; want 404 (names are case-sensitive)", path, resp.StatusCode, body)
		}
	}
}
