package mediascan

import (
	"path/filepath"
	"strings"

	"github.com/plexbutler/butler"
)

// The file name extensions (lower case, with the dot) of each kind of
// media: the containers that ffprobe reads and that Plex, Jellyfin and
// Emby list in their libraries.
var (
	videoExts = set(".3g2", ".3gp", ".asf", ".avi", ".divx", ".flv", ".m2t", ".m2ts", ".m2v", ".m4v",
		".mkv", ".mk3d", ".mov", ".mp4", ".mpeg", ".mpg", ".mts", ".mxf", ".ogm", ".ogv", ".rm",
		".rmvb", ".ts", ".vob", ".webm", ".wmv", ".wtv")
	audioExts = set(".aac", ".ac3", ".aif", ".aifc", ".aiff", ".alac", ".ape", ".dff", ".dsf", ".dts",
		".eac3", ".flac", ".m4a", ".m4b", ".mka", ".mp2", ".mp3", ".mpc", ".oga", ".ogg", ".opus",
		".tta", ".wav", ".wma", ".wv")
	photoExts = set(".arw", ".bmp", ".cr2", ".cr3", ".dng", ".gif", ".heic", ".heif", ".jpeg", ".jpg",
		".nef", ".orf", ".png", ".raf", ".rw2", ".tif", ".tiff", ".webp")
)

func set(exts ...string) map[string]bool {
	m := make(map[string]bool, len(exts))
	for _, e := range exts {
		m[e] = true
	}
	return m
}

// Kind returns what the file named name is in a library of kind lib, by
// its extension (in any case), and false when it is not media there:
// movies and shows hold video files, music audio files, and photos images
// and video files (home videos), as a Plex server's libraries do.
func Kind(lib butler.LibraryKind, name string) (butler.MediaKind, bool) {
	ext := strings.ToLower(filepath.Ext(name))
	switch lib {
	case butler.LibraryMovies, butler.LibraryShows:
		if videoExts[ext] {
			return butler.MediaVideo, true
		}
	case butler.LibraryMusic:
		if audioExts[ext] {
			return butler.MediaAudio, true
		}
	case butler.LibraryPhotos:
		if photoExts[ext] {
			return butler.MediaPhoto, true
		}
		if videoExts[ext] {
			return butler.MediaVideo, true
		}
	}
	return "", false
}

// skippedDirs are directories that hold no media: file systems' and NAS
// systems' own (Synology's thumbnails, recycle bins).
var skippedDirs = set("@eadir", "#recycle", "#snapshot", "$recycle.bin", "lost+found", "system volume information")

// skipped reports whether the scan leaves the entry name alone: hidden
// entries (a leading dot, as macOS's "._" files) and skippedDirs.
func skipped(name string, dir bool) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	return dir && skippedDirs[strings.ToLower(name)]
}
