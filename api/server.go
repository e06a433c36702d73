package api

import (
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/plexbutler/butler/apitype"
)

// rootDirectories are the children of GET /: the parts of the Plex API that
// Butler serves, by their path relative to the root, in a Plex server's
// order (sorted by key).
var rootDirectories = []apitype.Directory{
	{Count: 1, Key: ":/prefs", Title: ":/prefs"},
	{Count: 1, Key: "activities", Title: "activities"},
	{Count: 1, Key: "butler", Title: "butler"},
}

// friendlyName returns the server's name: the FriendlyName setting, or
// Config.FriendlyName while the setting is blank.
func friendlyName(cfg Config) string {
	if n := cfg.Manager.Settings().FriendlyName(); n != "" {
		return n
	}
	return cfg.FriendlyName
}

// handleRoot answers GET /: the server's description, with every attribute
// a Plex server sends there that has a true value for Butler (see
// apitype.Server). Butler is a Plex server that serves no media, is not
// signed in to plex.tv and transcodes nothing, so those flags are 0, the
// lists are empty and the counts 0; eventStream is 1, as Butler serves
// /:/eventsource/notifications. Attributes that would only be made up are
// left out: apiVersion, countryCode, streamingBrainVersion and
// streamingBrainABRVersion.
func handleRoot(cfg Config) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := apitype.Server{
			Size:               len(rootDirectories),
			EventStream:        true,
			FriendlyName:       friendlyName(cfg),
			MachineIdentifier:  cfg.MachineIdentifier,
			MyPlexMappingState: "unknown",
			MyPlexSigninState:  "none",
			Platform:           cfg.Platform,
			PlatformVersion:    cfg.PlatformVersion,
			UpdatedAt:          cfg.UpdatedAt.Unix(),
			Version:            cfg.Version,
			Directory:          rootDirectories,
		}
		encode(w, r, http.StatusOK, apitype.ServerResponse{MediaContainer: c}, c)
	}
}

// handleIdentity answers GET /identity, which needs no token: what a Plex
// server sends there (size 0, claimed 0 as Butler is not claimed to a
// plex.tv account, machineIdentifier, version) and the friendly name.
func handleIdentity(cfg Config) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := apitype.Identity{MachineIdentifier: cfg.MachineIdentifier, Version: cfg.Version, FriendlyName: friendlyName(cfg)}
		encode(w, r, http.StatusOK, apitype.IdentityResponse{MediaContainer: id}, id)
	}
}

// hostPlatform names the host's operating system as a Plex server does in
// platform ("Linux", "MacOSX", "Windows", "FreeBSD"; another system by Go's
// name for it), with its version where it can be read without running a
// command: the kernel release on Linux ("6.8.0-55-generic"), "" elsewhere.
func hostPlatform() (platform, version string) {
	switch runtime.GOOS {
	case "linux":
		platform = "Linux"
		if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
			version = strings.TrimSpace(string(b))
		}
	case "darwin":
		platform = "MacOSX"
	case "windows":
		platform = "Windows"
	case "freebsd":
		platform = "FreeBSD"
	default:
		platform = runtime.GOOS
	}
	return platform, version
}

// executableTime returns when the running executable was last written, as
// the instant the server was installed or updated; the Unix epoch when that
// cannot be read.
func executableTime() time.Time {
	exe, err := os.Executable()
	if err != nil {
		return time.Unix(0, 0)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return time.Unix(0, 0)
	}
	return fi.ModTime()
}
