package mediascan

import (
	"path/filepath"
	"strings"

	"github.com/plexbutler/butler"
)

// isVideo, isAudio and isPhoto know the file name extensions (lower case,
// with the dot) of each kind of media: the containers that ffprobe reads
// and that Plex, Jellyfin and Emby list in their libraries.
func isVideo(ext string) bool {
	switch ext {
	case ".3g2", ".3gp", ".asf", ".avi", ".divx", ".flv", ".m2t", ".m2ts", ".m2v", ".m4v",
		".mkv", ".mk3d", ".mov", ".mp4", ".mpeg", ".mpg", ".mts", ".mxf", ".ogm", ".ogv", ".rm",
		".rmvb", ".ts", ".vob", ".webm", ".wmv", ".wtv":
		return true
	}
	return false
}

func isAudio(ext string) bool {
	switch ext {
	case ".aac", ".ac3", ".aif", ".aifc", ".aiff", ".alac", ".ape", ".dff", ".dsf", ".dts",
		".eac3", ".flac", ".m4a", ".m4b", ".mka", ".mp2", ".mp3", ".mpc", ".oga", ".ogg", ".opus",
		".tta", ".wav", ".wma", ".wv":
		return true
	}
	return false
}

func isPhoto(ext string) bool {
	switch ext {
	case ".arw", ".bmp", ".cr2", ".cr3", ".dng", ".gif", ".heic", ".heif", ".jpeg", ".jpg",
		".nef", ".orf", ".png", ".raf", ".rw2", ".tif", ".tiff", ".webp":
		return true
	}
	return false
}

// Kind returns what the file named name is in a library of kind lib, by
// its extension (in any case), and false when it is not media there:
// movies and shows hold video files, music audio files, and photos images
// and video files (home videos), as a Plex server's libraries do.
func Kind(lib butler.LibraryKind, name string) (butler.MediaKind, bool) {
	ext := strings.ToLower(filepath.Ext(name))
	switch lib {
	case butler.LibraryMovies, butler.LibraryShows:
		if isVideo(ext) {
			return butler.MediaVideo, true
		}
	case butler.LibraryMusic:
		if isAudio(ext) {
			return butler.MediaAudio, true
		}
	case butler.LibraryPhotos:
		if isPhoto(ext) {
			return butler.MediaPhoto, true
		}
		if isVideo(ext) {
			return butler.MediaVideo, true
		}
	}
	return "", false
}

// skipped reports whether the scan leaves the entry name alone: hidden
// entries (a leading dot, as macOS's "._" files) and the directories of
// file systems and NAS systems.
func skipped(name string, dir bool) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	if !dir {
		return false
	}
	// File systems' and NAS systems' own directories (Synology's
	// thumbnails, recycle bins) hold no media.
	switch strings.ToLower(name) {
	case "@eadir", "#recycle", "#snapshot", "$recycle.bin", "lost+found", "system volume information":
		return true
	}
	return false
}
